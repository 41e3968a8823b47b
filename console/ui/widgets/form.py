"""The dialog every remote-control action goes through.

It lists every target, takes the action's inputs, and checks them with the
same validation core uses before anything is sent: a bad value shows its
message in the dialog, which stays open. Destructive actions (revoke,
terminate, pool restart, shutdown) open with focus on Cancel and a red
frame; the others open on their first field, since they are typed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from ...core.actions import InvalidInput
from ..format import literal, literal_block, one_line
from .safe_input import SafeInput
from .confirm import DIALOG_SCROLL_BINDINGS, DialogBody, targets_text


@dataclass
class Field:
    key: str
    label: str
    value: str = ""
    placeholder: str = ""
    # (shown, value) pairs: a Select instead of a typed Input.
    choices: list[tuple[str, str]] | None = None
    # A yes/no option, shown as a Checkbox.
    flag: bool = False
    checked: bool = False
    # Completions offered while typing (e.g. the queues the console knows).
    suggestions: list[str] | None = None


class FormDialog(ModalScreen["dict[str, Any] | None"]):
    """Dismisses with the validated arguments, or ``None`` on cancel."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), *DIALOG_SCROLL_BINDINGS]
    DEFAULT_CSS = """
    FormDialog { align: center middle; background: $background 60%; }
    FormDialog > Vertical { width: 100; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1; }
    FormDialog.destructive > Vertical { border: thick $error; }
    FormDialog #form-title { text-style: bold; padding: 0 0 1 0; }
    FormDialog.destructive #form-title { color: $error; }
    FormDialog #form-list { height: auto; }
    FormDialog #form-note { color: $warning; height: auto; }
    FormDialog .form-row { height: auto; margin: 1 0 0 0; }
    FormDialog .form-row Label { width: 18; padding: 0 1 0 0; }
    FormDialog .form-row Input, FormDialog .form-row Select { width: 1fr; }
    FormDialog #form-error { color: $error; text-style: bold; height: auto; }
    FormDialog #form-buttons { height: auto; align: right middle; margin: 1 0 0 0; }
    FormDialog Button { margin: 0 0 0 2; }
    """

    def __init__(self, title: str | Text, targets: list[Text | str], confirm_label: str, *,
                 fields: list[Field] | tuple[Field, ...] = (), note: str | Text = "",
                 validate: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 describe: Callable[[dict[str, Any]], list[Text | str]] | None = None,
                 destructive: bool = False):
        super().__init__(classes="destructive" if destructive else "")
        self.dialog_title = title
        self.targets = targets
        self.confirm_label = confirm_label
        self.fields = list(fields)
        self.note = note
        self.validate = validate or (lambda values: values)
        # Recomputes the target lines when a field changes (say, the
        # current limit of the task type just chosen).
        self.describe = describe
        self.destructive = destructive
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            with DialogBody():
                # Titles, notes and choices name workers, tasks and queues:
                # literal text, never markup. Long lists end with "… and N more".
                yield Label(literal_block(self.dialog_title), id="form-title")
                yield Static(targets_text(self.targets), id="form-list")
                yield Static(literal_block(self.note), id="form-note")
            for spec in self.fields:
                with Horizontal(classes="form-row"):
                    if spec.flag:
                        yield Checkbox(spec.label, spec.checked, id=f"field-{spec.key}",
                                       compact=True)
                        continue
                    yield Label(spec.label)
                    if spec.choices is not None:
                        # No value given: the operator chooses; nothing is
                        # preselected for them (Enter must not act on a
                        # default they never read).
                        yield Select([(literal(shown), value) for shown, value in spec.choices],
                                     value=spec.value if spec.value else Select.NULL,
                                     allow_blank=not spec.value, prompt=spec.placeholder
                                     or "choose…", id=f"field-{spec.key}", compact=True)
                    else:
                        # Only suggestions that are their own safe form.
                        safe = [s for s in spec.suggestions or () if s == one_line(s)]
                        suggester = (SuggestFromList(safe, case_sensitive=False)
                                     if safe else None)
                        yield SafeInput(spec.value, placeholder=spec.placeholder,
                                    id=f"field-{spec.key}", compact=True,
                                    select_on_focus=False, suggester=suggester)
            yield Static("", id="form-error")
            with Horizontal(id="form-buttons"):
                # Compact (one row): the buttons fit with the fields at 80x24.
                yield Button("Cancel", id="cancel", variant="primary", compact=True)
                yield Button(self.confirm_label, id="confirm", compact=True,
                             variant="error" if self.destructive else "success")

    def on_mount(self) -> None:
        # Focus at once (``focus()`` is deferred): keys already queued must
        # find it.
        self.set_focus(self._first_focus())

    def _first_focus(self) -> Widget:
        typed = [f for f in self.fields if f.choices is None and not f.flag]
        if self.destructive or not self.fields:
            return self.query_one("#cancel", Button)
        # The value to type is what the operator came for.
        return self.query_one(f"#field-{(typed or self.fields)[0].key}")

    def on_key(self, event: events.Key) -> None:
        """Keys typed while the dialog opens, or away from a text box, never
        reach the screen below or the app's keys (`q`, `1`–`5`, `:`): a
        printable key goes into the first text field of a non-destructive
        dialog that has not focused yet, and is dropped otherwise."""
        if not event.character or not event.character.isprintable():
            return
        if isinstance(self.focused, Input):
            return  # the box takes it
        event.stop()
        event.prevent_default()
        if self.focused is None and not self.destructive:
            target = self._first_focus()
            if isinstance(target, Input):
                self.set_focus(target)
                target.insert_text_at_cursor(event.character)

    def values(self) -> dict[str, Any]:
        out = {}
        for spec in self.fields:
            widget = self.query_one(f"#field-{spec.key}")
            value = widget.value  # type: ignore[attr-defined]
            out[spec.key] = "" if value is Select.NULL else value
        return out

    def submit(self) -> None:
        try:
            arguments = self.validate(self.values())
        except InvalidInput as exc:
            self.error = str(exc)
            self.query_one("#form-error", Static).update(literal_block(f"✗ {exc}"))
            return
        self.dismiss(arguments)

    def on_select_changed(self, event: Select.Changed) -> None:
        self._redescribe()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._redescribe()

    def _redescribe(self) -> None:
        if self.describe is None:
            return
        try:
            self.targets = self.describe(self.values())
            self.query_one("#form-list", Static).update(targets_text(self.targets))
        except (NoMatches, InvalidInput):
            pass  # still mounting, or a half-typed value: keep the last lines

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm":
            self.submit()
        else:
            self.dismiss(None)

    def action_scroll_body(self, direction: int) -> None:
        body = self.query_one(DialogBody)
        body.scroll_relative(y=direction * max(1, body.size.height - 1), animate=False)

    def action_cancel(self) -> None:
        self.dismiss(None)
