"""A table that draws only the rows on screen (Textual's Line API).

Why not DataTable: it copies every row into the widget and re-measures on
change (adding 100k rows takes ~27 s; one update_cell with 100k rows present
~0.5 s). This table holds references to the model's records and renders each
visible line on demand from them, so a redraw costs O(rows on screen)
whatever the number of tasks held.

The cursor is in one of two modes, and the screen's title says which:
following (on the first or the last row, whatever arrives: ``g``/``G``) or
pinned to one record, wherever it moves in the order, from the moment the
operator moves the cursor, marks a row or opens it. Being on row 1 is not
following: a cursor that drifted from task to task as rows arrived made
``x`` revoke a task nobody had chosen.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.events import Click, MouseScrollDown, MouseScrollUp
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

log = logging.getLogger(__name__)

SEPARATOR = " "
MARKER = "● "


@dataclass(frozen=True)
class Column:
    label: str
    width: int  # 0: takes the width left over (one column at most)
    cell: Callable[[Any], tuple[str, str]]  # record -> (text, rich style)
    sort_key: Callable[[Any], Any] | None = None


class LiveTable(Widget, can_focus=True):
    BINDINGS = [
        Binding("j,down", "move(1)", "Down", show=False),
        Binding("k,up", "move(-1)", "Up", show=False),
        Binding("g,home", "first", "First", show=False),
        Binding("G,end", "last", "Last", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("right", "scroll_columns(1)", "Columns →", show=False),
        Binding("left", "scroll_columns(-1)", "Columns ←", show=False),
    ]
    COMPONENT_CLASSES = {"live-table--header", "live-table--cursor",
                         "live-table--marked", "live-table--odd"}
    DEFAULT_CSS = """
    LiveTable { height: 1fr; }
    LiveTable > .live-table--header { text-style: bold; background: $panel; }
    LiveTable > .live-table--cursor { background: $block-cursor-background; }
    LiveTable:blur > .live-table--cursor { background: $block-cursor-blurred-background; }
    LiveTable > .live-table--marked { text-style: bold; color: $warning; }
    LiveTable > .live-table--odd { background: $surface-lighten-1 15%; }
    """

    class CursorMoved(Message):
        def __init__(self, table: LiveTable, record) -> None:
            super().__init__()
            self.table = table
            self.record = record

    def __init__(self, columns: list[Column], *, marks: set | None = None,
                 key: Callable[[Any], Any] = lambda r: r.uuid, id: str | None = None):
        super().__init__(id=id)
        self.columns = columns
        self.marks = marks if marks is not None else set()
        self.key = key
        self.rows: list = []
        self.cursor = 0
        self.top = 0
        self._cursor_record = None
        self._cursor_key = None
        # Pinned, and the record is not in the rows (evicted, filtered out):
        # no row is under the cursor, so no key acts on a neighbour.
        self.pinned_gone = False
        # "first" / "last": on that row whatever arrives; None: pinned to
        # ``_cursor_record`` (found again by its key if the row object changes).
        self.follow: str | None = "first"
        # Frozen: each row is drawn from a copy taken the first time it was
        # drawn after freezing, so what the operator reads keeps its state.
        self.frozen: dict[Any, Any] | None = None
        # Styles are looked up once, not per line: ``rich_style`` walks every
        # ancestor's styles (~0.1 ms), which was a third of a redraw. Cleared
        # whenever Textual restyles the widget, as its own caches are.
        self._row_styles: dict[tuple[bool, bool, bool], Style] = {}
        self._cell_styles: dict[tuple[Style, str], Style] = {}
        self._widths_for: tuple[int, list[int]] | None = None
        # Sideways: how many columns after the first (the id, always shown)
        # are scrolled out of view (←/→), for narrow terminals.
        self.column_offset = 0
        self.shown_columns: list[Column] = list(columns)

    # ------------------------------------------------------------------ data
    def set_rows(self, rows: list) -> None:
        old_cursor = self.cursor
        self.rows = rows
        if self.follow is None and self._cursor_key is not None:
            self._place_pinned(rows, old_cursor)
        elif not rows:
            self.cursor = self.top = 0
            self._set_cursor_record(None)
        elif self.follow is not None:
            self.cursor = 0 if self.follow == "first" else len(rows) - 1
            self._set_cursor_record(rows[self.cursor])
        else:
            self.cursor = min(self.cursor, len(rows) - 1)
            self._set_cursor_record(rows[self.cursor])
        self._clamp_top()
        self.refresh()

    def _place_pinned(self, rows: list, old_cursor: int) -> None:
        index = self._index_of(self._cursor_record) if rows else None
        if index is None:
            # Gone (evicted, or hidden by a filter): the cursor stays pinned
            # to it, on no row, until it is back or the operator moves;
            # moving to a neighbour would make `x` revoke a task nobody chose.
            self.pinned_gone = True
            self.cursor = min(self.cursor, max(0, len(rows) - 1))
            return
        self.pinned_gone = False
        # Keep the row where the eye is: scroll with it.
        self.top = max(0, self.top + index - old_cursor)
        self.cursor = index
        self._cursor_record = rows[index]

    def _set_cursor_record(self, record) -> None:
        self._cursor_record = record
        self._cursor_key = None if record is None else self.key(record)

    def _index_of(self, record) -> int | None:
        if record is None:
            return None
        rows = self.rows
        if self.cursor < len(rows) and rows[self.cursor] is record:
            return self.cursor
        try:
            # Identity, in C: the rows are the model's own records, which
            # live as long as the task is held (a Python scan by key would
            # cost ~10 ms a tick at 100k rows).
            return rows.index(record)
        except ValueError:
            return None

    @property
    def following(self) -> bool:
        return self.follow is not None

    @property
    def pinned_key(self):
        """The key of the record the cursor is pinned to, None when following."""
        return None if self.follow is not None else self._cursor_key

    def pin(self) -> None:
        """Stay on the record under the cursor from now on (the operator
        marked or opened it)."""
        if self.rows:
            self.follow = None

    def freeze(self) -> None:
        self.frozen = {}
        self.refresh()

    def thaw(self) -> None:
        self.frozen = None
        self.refresh()

    def follow_first(self) -> None:
        self.follow = "first"
        self.pinned_gone = False
        self.move_to(0, follow="first")

    @property
    def cursor_record(self):
        if not self.rows or self.pinned_gone:
            return None
        return self._cursor_record

    @property
    def visible_rows(self) -> int:
        return max(1, self.size.height - 1)

    def _clamp_top(self) -> None:
        visible = self.visible_rows
        if self.cursor < self.top:
            self.top = self.cursor
        elif self.cursor >= self.top + visible:
            self.top = self.cursor - visible + 1
        self.top = max(0, min(self.top, max(0, len(self.rows) - visible)))
        if self.cursor < self.top:
            self.top = self.cursor

    # --------------------------------------------------------------- actions
    def move_to(self, index: int, follow: str | None = None) -> None:
        """Put the cursor on a row: pinned to its record, unless ``follow``
        (``g``/``G``) says to stay on the first or last row."""
        if not self.rows:
            return  # nothing to pin to: an empty table keeps following
        self.follow = follow
        self.pinned_gone = False
        self.cursor = max(0, min(index, len(self.rows) - 1))
        self._set_cursor_record(self.rows[self.cursor])
        self._clamp_top()
        self.refresh()
        self.post_message(self.CursorMoved(self, self._cursor_record))

    def action_move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(1, self.visible_rows - 1))

    def action_first(self) -> None:
        self.move_to(0, follow="first")

    def action_last(self) -> None:
        self.move_to(len(self.rows) - 1, follow="last")

    def action_scroll_columns(self, delta: int) -> None:
        self.column_offset = max(0, min(self.column_offset + delta, len(self.columns) - 2))
        self.shown_columns = [self.columns[0], *self.columns[1 + self.column_offset:]]
        self._widths_for = None
        self.refresh()

    def on_click(self, event: Click) -> None:
        if event.y >= 1:
            self.move_to(self.top + event.y - 1)

    def on_mouse_scroll_down(self, event: MouseScrollDown) -> None:
        self.action_move(3)

    def on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        self.action_move(-3)

    def on_resize(self) -> None:
        self._clamp_top()

    def notify_style_update(self) -> None:
        self._row_styles.clear()
        self._cell_styles.clear()
        super().notify_style_update()

    def on_focus(self) -> None:
        self._row_styles.clear()  # the cursor's colour depends on focus

    def on_blur(self) -> None:
        self._row_styles.clear()

    # ------------------------------------------------------------- rendering
    def _widths(self, width: int) -> list[int]:
        if self._widths_for is not None and self._widths_for[0] == width:
            return self._widths_for[1]
        columns = self.shown_columns
        fixed = sum(c.width for c in columns if c.width)
        spare = width - len(MARKER) - fixed - len(SEPARATOR) * len(columns)
        widths = [c.width or max(4, spare) for c in columns]
        self._widths_for = (width, widths)
        return widths

    def _row_style(self, odd: bool, marked: bool, cursor: bool) -> Style:
        key = (odd, marked, cursor)
        style = self._row_styles.get(key)
        if style is None:
            style = self.rich_style
            if odd:
                style = style + self.get_component_rich_style("live-table--odd")
            if marked:
                style = style + self.get_component_rich_style("live-table--marked")
            if cursor:
                style = style + self.get_component_rich_style("live-table--cursor")
            self._row_styles[key] = style
        return style

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        widths = self._widths(width)
        if y == 0:
            style = self.get_component_rich_style("live-table--header")
            cells = [(c.label, "") for c in self.shown_columns]
            if self.column_offset:
                # Says that columns are scrolled out, and how to get them back.
                cells[0] = (f"{cells[0][0]} ‹{self.column_offset}", "")
            return self._strip(" " * len(MARKER), cells, widths, style, width)
        index = self.top + y - 1
        if index >= len(self.rows):
            return Strip.blank(width, self._row_style(False, False, False))
        record = self.rows[index]
        frozen = self.frozen
        if frozen is not None:
            row_key = self.key(record)
            kept = frozen.get(row_key)
            if kept is None:
                kept = frozen[row_key] = copy.copy(record)
            record = kept
        marked = self.key(record) in self.marks
        style = self._row_style(bool(index % 2), marked,
                                index == self.cursor and not self.pinned_gone)
        cells = []
        for column in self.shown_columns:
            try:
                cells.append(column.cell(record))
            except Exception:  # one odd value must not break the table
                _cell_error(column.label)
                cells.append(("?", "red"))
        return self._strip(MARKER if marked else " " * len(MARKER), cells, widths,
                           style, width)

    def _strip(self, marker: str, cells, widths, style, width: int) -> Strip:
        segments = [Segment(marker, style)]
        length = cell_len(marker)
        cell_styles = self._cell_styles
        for (text, cell_style), cell_width in zip(cells, widths, strict=False):
            if (text.isascii() and text.isprintable()) or not text.strip(_ONE_CELL):
                # One cell per character: what rich's cell_len/set_cell_size
                # find the slow way, done by slicing.
                if len(text) <= cell_width:
                    text += " " * (cell_width - len(text))
                else:
                    text = text[:cell_width - 1] + "…" if cell_width > 0 else ""
                length += cell_width
            else:
                text = text if cell_len(text) <= cell_width else _crop(text, cell_width)
                text = set_cell_size(text, cell_width)
                length += cell_len(text)
            if cell_style:
                combined = cell_styles.get((style, cell_style))
                if combined is None:
                    combined = cell_styles[style, cell_style] = style + _style(cell_style)
            else:
                combined = style
            segments.append(Segment(text, combined))
            segments.append(Segment(SEPARATOR, style))
            length += _SEPARATOR_CELLS
        return Strip(segments, length).adjust_cell_length(width, style)


_SEPARATOR_CELLS = cell_len(SEPARATOR)
# Printable ASCII and the few other characters the tables draw (sparklines,
# dashes, µs), each one cell wide: a cell made only of these is padded by
# slicing, not by rich's cell_len/set_cell_size.
_ONE_CELL = "".join(map(chr, range(32, 127))) + "▁▂▃▄▅▆▇█—…µ"


@lru_cache(maxsize=256)
def _style(definition: str) -> Style:
    return Style.parse(definition)


_cell_errors = 0


def _cell_error(label: str) -> None:
    """Intake type-checks what cells format, so a failing cell is our bug:
    logged with its traceback (the first few; a redraw repeats them)."""
    global _cell_errors
    _cell_errors += 1
    if _cell_errors <= 10:
        log.exception("internal error drawing the %s column", label)


def _crop(text: str, width: int) -> str:
    return set_cell_size(text, max(0, width - 1)) + "…" if width > 0 else ""
