"""Failures (`7`): failures grouped by cause — exception type and a
normalised message (``core/failures.py``) — with count, first and last
seen, task types, workers and one example; `r` shows the retries grouped
the same way. Drawn O(rows on screen)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from ...core.failures import FailureGroupView, group_parts, names_text
from ...core.filters import FAILURE_SPEC, RowFilter
from ...core.views import Topic
from ..format import ago, clock_time, one_line
from ..widgets.live_table import Column, LiveTable
from .base import ConsoleScreen
from .filtering import Filtered


class FailuresScreen(Filtered[RowFilter], ConsoleScreen):
    TITLE = "Failures"
    WATCHES = (Topic.TASKS,)
    FILTER_SPEC = FAILURE_SPEC
    BINDINGS = [
        Binding("enter", "open", "Group", id="failures.open",
                tooltip="The group: its example's exception and traceback, and its tasks"),
        Binding("e", "example", "Example task", id="failures.example",
                tooltip="Task detail of the group's newest task (traceback included)"),
        Binding("r", "toggle_kind", "Retries/failures", id="failures.toggle",
                tooltip="Show the retries grouped by cause / the failures"),
        Binding("slash", "filter", "Filter", key_display="/", id="failures.filter",
                tooltip="Filter: text, type:, message:, name:, worker:"),
        Binding("s", "sort", "Sort", id="failures.sort",
                tooltip="Sort by last seen / count / first seen"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="failures.clear",
                tooltip="Clear the filter"),
    ]
    HELP_NOTES = (
        "A group is one exception type with one message once numbers, ids, uuids, hex "
        "and quoted values are masked (<n>, <id>, <hex>, <str>): 'Timeout after 3.2s' "
        "and 'Timeout after 9.1s' are one group.",
        "Counted from the task-failed (or task-retried) events this console received; "
        "first / last seen by this console's clock. The newest 500 groups are kept.",
    )
    SORTS = ("last seen", "count", "first seen")

    def __init__(self) -> None:
        super().__init__()
        self.kind = "failure"
        self.sort = 0
        self.now = 0.0
        self.columns = [
            Column("count", 7, lambda g: (f"{g.count:,}", "bold red" if self.kind == "failure"
                                          else "bold magenta")),
            Column("cause", 46, lambda g: (one_line(g.cause, 200), "")),
            Column("task types", 30, lambda g: (one_line(names_text(
                (n.rsplit(".", 1)[-1] for n in g.names), g.more_names), 200), "")),
            Column("workers", 18, lambda g: (one_line(names_text(g.workers, g.more_workers),
                                                      200), "dim")),
            Column("first", 8, lambda g: (clock_time(g.first_seen), "dim")),
            Column("last", 6, lambda g: (ago(self.now - g.last_seen), "")),
            Column("example", 0, lambda g: (one_line(g.example, 36)[:8], "cyan")),
        ]

    def compose_body(self) -> ComposeResult:
        yield Static(id="failures-title")
        yield LiveTable(self.columns, key=lambda g: g.gid, id="failures")
        yield self.filter_box("filter: text  type:Timeout  name:email  worker:alpha",
                              id="failures-filter")

    @property
    def table(self) -> LiveTable:
        return self.query_one(LiveTable)

    def refresh_view(self, now: float) -> None:
        self.now = now
        every = self.model.failure_group_views(self.kind)
        chosen = self.row_filter
        rows = [g for g in every if not chosen or chosen.matches(group_parts(g))]
        if self.sort == 0:
            rows.sort(key=lambda g: -g.last_seen)
        elif self.sort == 1:
            rows.sort(key=lambda g: -g.count)
        elif self.sort == 2:
            rows.sort(key=lambda g: g.first_seen)
        self.table.set_rows(rows)
        self._draw_title(rows, every)

    def tick(self, now: float, force: bool = False) -> None:
        super().tick(now, force=True)  # "last seen" ages with the clock

    def _draw_title(self, rows: list[FailureGroupView], every: list[FailureGroupView]) -> None:
        line = Text(no_wrap=True, overflow="ellipsis")
        self.filter_title(line)
        what = "Failures" if self.kind == "failure" else "Retries"
        line.append(f" {what} by cause: {len(rows):,} group{'s' if len(rows) != 1 else ''}",
                    style="bold")
        if len(rows) != len(every):
            line.append(f" of {len(every):,}")
        line.append(f", {sum(g.count for g in rows):,} {what.lower()}")
        line.append(f"  sort: {self.SORTS[self.sort]}")
        other = "retries" if self.kind == "failure" else "failures"
        line.append(f"  r: {other}  enter: the group  e: example", style="dim")
        self.query_one("#failures-title", Static).update(line)

    # ------------------------------------------------------------- actions
    def action_toggle_kind(self) -> None:
        self.kind = "retry" if self.kind == "failure" else "failure"
        self.table.follow_first()
        self.tick(self.app.now(), force=True)

    def action_sort(self) -> None:
        self.sort = (self.sort + 1) % len(self.SORTS)
        self.tick(self.app.now(), force=True)

    def filter_focus(self) -> None:
        self.table.focus()

    def action_open(self) -> None:
        group = self.table.cursor_record
        if group is not None:
            self.table.pin()
            self.app.open_failure_group(group.kind, group.gid)

    def action_example(self) -> None:
        group = self.table.cursor_record
        if group is not None and group.example:
            self.table.pin()
            self.app.open_task(group.example)

    def switched_to(self) -> None:
        self.table.follow_first()
