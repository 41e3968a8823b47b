"""What detail screens share: the header, the status line, the footer, and
a redraw every second (their content is small; ages keep changing)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ...core.filters import DETAIL_SPEC, RowFilter
from ...core.export import ExportTable
from ..exporting import datatable_export
from .filtering import Filtered
from .frame import FramedScreen

DETAIL_BINDINGS = [
    Binding("escape", "back", "Back", id="detail.back",
            tooltip="Back (clears the filter first, if one is on)"),
    Binding("slash", "filter", "Filter", key_display="/", id="detail.filter",
            tooltip="Filter the rows of this screen's tables: text, name:, id:"),
]


def row_parts(name: object, uuid: object, *cells: object) -> dict[str, str]:
    """A row of a detail screen's table as its filter reads it."""
    text = " ".join(str(c) for c in (name, uuid, *cells) if c is not None)
    return {"name": str(name or "").lower(), "id": str(uuid or "").lower(),
            "text": text.lower()}


class DetailScreen(Filtered[RowFilter], FramedScreen):
    def on_mount(self) -> None:
        self.draw()
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        # Nothing moves under a dialog: a detail screen with a dialog (or
        # another screen) on top keeps what the operator is reading.
        if self.app.screen is self:
            self.draw()

    def on_screen_resume(self) -> None:
        self.app.update_header()

    def draw(self) -> None:
        """Redraw from the model."""

    # ------------------------------------------------------------- filter
    FILTER_SPEC = DETAIL_SPEC

    def filter_changed(self) -> None:
        line = self.query("#detail-filter")
        if line:
            title = self.filter_title(Text(no_wrap=True, overflow="ellipsis"))
            if self.row_filter:
                title.append("  escape clears", style="dim")
            line.first().update(title)  # type: ignore[attr-defined]
            line.first().display = bool(title.plain)
        self.draw()

    def filter_line(self) -> Static:
        """The line that says a filter is on (composed by the screen)."""
        line = Static(id="detail-filter")
        line.display = False
        return line

    def keep(self, parts: dict[str, str]) -> bool:
        return not self.row_filter or self.row_filter.matches(parts)

    def filtered_note(self, shown: int, total: int) -> Text:
        """``  2 of 7 shown by the filter``, or nothing."""
        if not self.row_filter or shown == total:
            return Text()
        return Text(f"  {shown} of {total} match the filter", style="yellow")

    # ------------------------------------------------------- export, copy
    def export_about(self) -> dict[str, Any]:
        return {"screen": self.TITLE, "filter": getattr(self, "filter_text", "") or "",
                "at": self.app.now()}

    def export_view(self) -> ExportTable:
        """A detail screen's table (the focused one), as shown; screens
        without one export their fields instead."""
        tables = list(self.query(DataTable))
        if not tables:
            raise LookupError("this screen has nothing to export")
        table = next((t for t in tables if t.has_focus), tables[0])
        view = f"{(self.TITLE or 'detail').lower()}-{table.id or 'table'}"
        return datatable_export(view, table, self.export_about())

    def cursor_id(self) -> tuple[str, str] | None:
        return None

    def action_back(self) -> None:
        if self.row_filter or self.filter_error:
            self.action_clear_filter()
        else:
            self.app.pop_screen()
