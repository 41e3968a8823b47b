"""Tasks (`2`): counts by state and the most recently updated tasks."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from ...core.filters import FilterError, TaskFilter
from ...core.records import STATES
from ..format import STATE_STYLES, ago, clock_time, one_line
from .base import ConsoleScreen

RECENT_ROWS = 40
COLUMNS = (("uuid", 10), ("name", 34), ("state", 9), ("worker", 16),
           ("received", 9), ("runtime", 8), ("args", 30))


class TasksScreen(ConsoleScreen):
    TITLE = "Tasks"
    WATCHES = ("tasks",)

    def compose_body(self) -> ComposeResult:
        yield Static(id="task-counts")
        table = DataTable(id="tasks", cursor_type="row", zebra_stripes=True)
        for label, width in COLUMNS:
            table.add_column(label, key=label, width=width)
        yield table

    def refresh_view(self, now: float) -> None:
        try:
            task_filter = TaskFilter.parse(self.filter_text)
            problem = None
        except FilterError as exc:
            task_filter, problem = TaskFilter(), str(exc)
        model = self.model
        with model.lock:
            held = dict(model.held_by_state)
        counts = Text(no_wrap=True)
        for state in STATES:
            counts.append(f" {state} ", style=STATE_STYLES.get(state, ""))
            counts.append(f"{held.get(state, 0):,}  ")
        if self.filter_text:
            counts.append(f"  filter: {self.filter_text}",
                          style="bold red" if problem else "bold")
        self.query_one("#task-counts", Static).update(counts)
        tasks = model.recent_tasks(RECENT_ROWS, task_filter.matches if task_filter else None)
        table = self.query_one(DataTable)
        cursor_key = _row_key(table)
        table.clear()
        for task in tasks:
            table.add_row(
                task.uuid[:8], one_line(task.name, 34),
                Text(task.state, style=STATE_STYLES.get(task.state, "")),
                one_line(task.worker or task.client, 16),
                clock_time(task.received or task.sent),
                f"{task.runtime:.3f}s" if isinstance(task.runtime, (int, float)) else "",
                one_line(task.args, 30), key=task.uuid)
        if cursor_key is not None and cursor_key in table.rows:
            table.move_cursor(row=table.get_row_index(cursor_key), animate=False)


def _row_key(table: DataTable):
    if not table.row_count:
        return None
    try:
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key
    except Exception:
        return None
