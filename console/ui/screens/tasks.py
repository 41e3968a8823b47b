"""Tasks (`2`): every task held, newest first, drawn O(visible rows)."""

from __future__ import annotations

import time
from functools import partial
from operator import attrgetter

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from ...core.filters import TASK_SPEC, Selection, TaskFilter
from ...core.newest import NewestFirst, Reversed
from ...core.sorting import SortPass
from ...core.records import STATES, rank
from ...core.views import TaskView, Topic
from ..format import STATE_STYLES, clock_time, one_line, plural, short_name
from ...core.export import ExportTable
from ..widgets.live_table import Column, LiveTable
from ..exporting import TASK_COLUMNS, task_rows
from .base import ConsoleScreen
from .filtering import Filtered
from ..keys.tasks import STACK_BINDING, TASK_BINDINGS, TASK_MUTATING, TaskKeys

# With a filter or a sort, the whole view is rebuilt (O(n)) at most this
# often; in between, the visible rows still show each task's live state.
FULL_REBUILD_SECONDS = 1.0
# ... and never more than this share of the UI thread's time: sorting a
# million tasks takes about a second, every 10 s at most then.
FULL_REBUILD_SHARE = 0.1
# A filter in the first-seen order tests this many rows at a time (a wide
# term over a million tasks: a step of a few ms, about 20 for free text), the
# rest between key presses; the first screenful shows after the first step.
SELECTION_STEP = 65_536
# A step not run this long after it was asked for is asked for again.
STEP_RETRY = 1.0
# How long the first rows of a sort are left to be painted before the sort.
LONG_STEP_PAUSE = 0.1


def _number(value) -> float:
    # A NaN (JSON from Python may carry one) would make the order undefined.
    if isinstance(value, (int, float)) and value == value:
        try:
            return float(value)
        except OverflowError:  # an integer past a float's range, from an event
            return float("inf") if value > 0 else float("-inf")
    return float("-inf")


def _text(value) -> str:
    return "" if value is None else str(value)


def _runtime(task) -> tuple[str, str]:
    runtime = task.runtime
    if isinstance(runtime, (int, float)):
        return (f"{runtime * 1000:.0f}ms" if runtime < 1 else f"{runtime:.2f}s"), ""
    return "", ""


def _state(task) -> tuple[str, str]:
    # What the console just did, until the worker's own event: a revoked
    # task reading PENDING, or a purged one PENDING forever, would mislead.
    action = task.console_action
    if action is not None:
        return action, "bold magenta"
    if task.stuck:  # STARTED past its type's threshold (core/triage.py)
        return "stuck", "bold yellow"
    return task.state, STATE_STYLES.get(task.state, "")


def _worker(task) -> tuple[str, str]:
    if task.worker_lost:
        # Its worker went away mid-task: the state alone would say STARTED.
        return f"lost: {one_line(task.worker, 40)}", "bold red"
    if task.worker:
        return one_line(task.worker, 40), ""
    # Not received by a worker yet: where it waits says more than who sent it.
    return f"queued: {one_line(task.queue or task.routing_key or '?', 30)}", "dim"


COLUMNS = [
    Column("uuid", 8, lambda t: (one_line(t.uuid[:8]), "cyan"), attrgetter("uuid")),
    Column("name", 30, lambda t: (short_name(t.name, 30), ""), lambda t: _text(t.name)),
    Column("state", 11, lambda t: _state(t), lambda t: rank(t.state)),
    Column("worker", 16, lambda t: _worker(t), lambda t: _text(t.worker)),
    Column("received", 8, lambda t: (clock_time(t.received or t.sent), "dim"),
           lambda t: _number(t.received or t.sent)),
    Column("started", 8, lambda t: (clock_time(t.started), "dim"),
           lambda t: _number(t.started)),
    Column("runtime", 7, _runtime, lambda t: _number(t.runtime)),
    Column("retry", 5, lambda t: (one_line(t.retries, 5) if t.retries else "", ""),
           lambda t: _number(t.retries)),
    Column("args", 0, lambda t: (one_line(t.args, 200), "dim"), lambda t: _text(t.args)),
]
SORTABLE = [c for c in COLUMNS if c.sort_key is not None]


class TasksScreen(TaskKeys, Filtered[TaskFilter], ConsoleScreen):
    TITLE = "Tasks"
    WATCHES = (Topic.TASKS,)
    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/", id="tasks.filter",
                tooltip="Filter: text, state:, name:, worker:, queue:, args:, kwargs:, result:, "
                "is:stuck,lost,failed"),
        Binding("s", "sort", "Sort", id="tasks.sort", tooltip="Sort by the next column"),
        Binding("S", "reverse", "Reverse", show=False, id="tasks.reverse",
                tooltip="Reverse the order"),
        Binding("f", "freeze", "Freeze", id="tasks.freeze",
                tooltip="Freeze / follow: stop the table changing while you read it"),
        Binding("space", "mark", "Mark", id="tasks.mark", tooltip="Mark / unmark the task"),
        Binding("enter", "open", "Detail", id="tasks.detail", tooltip="Task detail"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="tasks.clear",
                tooltip="Clear the filter"),
        *TASK_BINDINGS,
        STACK_BINDING,
    ]
    MUTATING = TASK_MUTATING
    FILTER_SPEC = TASK_SPEC
    HELP_NOTES = (
        "The cursor follows the first row until you move it, mark or open a task; "
        "then it stays on that task (the title says which) until g, G or another screen.",
        "state: Celery's, from the task's events; 'revoke sent' or 'purged' (magenta) "
        "is what this console did, shown until a worker's own event arrives; "
        "'lost:' in worker means its worker went offline mid-task; 'stuck' (yellow) is "
        "STARTED longer than max(--stuck-floor, --stuck-factor × its type's runtime p99). "
        "is:stuck, is:lost, is:failed filter them.",
        "Freeze (f) keeps each row as drawn and counts the newer tasks; f again follows.",
    )

    def __init__(self) -> None:
        super().__init__()
        self.marks: set[str] = set()
        self.sort_index: int | None = None  # None: first seen, newest first
        self.descending = True
        self.frozen = False
        self._frozen_seen = 0
        self._last_full = 0.0
        self._rebuild_every = FULL_REBUILD_SECONDS
        self._params_changed = True
        self._newest: NewestFirst | None = None
        # A filter's pass still under way (see _rebuild), and whether its
        # rows so far are the ones on screen.
        self._selection: Selection | SortPass | None = None
        self._selection_shown = False
        self._scheduled_for: Selection | SortPass | None = None
        self._scheduled_at = 0.0
        self._step_token = 0
        self._applied: TaskFilter | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(id="task-counts")
        yield Static(id="task-title")
        yield LiveTable(COLUMNS, marks=self.marks, id="tasks")
        yield self.filter_box("filter: text  state:failure  name:email  worker:alpha",
                              id="task-filter")

    @property
    def table(self) -> LiveTable:
        return self.query_one(LiveTable)

    # ---------------------------------------------------------------- view
    def refresh_view(self, now: float) -> None:
        self._draw_counts()
        if not self.frozen:
            self.table.set_rows(self._rows())
        self._draw_title()

    def _newest_first(self):
        # Kept up to date by the model's changes: a copy of every task held
        # per tick cost more than drawing the screen (core/newest.py).
        if self._newest is None or self._newest.state is not self.model:
            self._newest = NewestFirst(self.model)
        return self._newest.update()

    def _rows(self):
        plain = not self.row_filter and self.sort_index is None
        if plain:
            self._selection = None
            rows = self._newest_first()
            return rows if self.descending else Reversed(rows)
        if not self._params_changed and self._selection is not None:
            self._schedule(self._selection)  # paused under a dialog: go on
            self._seen = None
            return self.table.rows
        if not self._params_changed and \
                time.monotonic() - self._last_full < self._rebuild_every:
            self._seen = None  # not rebuilt yet: make the next tick try again
            return self.table.rows
        changed, self._params_changed = self._params_changed, False
        self._last_full = started = time.monotonic()
        rows = self._rebuild(shown=changed)
        self._rebuild_every = max(FULL_REBUILD_SECONDS,
                                  (time.monotonic() - started) / FULL_REBUILD_SHARE)
        return rows

    def _rebuild(self, shown: bool = True):
        rows = self._newest_first()
        self._selection = None
        if self.sort_index is None and not self.descending:
            # Oldest first: the filter's result (a new list) turned round.
            rows = (self.row_filter.select(rows, index=self.model) if self.row_filter
                    else list(rows))
            rows.reverse()
            return rows
        # A filter's pass, a sort's, or the one after the other: made a step
        # at a time (the first rows at once, the rest between keys).
        work: Selection | SortPass | None = (
            Selection(self.row_filter, rows, index=self.model) if self.row_filter else None)
        if self.sort_index is not None:
            work = SortPass(rows if work is None else work,
                            key=SORTABLE[self.sort_index].sort_key, reverse=self.descending,
                            first_rows=shown)
        if work is None:
            return list(rows)
        if work.step(SELECTION_STEP):
            return work.found
        # A new filter or sort shows its rows as they are found; a refresh of
        # the same one keeps the rows on screen until the new ones are all
        # found.
        self._selection, self._selection_shown = work, shown
        self._schedule(work)
        return work.found if shown else self.table.rows

    def _schedule(self, selection: Selection | SortPass) -> None:
        now = time.monotonic()
        # Asked again by each tick while the pass waits: a step that has not
        # run for a while is posted again (a callback handed to a dialog that
        # closed at once is dropped with it); a step run twice is harmless.
        if self._scheduled_for is selection and now - self._scheduled_at < STEP_RETRY:
            return
        if self._scheduled_for is not selection:
            self._step_token += 1  # a new request: earlier posts are void
        # (Posted again, the same request: whichever post runs first steps,
        # the rest find its token void; never two chains of steps.)
        self._scheduled_for, self._scheduled_at = selection, now
        step = partial(self._continue_selection, selection, self._step_token)
        if selection.long_step_next:
            # The whole sort, after its first rows: a pause of a few frames
            # first, so they are painted and written to the terminal (the
            # sort in C holds the GIL, and the writer thread needs it).
            self.set_timer(LONG_STEP_PAUSE, step)
        else:
            # After the messages already queued (keys among them) and once
            # the screen has been painted: what the last step found is seen
            # before the next one holds the thread.
            self.call_after_refresh(step)

    def _continue_selection(self, selection: Selection | SortPass, token: int) -> None:
        if token != self._step_token or self._scheduled_for is not selection:
            return  # void: a newer request, or this one ran already
        self._scheduled_for = None
        if selection is not self._selection:
            return  # another filter, sort or order since
        if not self.is_active:
            return  # nothing moves under a dialog: the next tick goes on
        done = selection.step(SELECTION_STEP)
        if done:
            self._selection_done(selection)
        else:
            self._schedule(selection)
        # (Freeze finishes or drops a pass first: never frozen here.)
        if done or self._selection_shown:
            self.table.set_rows(selection.found)
            self._draw_title()

    def _selection_done(self, selection: Selection | SortPass) -> None:
        self._selection = None
        self._last_full = time.monotonic()
        self._rebuild_every = max(FULL_REBUILD_SECONDS,
                                  selection.seconds / FULL_REBUILD_SHARE)

    def _finish_selection(self) -> None:
        """The whole result on screen now, before anything reads or acts on
        the rows or the cursor's row (a last row, a pinned task not reached
        yet, marks hidden by the filter)."""
        selection = self._selection
        if selection is not None:
            selection.finish()
            self._selection_done(selection)
            self.table.set_rows(selection.found)
            self._draw_title()

    def _draw_counts(self) -> None:
        held = self.model.held_counts()
        line = Text(no_wrap=True, overflow="ellipsis")
        for state in STATES:
            line.append(f" {state} ", style=STATE_STYLES.get(state, ""))
            line.append(f"{held.get(state, 0):,} ")
        self.query_one("#task-counts", Static).update(line)

    def _draw_title(self) -> None:
        table = self.table
        line = Text(no_wrap=True, overflow="ellipsis")
        # Most important first: the title is cut on narrow terminals.
        if self.frozen:
            line.append(" ❄ FROZEN (f follows) ", style="bold reverse cyan")
            newer = self.model.tasks_created() - self._frozen_seen
            if newer:
                line.append(f" {newer:,} newer ", style="bold cyan")
        self.filter_title(line)
        work = self._selection if self._selection_shown else None
        filtering = work is not None
        total = work.total if work is not None else None
        if isinstance(work, SortPass) and total is None:
            pass  # filtering before the sort: nothing to show yet, nor a count
        elif work is not None and total is not None:  # sorting: its first rows
            line.append(f" first {len(table.rows):,} of {plural(total, 'task')}", style="bold")
        else:
            line.append(f" {plural(len(table.rows), 'task')}", style="bold")
        if work is not None:
            line.append(f"{' so far' if isinstance(work, Selection) else ''} "
                        f"({work.stage}: {work.progress:.0%})", style="yellow")
        if self.marks:
            line.append(f"  marked: {len(self.marks)}", style="bold")
            hidden = (len(self.marks - {t.uuid for t in table.rows})
                      if self.row_filter and not filtering else 0)
            if hidden:
                line.append(f" ({hidden} hidden by the filter)", style="yellow")
        column = "first seen" if self.sort_index is None else SORTABLE[self.sort_index].label
        line.append(f"  sort: {column} {'↓' if self.descending else '↑'}")
        # Which task the keys act on is a mode the operator can read, not
        # an accident of being on row 1.
        pinned = table.pinned_key
        if pinned is not None and table.pinned_gone:
            line.append(f"  pinned task {one_line(pinned, 36)[:8]} is not listed "
                        "(filtered out or evicted): keys act on nothing", style="bold yellow")
            line.append(" (j/k choose, g follows)", style="dim")
        elif pinned is not None:
            line.append(f"  cursor pinned on {one_line(pinned, 36)[:8]}", style="bold cyan")
            line.append(" (g follows)", style="dim")
        elif table.rows:
            where = "first" if table.follow == "first" else "last"
            line.append(f"  cursor follows the {where} row", style="dim")
        self.query_one("#task-title", Static).update(line)

    def _changed(self) -> None:
        self._params_changed = True
        self.tick(self.app.now(), force=True)

    # ------------------------------------------------------------- actions
    def parse_filter(self, text: str) -> TaskFilter:
        return TaskFilter.parse(text, self.filter_extra()["state"])

    def filter_extra(self) -> dict[str, list[str]]:
        # Custom states (PROGRESS…) are states too, once a task holds one.
        return {"state": list(self.model.held_counts())}

    def filter_changed(self) -> None:
        if self.row_filter == self._applied:
            self._draw_title()  # a refused text, or the same filter again
            return
        self._applied = self.row_filter
        self._changed()

    def filter_focus(self) -> None:
        self.table.focus()

    def action_sort(self) -> None:
        if self.sort_index is None:
            self.sort_index = 0
        elif self.sort_index + 1 < len(SORTABLE):
            self.sort_index += 1
        else:
            self.sort_index = None
        self._changed()

    def action_reverse(self) -> None:
        self.descending = not self.descending
        self._changed()

    def action_freeze(self) -> None:
        # What is frozen is what is drawn, whole: a pass still showing its
        # rows is finished; a refresh behind complete rows is dropped.
        if self._selection is not None and not self._selection_shown:
            self._selection = None
        self._finish_selection()
        self.frozen = not self.frozen
        if self.frozen:
            self._frozen_seen = self.model.tasks_created()
            self.table.freeze()
        else:
            self.table.thaw()
            self.table.follow_first()  # follow: to the newest
        self._changed()

    def action_mark(self) -> None:
        record = self.table.cursor_record
        if record is None:
            return
        self.marks.symmetric_difference_update({record.uuid})
        self.table.action_move(1)  # pins the cursor (to the next row)
        self._draw_title()

    def action_open(self) -> None:
        self._finish_selection()
        record = self.table.cursor_record
        if record is not None:
            # Back from the detail, the keys act on the task just read.
            self.table.pin()
            self._draw_title()
            # The app opens detail screens: no screen imports another.
            self.app.open_task(record.uuid)

    def on_live_table_cursor_moved(self, event: LiveTable.CursorMoved) -> None:
        self._draw_title()  # pinned or following, and on which task

    def switched_to(self) -> None:
        self.table.follow_first()

    def stack_task(self) -> TaskView | None:
        self._finish_selection()
        record = self.table.cursor_record  # the cursor's, whatever is marked
        views = self.model.task_views([record.uuid]) if record is not None else []
        return views[0] if views else None

    def export_view(self) -> ExportTable:
        """The rows as shown: filter, sort and order, frozen copies when frozen."""
        self._finish_selection()
        table = self.table
        frozen = table.frozen
        records = [frozen.get(r.uuid, r) for r in table.rows] if frozen is not None \
            else table.rows
        column = "first seen" if self.sort_index is None else SORTABLE[self.sort_index].label
        about = dict(self.export_about(), sort=column,
                     order="descending" if self.descending else "ascending",
                     frozen=self.frozen)
        return ExportTable("tasks", TASK_COLUMNS, task_rows(records), about)

    def cursor_id(self) -> tuple[str, str] | None:
        self._finish_selection()
        record = self.table.cursor_record
        if record is None or self.table.pinned_gone:
            return None
        return "task id", record.uuid

    def selected_tasks(self) -> tuple[list[TaskView], int]:
        """The marked tasks still held (or the cursor's), as copies taken
        now, and how many of them the filter hides."""
        self._finish_selection()  # the cursor's row, or every row the marks hide in
        if not self.marks:
            record = self.table.cursor_record
            return self.model.task_views([record.uuid] if record is not None else []), 0
        held = self.model.task_views(sorted(self.marks))
        visible = {t.uuid for t in self.table.rows} if self.row_filter else None
        hidden = sum(1 for t in held if t.uuid not in visible) if visible is not None else 0
        return held, hidden
