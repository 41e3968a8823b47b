"""Beat schedule (`8`): the app's periodic tasks, when each last ran as seen
in events, and which are late — beat answers no pings, so lateness is its
health signal."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ...core.beat import LATE_FACTOR, BeatEntryView, BeatView, duration
from ...core.filters import BEAT_SPEC, RowFilter
from ..format import ago, literal, plural
from ..widgets.vim_table import VimTable
from .base import ConsoleScreen
from .filtering import Filtered

# What answers "is beat alive" first: a narrow terminal cuts the task name.
COLUMNS = (("entry", 20), ("health", 8), ("last seen", 10), ("next run", 9),
           ("runs", 5), ("schedule", 18), ("task", 34))
STATUS_STYLES = {"late": "bold red", "ok": "green", "waiting": "dim", "unreadable": "yellow"}


class BeatScreen(Filtered[RowFilter], ConsoleScreen):
    TITLE = "Beat"
    # Ages and estimates change every second: redrawn every tick (a
    # schedule is a handful of rows).
    WATCHES = ()
    FILTER_SPEC = BEAT_SPEC
    BINDINGS = [
        Binding("enter", "open", "Last run", id="beat.open",
                tooltip="Open the last run seen of the periodic task under the cursor"),
        Binding("slash", "filter", "Filter", key_display="/", id="beat.filter",
                tooltip="Filter: text (entry or task name), name:, task:, "
                        "status:late|ok|waiting|unreadable"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="beat.clear",
                tooltip="Clear the filter"),
    ]
    HELP_NOTES = (
        "Celery beat answers no pings and sends no events of its own: the tasks it "
        "sends are its only sign of life. So each entry's health is whether a run "
        f"(a task-sent or task-received of its task name) was seen within "
        f"{LATE_FACTOR:g} × its interval: late means beat, or its sends, stopped.",
        "Judged only while the console has watched long enough: until then an entry "
        "never seen is 'waiting'. A reconnect restarts the wait (events sent during "
        "an outage were never seen).",
        "Runs are matched by task name: a task also sent by other code shows those "
        "runs too. The workers must send events (the console turns them on) and beat's "
        "app task_send_sent_event for task-sent.",
        "next run is the schedule's own estimate (remaining_estimate, is_due) from the "
        "last run seen (or from when the console started watching); crontab intervals "
        "are the gap between its next two runs.",
        "The schedule is the app's beat_schedule (-A): a scheduler that keeps its own "
        "(django_celery_beat's DatabaseScheduler, RedBeat) cannot be read, and "
        "`celery beat -S` on beat's command line is not visible to the console.",
    )

    def compose_body(self) -> ComposeResult:
        yield Static(id="beat-title")
        yield Static(id="beat-note")
        yield VimTable.of_columns("beat", COLUMNS)
        yield self.filter_box("filter: entry or task name  status:late  task:billing",
                              id="beat-filter")

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    def beat_view(self, now: float) -> BeatView:
        return self.model.beat_view(self.app.monitor.beat, now)

    def refresh_view(self, now: float) -> None:
        view = self.beat_view(now)
        chosen = self.row_filter
        entries = [e for e in view.entries if not chosen or chosen.matches(beat_parts(e))]
        table = self.table
        cursor = self.query_one(VimTable).cursor_key
        table.clear()
        for entry in entries:
            table.add_row(
                literal(entry.name), _health(entry),
                Text("never seen", style="dim") if entry.last_seen is None
                else Text(ago(now - entry.last_seen)), _next(entry), f"{entry.runs:,}",
                literal(entry.schedule), literal(entry.task), key=entry.name)
        if cursor is not None and cursor in table.rows:
            table.move_cursor(row=table.get_row_index(cursor), animate=False)
        self._draw_title(view, len(entries), now)

    def _draw_title(self, view: BeatView, shown: int, now: float) -> None:
        line = Text(no_wrap=True, overflow="ellipsis")
        self.filter_title(line)
        line.append(f" {plural(len(view.entries), 'periodic task')}", style="bold")
        if shown != len(view.entries):
            line.append(f" ({shown} shown)")
        if view.late:
            line.append(f"  {view.late} late", style="bold red")
        line.append("  scheduler ")
        line.append(literal(view.scheduler, 60))
        if view.watching_since is None:
            line.append("  not watching (not connected): nothing is judged", style="yellow")
        else:
            line.append(f"  watching for {duration(max(0.0, now - view.watching_since))}",
                        style="dim")
        self.query_one("#beat-title", Static).update(line)
        note = self.query_one("#beat-note", Static)
        if view.note:
            note.update(literal(view.note, style="yellow" if view.readable else "bold yellow"))
        note.display = bool(view.note)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # The table takes enter before the screen's binding sees it.
        event.stop()
        self.action_open()

    def filter_focus(self) -> None:
        self.table.focus()

    def action_open(self) -> None:
        name = self.query_one(VimTable).cursor_key
        entry = next((e for e in self.beat_view(self.app.now()).entries if e.name == name),
                     None)
        if entry is None:
            return
        if entry.last_uuid:
            self.app.open_task(entry.last_uuid)
        else:
            self.app.notify(f"{entry.name}: no run of {entry.task} seen yet", timeout=4)


def beat_parts(entry: BeatEntryView) -> dict[str, str]:
    """A schedule entry as the Beat filter reads it."""
    return {"name": entry.name.lower(), "task": entry.task.lower(), "status": entry.status}


def _next(entry: BeatEntryView) -> Text:
    if entry.next_in is None:
        return Text("—", style="dim")
    if entry.due:
        return Text("due", style="yellow")
    return Text(f"in {ago(entry.next_in)}")


def _health(entry: BeatEntryView) -> Text:
    status = entry.status
    if status == "unreadable":
        return literal(f"? {entry.error}", 60, style="yellow")  # the column cuts it
    label = {"late": "LATE", "ok": "ok", "waiting": "waiting"}[status]
    return Text(label, style=STATUS_STYLES[status])
