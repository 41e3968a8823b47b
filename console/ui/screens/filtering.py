"""`/` on every table: one filter language (``core.filters``), one set of
keys, and the same error rule everywhere — a filter that does not parse is
shown as an error and never applied, so no table goes quietly empty."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from rich.text import Text

from ...core.filters import FilterError, FilterSpec, RowFilter
from ..format import one_line
from ..widgets.filter_bar import FilterBar, FilterBox

if TYPE_CHECKING:
    from .frame import FramedScreen as _Screen  # what it is mixed into
else:
    _Screen = object


class ParsedFilter(Protocol):
    @property
    def text(self) -> str: ...

    def __bool__(self) -> bool: ...


F = TypeVar("F", bound=ParsedFilter)


class Filtered(Generic[F], _Screen):
    """Mixed into a screen with a table. The screen gives ``FILTER_SPEC``,
    composes ``filter_box(...)``, reads ``self.row_filter`` when drawing and
    puts ``filter_title`` in its title line."""

    FILTER_SPEC: ClassVar[FilterSpec]
    filter_text: str = ""
    filter_error: str | None = None
    row_filter: F

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.row_filter = self.parse_filter("")

    def parse_filter(self, text: str) -> F:
        # RowFilter unless the screen says otherwise (Tasks: TaskFilter).
        chosen: Any = RowFilter.parse(self.FILTER_SPEC, text)
        return chosen

    def filter_box(self, placeholder: str, id: str) -> FilterBox:
        return FilterBox(self.FILTER_SPEC, placeholder, id=id, extra=self.filter_extra)

    def filter_extra(self) -> Mapping[str, Iterable[str]]:
        """Values closed fields also take now (Tasks: the custom states held)."""
        return {}

    def apply_filter(self, text: str) -> None:
        """From the filter line (already valid) or from `:name FILTER`: a
        text that does not parse leaves the filter in force and says why."""
        try:
            self.row_filter = self.parse_filter(text)
        except FilterError as exc:
            self.filter_error = f"filter not applied: {exc}"
        else:
            self.filter_error = None
            self.filter_text = self.row_filter.text
        self.filter_changed()

    def filter_changed(self) -> None:
        """Redraw with the new filter."""
        self.tick(self.app.now(), force=True)  # type: ignore[attr-defined]

    def filter_title(self, line: Text) -> Text:
        if self.filter_error:
            line.append(f" {one_line(self.filter_error)} ", style="bold red")
        if self.row_filter.text:
            line.append(f" filter: {one_line(self.row_filter.text)} ", style="bold yellow")
        return line

    def action_filter(self) -> None:
        self.query_one(FilterBar).open(self.row_filter.text)

    def on_filter_bar_applied(self, event: FilterBar.Applied) -> None:
        self.filter_focus()
        self.apply_filter(event.text)

    def filter_focus(self) -> None:
        """Where focus goes back to when the filter line closes."""

    def action_clear_filter(self) -> None:
        if self.row_filter.text or self.filter_error:
            self.filter_error = None
            self.apply_filter("")
