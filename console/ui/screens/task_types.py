"""Task types (`6`): one row per task name — rates, failure ratio, runtime
percentiles, queue wait, start delay, in flight, stuck — drawn O(rows on
screen) from core's frozen ``TaskTypeView``s (``core/triage.py``)."""

from __future__ import annotations

import shlex

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from ...core.filters import TYPE_SPEC, RowFilter
from ...core.triage import Latency, TaskTypeView
from ...core.views import SPARK, Topic
from ..format import ago, short_name
from ..widgets.live_table import Column, LiveTable
from .base import ConsoleScreen
from .filtering import Filtered

NONE = float("-inf")
# A type's figures are rebuilt at most this often (1–1.9×, spread over
# ticks): they are rates and percentiles over minutes.
VIEW_AGE = 2.0


def seconds(value: float | None) -> str:
    """``340µs``, ``12ms``, ``1.4s``, ``3m``: four or five cells."""
    if value is None:
        return "—"
    if value < 0.001:
        return f"{value * 1e6:.0f}µs"
    if value < 1:
        return f"{value * 1000:.0f}ms"
    if value < 100:
        return f"{value:.1f}s"
    return ago(value)


def _p(latency: Latency | None, field: str) -> float:
    return NONE if latency is None else float(getattr(latency, field))


def _latency_cell(latency: Latency | None, field: str) -> tuple[str, str]:
    return (seconds(None if latency is None else getattr(latency, field)),
            "" if latency is not None else "dim")


def spark(history: tuple[int, ...], width: int = 6) -> str:
    """The 10-second buckets summed into ``width`` characters, oldest first."""
    if not history:
        return ""
    step = max(1, len(history) // width)
    sums = [sum(history[i:i + step]) for i in range(0, len(history), step)][-width:]
    high = max(sums)
    if not high:
        return "▁" * len(sums)
    return "".join(SPARK[(v * (len(SPARK) - 1) + high - 1) // high] for v in sums)


def _rate(value: float) -> str:
    return "0" if not value else f"{value:.2f}" if value < 10 else f"{value:.0f}"


def _ratio(view: TaskTypeView) -> tuple[str, str]:
    ratio = view.failure_ratio
    if ratio is None:
        return "—", "dim"
    shown = f"{ratio:.1%}" if 0 < ratio < 0.1 else f"{ratio:.0%}"
    return shown, "bold red" if ratio >= 0.05 else "yellow" if ratio else ""


def _last_failure(view: TaskTypeView, now: float) -> tuple[str, str]:
    if view.last_failure_at is None:
        return "—", "dim"
    age = now - view.last_failure_at
    return f"{ago(age)} ago", "bold red" if age < 60 else ""


# The held column: what is moving first, in few characters.
HELD_ORDER = (("STARTED", "run"), ("RECEIVED", "recv"), ("RETRY", "retry"),
              ("FAILURE", "fail"), ("PENDING", "pend"), ("SUCCESS", "ok"),
              ("REVOKED", "rev"), ("REJECTED", "rej"))
_KNOWN = {state for state, _ in HELD_ORDER}


def _held(view: TaskTypeView) -> str:
    held = view.held
    parts = [f"{label} {held[state]:,}" for state, label in HELD_ORDER if held.get(state)]
    parts += [f"{state.lower()} {n:,}" for state, n in held.items() if state not in _KNOWN]
    return " ".join(parts)


class TaskTypesScreen(Filtered[RowFilter], ConsoleScreen):
    TITLE = "Task types"
    WATCHES = (Topic.TASKS,)
    FILTER_SPEC = TYPE_SPEC
    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/", id="types.filter",
                tooltip="Filter the task types: text (the name), name:"),
        Binding("s", "sort", "Sort", id="types.sort", tooltip="Sort by the next column"),
        Binding("S", "reverse", "Reverse", show=False, id="types.reverse",
                tooltip="Reverse the order"),
        Binding("enter", "open", "Its tasks", id="types.tasks",
                tooltip="Tasks, filtered to this type (name:)"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="types.clear",
                tooltip="Clear the filter"),
    ]
    HELP_NOTES = (
        "From the task events this console received since it started: ok/s and "
        "fail/s over the last minute; the trends are 5 minutes in 50 s steps "
        "(ok 5m: succeeded, err 5m: failed); fail% over the last 5 minutes.",
        "runtime: the worker's own runtime of each success; p50/p95/p99 come from "
        "log-scale buckets and are within 1% of the exact percentile.",
        "wait: received − sent, only where the task-sent event was seen (task_send_sent_event) "
        "and never for tasks with an eta or countdown; delay: started − received (eta tasks "
        "excluded). Both are p95; the clocks of two hosts are compared.",
        "flight: RECEIVED + STARTED held; stuck: STARTED longer than max(--stuck-floor, "
        "--stuck-factor × the type's runtime p99); held: tasks of the type held, by "
        "state (run, recv, retry, fail, pend, ok, rev, rej).",
    )

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.sort_index: int | None = None  # None: by name
        self.descending = True
        self.columns = self._columns()
        self.sortable = [c for c in self.columns if c.sort_key is not None]

    def _columns(self) -> list[Column]:
        return [
            Column("task type", 19, lambda v: (short_name(v.name, 19), "bold"),
                   lambda v: v.name),
            Column("ok/s", 5, lambda v: (_rate(v.succeeded_per_s), ""),
                   lambda v: v.succeeded_per_s),
            Column("fail/s", 6, lambda v: (_rate(v.failed_per_s),
                                           "bold red" if v.failed_per_s else "dim"),
                   lambda v: v.failed_per_s),
            Column("ok 5m", 6, lambda v: (spark(v.succeeded_history), "green"),
                   lambda v: sum(v.succeeded_history)),
            Column("err 5m", 6, lambda v: (spark(v.failed_history), "red"),
                   lambda v: sum(v.failed_history)),
            Column("fail%", 5, _ratio, lambda v: -1.0 if v.failure_ratio is None
                   else v.failure_ratio),
            Column("p50", 5, lambda v: _latency_cell(v.runtime, "p50"),
                   lambda v: _p(v.runtime, "p50")),
            Column("p95", 5, lambda v: _latency_cell(v.runtime, "p95"),
                   lambda v: _p(v.runtime, "p95")),
            Column("p99", 5, lambda v: _latency_cell(v.runtime, "p99"),
                   lambda v: _p(v.runtime, "p99")),
            Column("wait", 5, lambda v: _latency_cell(v.wait, "p95"),
                   lambda v: _p(v.wait, "p95")),
            Column("delay", 5, lambda v: _latency_cell(v.delay, "p95"),
                   lambda v: _p(v.delay, "p95")),
            Column("flight", 6, lambda v: (f"{v.in_flight:,}", "" if v.in_flight else "dim"),
                   lambda v: v.in_flight),
            Column("stuck", 5, lambda v: (f"{v.stuck:,}" if v.stuck else "—",
                                          "bold yellow" if v.stuck else "dim"),
                   lambda v: v.stuck),
            Column("last fail", 9, lambda v: _last_failure(v, self.now),
                   lambda v: NONE if v.last_failure_at is None else v.last_failure_at),
            Column("held", 0, lambda v: (_held(v), "dim"), lambda v: sum(v.held.values())),
        ]

    def compose_body(self) -> ComposeResult:
        yield Static(id="types-title")
        yield LiveTable(self.columns, key=lambda v: v.name, id="types")
        yield self.filter_box("filter: text  name:email", id="types-filter")

    @property
    def table(self) -> LiveTable:
        return self.query_one(LiveTable)

    def refresh_view(self, now: float) -> None:
        self.now = now
        every = self.model.task_type_views(now, max_age=VIEW_AGE)
        chosen = self.row_filter
        rows = [v for v in every if not chosen or chosen.matches({"name": v.name.lower()})]
        if self.sort_index is None:
            rows.sort(key=lambda v: v.name, reverse=not self.descending)
        else:
            key = self.sortable[self.sort_index].sort_key
            assert key is not None
            rows.sort(key=key, reverse=self.descending)
        self.table.set_rows(rows)
        self._draw_title(rows, len(every))

    def tick(self, now: float, force: bool = False) -> None:
        # Rates and ages move with the clock: redrawn every tick, cheaply
        # (each type's view is rebuilt only when it changed).
        super().tick(now, force=True)

    def _draw_title(self, rows: list[TaskTypeView], total: int) -> None:
        line = Text(no_wrap=True, overflow="ellipsis")
        self.filter_title(line)
        line.append(f" {len(rows):,} task type{'s' if len(rows) != 1 else ''}", style="bold")
        if len(rows) != total:
            line.append(f" of {total:,}")
        if self.sort_index is None:
            line.append(f"  sort: name {'A→Z' if self.descending else 'Z→A'}")
        else:
            column = self.sortable[self.sort_index].label
            line.append(f"  sort: {column} {'↓' if self.descending else '↑'}")
        counts = self.model.triage_counts(self.now)
        if counts.types_dropped:
            line.append(f"  (more types than {counts.types:,}: the rest are not counted)",
                        style="yellow")
        line.append("  enter: its tasks", style="dim")
        self.query_one("#types-title", Static).update(line)

    # ------------------------------------------------------------- actions
    def action_sort(self) -> None:
        if self.sort_index is None:
            self.sort_index = 1  # the first figure after the name
        elif self.sort_index + 1 < len(self.sortable):
            self.sort_index += 1
        else:
            self.sort_index = None
        self.descending = self.sort_index is not None
        self.tick(self.app.now(), force=True)

    def action_reverse(self) -> None:
        self.descending = not self.descending
        self.tick(self.app.now(), force=True)

    def filter_focus(self) -> None:
        self.table.focus()

    def action_open(self) -> None:
        record = self.table.cursor_record
        if record is not None:
            self.table.pin()
            self.app.action_show("tasks", f"name:{shlex.quote(record.name)}")

    def switched_to(self) -> None:
        self.table.follow_first()
