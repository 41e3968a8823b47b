"""Small text helpers shared by the screens."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache

from rich.text import Text

from ..core.views import WorkerState, WorkerView
from ..text import literal, literal_block, one_line, safe_block, short_name

STATE_STYLES = {
    "PENDING": "dim", "RECEIVED": "cyan", "STARTED": "bold yellow",
    "RETRY": "magenta", "SUCCESS": "green", "FAILURE": "bold red",
    "REVOKED": "red", "REJECTED": "red",
}


def ago(seconds: float | None) -> str:
    """A short relative age: 0.4s, 12s, 3m, 2h, 4d."""
    if seconds is None:
        return "—"
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f}m"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def clock_time(timestamp: float | None) -> str:
    if not isinstance(timestamp, (int, float)):
        return "—"
    return _clock_time(timestamp)


# A table redraw formats the same few dozen timestamps every tick; strftime
# is most of what a Tasks row costs to draw.
@lru_cache(maxsize=4096)
def _clock_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%H:%M:%S")


def count(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def argument_text(arguments, short: bool = True) -> str:
    """An action's arguments as one line: ``send_email 10/s``-like, each
    value named (``rate_limit=10/s``); task ids are counted, not listed
    (the targets column lists them)."""
    parts = []
    for key, value in (arguments or {}).items():
        if key == "task_id":
            continue
        if value is None:
            value = "none"
        elif key == "task_name" and short:
            value = short_name(value, 40)
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        parts.append(f"{one_line(key, 40)}={one_line(value, 80)}")
    return "  ".join(parts)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 task``, ``2 tasks``, ``1,204 queues``."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


# The markup-safe helpers live in console/text.py (used by `console status`
# too); re-exported here for the screens' convenience.
__all__ = ["STATE_STYLES", "ago", "argument_text", "clock_time", "count", "literal",
           "literal_block", "one_line", "plural", "safe_block", "short_name", "status_text"]


def status_text(view: WorkerView, now: float, long: bool = False) -> Text:
    """The worker's status (core's one rule) as the screens show it."""
    status = view.status
    if status.state is WorkerState.ONLINE:
        return Text("online", style="bold green")
    if status.state is WorkerState.UNKNOWN:
        return Text("unknown: seen by inspection only, no heartbeat yet" if long
                    else "unknown", style="yellow")
    since = status.since if status.since is not None else now
    return Text(f"{'offline for' if long else 'off'} {ago(now - since)}", style="bold red")
