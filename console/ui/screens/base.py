"""What every top-level screen shares: a title, and redraws on change only."""

from __future__ import annotations

from typing import Any

from textual.css.query import NoMatches
from textual.widgets import DataTable

from ...core.state import ClusterState
from ...core.views import Topic
from ...core.export import ExportTable
from ..exporting import datatable_export
from .frame import FramedScreen


class ConsoleScreen(FramedScreen):
    """A screen redrawn by the app's tick when the model versions it
    ``WATCHES`` moved; with no ``WATCHES``, every tick (ages keep changing)."""

    TITLE = "Console"
    WATCHES: tuple[Topic, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self._seen: tuple[int, ...] | None = None

    @property
    def model(self) -> ClusterState:
        return self.app.state

    def versions(self) -> tuple[int, ...]:
        versions = self.model.versions
        return tuple(versions.get(topic) for topic in self.WATCHES)

    def tick(self, now: float, force: bool = False) -> None:
        current = self.versions()
        if force or not self.WATCHES or current != self._seen:
            self._seen = current
            try:
                self.refresh_view(now)
            except NoMatches:
                # Ticked between switching to this screen and its widgets
                # mounting: the next tick draws it.
                self._seen = None

    def refresh_view(self, now: float) -> None:
        """Redraw from the model. Called on the UI thread."""

    def on_screen_resume(self) -> None:
        self.app.update_header()
        self.tick(self.app.now(), force=True)

    def export_about(self) -> dict[str, Any]:
        """What a `ctrl+s` file says of the view besides its rows."""
        return {"screen": self.TITLE, "filter": getattr(self, "filter_text", "") or "",
                "at": self.app.now()}

    def export_view(self) -> ExportTable:
        """The screen's table as shown (focused one first): `ctrl+s`."""
        tables = list(self.query(DataTable))
        if not tables:
            raise LookupError("this screen has no table to export")
        table = next((t for t in tables if t.has_focus), tables[0])
        return datatable_export(self.TITLE.lower().replace(" ", "-"), table,
                                self.export_about())

    def cursor_id(self) -> tuple[str, str] | None:
        """(kind, id) under the cursor, for `y`; None when there is none."""
        return None

    def switched_to(self) -> None:
        """The operator came to this screen from another one (a number key,
        `:`): a pinned cursor goes back to following."""
