"""Small text helpers shared by the screens."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache

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


# Control characters would move the terminal's cursor or start escape
# sequences: whitespace becomes a space, the rest a visible placeholder.
_CONTROL = {i: "\ufffd" for i in (*range(32), 127)}
# C1 controls too (U+009B is a CSI to some terminals), and the bidi
# overrides/isolates that let a payload reorder the rest of the row.
_CONTROL.update({i: "\ufffd" for i in (*range(0x80, 0xA0), *range(0x202A, 0x202F),
                                      *range(0x2066, 0x206A))})
_CONTROL.update({9: " ", 10: " ", 13: " "})
# Multi-line text (tracebacks) keeps its line breaks, nothing else.
_BLOCK_CONTROL = dict(_CONTROL)
del _BLOCK_CONTROL[10]


def one_line(value, width: int | None = None) -> str:
    """Single-line, terminal-safe preview: never wraps a table row."""
    if value is None:
        return ""
    text = str(value)
    if width is not None and len(text) > width * 4:
        text = text[: width * 4]  # don't translate a megabyte to show 40 chars
    text = text.translate(_CONTROL)
    if width is None or len(text) <= width:
        return text
    return text[: max(0, width - 1)] + "…"


def safe_block(value) -> str:
    """Terminal-safe multi-line text: like ``one_line`` but keeps newlines."""
    return "" if value is None else str(value).translate(_BLOCK_CONTROL)


def short_name(name, width: int) -> str:
    """Task names are dotted paths whose tail says the most:
    ``console.companion.tasks.render_report`` -> ``…tasks.render_report``."""
    text = one_line(name)
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1):] if width > 1 else "…"
