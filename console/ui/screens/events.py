"""Events (`4`): a live tail of the raw events the model received."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import RichLog, Static

from ...core.views import Topic
from ..format import STATE_STYLES, clock_time, one_line
from ..widgets.filter_bar import FilterBar
from .base import ConsoleScreen

TAIL_LINES = 1000


class EventsScreen(ConsoleScreen):
    TITLE = "Events"
    WATCHES = (Topic.EVENTS,)
    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/", id="events.filter",
                tooltip="Show only event types containing the text (task-failed, worker-)"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="events.clear",
                tooltip="Clear the filter"),
    ]

    def compose_body(self) -> ComposeResult:
        yield Static(id="events-title")
        yield RichLog(id="events", max_lines=TAIL_LINES, wrap=False)
        yield FilterBar(placeholder="event type contains… (task-failed, worker-, retried)",
                        id="events-filter")

    def action_filter(self) -> None:
        self.query_one(FilterBar).open(self.filter_text)

    def on_filter_bar_applied(self, event: FilterBar.Applied) -> None:
        self.apply_filter(event.text.strip())

    def action_clear_filter(self) -> None:
        if self.filter_text:
            self.apply_filter("")

    def apply_filter(self, text: str) -> None:
        # Redraw the tail from the ring with the new filter.
        self.filter_text = text
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
        if self.filter_text:
            title.append(f"  filter: {one_line(self.filter_text)}", style="bold yellow")
        self.query_one("#events-title", Static).update(title)
        log = self.query_one(RichLog)
        wanted = self.filter_text.lower()
        for entry in tail.entries:
            if wanted and wanted not in str(entry.get("type", "")).lower():
                continue
            log.write(_line(entry))


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
