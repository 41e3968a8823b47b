"""Events (`4`): a live tail of the raw events the model received."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import RichLog

from ..format import STATE_STYLES, clock_time, one_line
from .base import ConsoleScreen

TAIL_LINES = 1000


class EventsScreen(ConsoleScreen):
    TITLE = "Events"
    WATCHES = ("events",)

    def compose_body(self) -> ComposeResult:
        yield RichLog(id="events", max_lines=TAIL_LINES, wrap=False)

    def __init__(self) -> None:
        super().__init__()
        self._shown = 0  # model event counter at the last line we wrote

    def refresh_view(self, now: float) -> None:
        model = self.model
        with model.lock:
            total = model.counters.events
            new = min(total - self._shown, len(model.events), TAIL_LINES)
            entries = list(model.events)[-new:] if new > 0 else []
        self._shown = total
        log = self.query_one(RichLog)
        wanted = self.filter_text.lower()
        for entry in entries:
            if wanted and wanted not in str(entry.get("type", "")).lower():
                continue
            log.write(_line(entry))


def _line(entry: dict) -> Text:
    kind = str(entry.get("type", "?"))
    subject = kind.partition("-")[2].upper()
    state = {"SUCCEEDED": "SUCCESS", "FAILED": "FAILURE",
             "RETRIED": "RETRY"}.get(subject, subject)
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(clock_time(entry.get("local_received")) + " ", style="dim")
    line.append(f"{kind:<18} ", style=STATE_STYLES.get(state, "bold"))
    line.append(f"{one_line(entry.get('hostname'), 22):<22} ")
    if entry.get("uuid"):
        line.append(f"{str(entry['uuid'])[:8]} ", style="cyan")
    if entry.get("name"):
        line.append(f"{one_line(entry['name'], 40)} ")
    if entry.get("exception"):
        line.append(one_line(entry["exception"], 60), style="red")
    return line
