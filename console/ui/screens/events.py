"""Events (`4`): a live tail of the raw events the model received."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import RichLog, Static

from ...core.export import ExportTable
from ...core.filters import EVENT_SPEC, RowFilter
from ...core.views import Topic
from ..format import STATE_STYLES, clock_time, one_line
from .base import ConsoleScreen
from .filtering import Filtered

TAIL_LINES = 1000


class EventsScreen(Filtered[RowFilter], ConsoleScreen):
    TITLE = "Events"
    WATCHES = (Topic.EVENTS,)
    FILTER_SPEC = EVENT_SPEC
    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/", id="events.filter",
                tooltip="Filter: text, type: (task-failed, worker-), worker:, uuid:, name:"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="events.clear",
                tooltip="Clear the filter"),
    ]

    def compose_body(self) -> ComposeResult:
        yield Static(id="events-title")
        yield RichLog(id="events", max_lines=TAIL_LINES, wrap=False)
        yield self.filter_box("filter: text  type:task-failed  worker:alpha  name:email",
                              id="events-filter")

    def filter_changed(self) -> None:
        # Redraw the tail from the ring with the new filter.
        self._shown = 0
        self.query_one(RichLog).clear()
        self.tick(self.app.now(), force=True)

    def __init__(self) -> None:
        super().__init__()
        self._shown = 0  # model event counter at the last line we wrote

    def refresh_view(self, now: float) -> None:
        tail = self.model.event_tail(self._shown, TAIL_LINES)
        self._shown = tail.total
        title = Text(no_wrap=True)
        title.append(f" {tail.total:,} events received", style="bold")
        if tail.malformed:
            title.append(f"  {tail.malformed:,} malformed (skipped)", style="yellow")
        if tail.internal_errors:
            title.append(f"  {tail.internal_errors:,} internal errors (see the log)",
                         style="bold red")
        self.filter_title(title)
        self.query_one("#events-title", Static).update(title)
        log = self.query_one(RichLog)
        chosen = self.row_filter
        for entry in tail.entries:
            if chosen and not chosen.matches(event_parts(entry)):
                continue
            log.write(_line(entry))


    def export_view(self) -> ExportTable:
        """The events the ring holds that the filter keeps, oldest first."""
        tail = self.model.event_tail(0, TAIL_LINES)
        chosen = self.row_filter
        rows = tuple(tuple(e.get(c) for c in EVENT_COLUMNS) for e in tail.entries
                     if not chosen or chosen.matches(event_parts(e)))
        return ExportTable("events", EVENT_COLUMNS, rows, self.export_about())

    def cursor_id(self) -> tuple[str, str] | None:
        return None


EVENT_COLUMNS = ("local_received", "type", "hostname", "uuid", "name", "state",
                 "exception", "result", "runtime", "retries", "args", "kwargs", "queue",
                 "routing_key", "timestamp", "active", "processed")


def event_parts(entry: Mapping[str, Any]) -> dict[str, str]:
    """An event as the Events filter reads it."""
    return {"type": str(entry.get("type", "")).lower(),
            "worker": str(entry.get("hostname") or "").lower(),
            "uuid": str(entry.get("uuid") or "").lower(),
            "name": str(entry.get("name") or "").lower()}


def _line(entry: Mapping[str, Any]) -> Text:
    kind = one_line(entry.get("type", "?"), 64)  # junk types reach the tail too
    subject = kind.partition("-")[2].upper()
    state = {"SUCCEEDED": "SUCCESS", "FAILED": "FAILURE",
             "RETRIED": "RETRY"}.get(subject, subject)
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(clock_time(entry.get("local_received")) + " ", style="dim")
    line.append(f"{kind:<18} ", style=STATE_STYLES.get(state, "bold"))
    line.append(f"{one_line(entry.get('hostname'), 22):<22} ")
    if entry.get("uuid"):
        line.append(f"{one_line(str(entry['uuid'])[:8])} ", style="cyan")
    if entry.get("name"):
        line.append(f"{one_line(entry['name'], 40)} ")
    if entry.get("exception"):
        line.append(one_line(entry["exception"], 60), style="red")
    return line
