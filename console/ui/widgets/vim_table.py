"""DataTable with the console's motion keys (j k g G), for the small tables
(workers, queues) where DataTable's per-row widgets cost nothing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from ..format import literal


def plain_cell(cell: Any) -> Any:
    """DataTable reads a str cell as Rich markup: a hostname or queue name
    holding "[/x]" raised MarkupError and took the whole app down, and a
    control character would reach the terminal. Every str cell becomes
    literal text; compare a new value with ``get_cell`` through this too."""
    return literal(cell) if isinstance(cell, str) else cell


class VimTable(DataTable):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "First", show=False),
        Binding("G", "scroll_bottom", "Last", show=False),
    ]

    @classmethod
    def of_columns(cls, id: str, columns: Iterable[tuple[str, int]]) -> VimTable:
        """A row-cursor, zebra-striped table with these (label, width)
        columns, each keyed by its label."""
        table = cls(id=id, cursor_type="row", zebra_stripes=True)
        for label, width in columns:
            table.add_column(label, key=label, width=width)
        return table

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor, if any."""
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except CellDoesNotExist:  # the cursor is between rows while they change
            return None

    def add_row(self, *cells: Any, **kwargs: Any) -> Any:
        return super().add_row(*map(plain_cell, cells), **kwargs)

    def update_cell(self, row_key: Any, column_key: Any, value: Any, **kwargs: Any) -> None:
        super().update_cell(row_key, column_key, plain_cell(value), **kwargs)
