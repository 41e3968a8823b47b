"""DataTable with the console's motion keys (j k g G), for the small tables
(workers, queues) where DataTable's per-row widgets cost nothing."""

from __future__ import annotations

from rich.markup import escape
from textual.binding import Binding
from textual.widgets import DataTable

from ..format import one_line


def _plain(cell):
    """DataTable reads a str cell as Rich markup: a hostname or queue name
    holding "[/x]" raised MarkupError and took the whole app down, and a
    control character would reach the terminal. Still a str, so a screen
    comparing get_cell() with its value sees no change for plain text."""
    return escape(one_line(cell)) if isinstance(cell, str) else cell


class VimTable(DataTable):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "First", show=False),
        Binding("G", "scroll_bottom", "Last", show=False),
    ]

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor, if any."""
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # the cursor is between rows while they change
            return None

    def add_row(self, *cells, **kwargs):
        return super().add_row(*map(_plain, cells), **kwargs)

    def update_cell(self, row_key, column_key, value, **kwargs):
        return super().update_cell(row_key, column_key, _plain(value), **kwargs)
