"""The `/` filter line: an Input that opens on demand, applies on enter and
closes on escape, leaving the filter applied.

It knows its table's filter language (a ``FilterSpec``): Textual's
validator checks the text as it is typed and the line above the box says
what is wrong (``no state 'failed' — did you mean FAILURE?``); Enter on a
text that does not parse keeps the box open and the current filter on, so
a typo never shows an empty table as if nothing matched. Textual's
suggester completes field names and closed values (→ accepts)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.suggester import Suggester
from textual.validation import ValidationResult, Validator
from textual.widgets import Input, Label

from ...core.filters import FilterError, FilterSpec
from ..format import literal
from .safe_input import SafeInput

log = logging.getLogger(__name__)


Extra = Callable[[], Mapping[str, Iterable[str]]]


class SpecValidator(Validator):
    def __init__(self, spec: FilterSpec, extra: Extra | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.extra = extra

    def validate(self, value: str) -> ValidationResult:
        try:
            self.spec.parse(value, self.extra() if self.extra else None)
        except FilterError as exc:
            return self.failure(str(exc))
        except Exception:  # our bug: said, logged, never the app's end
            log.exception("internal error reading the filter %r", value)
            return self.failure("cannot read filter (internal error, see the log)")
        return self.success()


class SpecSuggester(Suggester):
    """Completes the word being typed: a field name, or a value of a
    closed field (``state:fa`` → ``state:failure``)."""

    def __init__(self, spec: FilterSpec) -> None:
        # Not cached: the completion depends on the whole text, and costs
        # a few comparisons.
        super().__init__(use_cache=False, case_sensitive=True)
        self.spec = spec

    async def get_suggestion(self, value: str) -> str | None:
        return self.spec.complete(value)


class FilterBox(Vertical):
    """The filter line and, above it, what the filter understands or what is
    wrong with it. Docked above the status line; shown while editing."""

    DEFAULT_CSS = """
    FilterBox { dock: bottom; display: none; height: auto; margin-bottom: 2; }
    FilterBox.editing { display: block; }
    FilterBox > .filter-help { height: 1; padding: 0 1; color: $text-muted;
        background: $panel; }
    FilterBox > .filter-help.error { color: $text-error; text-style: bold; }
    FilterBox > FilterBar, FilterBox > FilterBar:focus,
    FilterBox > FilterBar.-invalid, FilterBox > FilterBar.-invalid:focus {
        height: 1; border: none; padding: 0 1; }
    FilterBox > FilterBar.-invalid { color: $text-error; }
    """

    def __init__(self, spec: FilterSpec, placeholder: str, id: str | None = None,
                 extra: Extra | None = None) -> None:
        super().__init__(id=f"{id}-box" if id else None)
        self.spec = spec
        self._placeholder = placeholder
        self._bar_id = id
        self._extra = extra

    def compose(self):
        yield Label(self.help_text(), classes="filter-help")
        yield FilterBar(self.spec, placeholder=self._placeholder, id=self._bar_id,
                        extra=self._extra)

    def help_text(self) -> str:
        return f"fields: {self.spec.describe()}  → completes  enter applies  escape cancels"

    def show_error(self, error: str | None) -> None:
        label = self.query_one(".filter-help", Label)
        label.set_class(bool(error), "error")
        label.update(literal(error) if error else self.help_text())


class FilterBar(SafeInput):
    BINDINGS = [Binding("escape", "close", "Cancel", show=False)]

    class Applied(Message):
        def __init__(self, bar: FilterBar, text: str) -> None:
            super().__init__()
            self.bar = bar
            self.text = text

    def __init__(self, spec: FilterSpec, placeholder: str = "", id: str | None = None,
                 extra: Extra | None = None) -> None:
        super().__init__(placeholder=placeholder, id=id, suggester=SpecSuggester(spec),
                         validators=[SpecValidator(spec, extra)],
                         validate_on=["changed", "submitted"])
        self.spec = spec
        # Focusable only while open: a hidden box must never take the keys
        # (a screen's first focus, or tab, would land in it).
        self.can_focus = False

    @property
    def box(self) -> FilterBox:
        parent = self.parent
        assert isinstance(parent, FilterBox)
        return parent

    def open(self, current: str) -> None:
        self.value = current
        self.can_focus = True
        self.box.add_class("editing")
        self.box.show_error(None)
        # Focused now, not after a refresh (``focus()`` is deferred): keys
        # typed right after `/` — a fast typist, a paste — are already
        # queued behind it and must land here, not on the screen's keys.
        self.screen.set_focus(self)

    @property
    def editing(self) -> bool:
        return self.box.has_class("editing")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        result = event.validation_result
        if result is None or result.is_valid:
            self.box.show_error(None)
        elif self.spec.complete(event.value) is not None:
            # A word being typed towards a valid one (`state:fa`): the
            # suggestion shows where it goes; no error yet.
            self.box.show_error(None)
        else:
            self.box.show_error("; ".join(result.failure_descriptions))

    def _close(self) -> None:
        self.box.remove_class("editing")
        self.can_focus = False
        self.screen.focus_next()

    def action_close(self) -> None:
        self._close()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        result = event.validation_result
        if result is not None and not result.is_valid:
            # Stays open on the text: the operator corrects it or escapes;
            # the filter in force does not change.
            self.box.show_error("not applied: " + "; ".join(result.failure_descriptions))
            return
        self.post_message(self.Applied(self, event.value))
        self._close()
