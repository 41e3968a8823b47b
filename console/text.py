"""The one markup-safe path from cluster text to the terminal.

Hostnames, task and queue names, ids, args, results, exceptions,
tracebacks, conf values, broker replies and errors are data, never markup:
anyone who can publish an event or name a worker controls them. Every
widget that shows such a value gets it through ``literal`` (one line) or
``literal_block`` (keeps line breaks): a ``rich.text.Text``, which Rich and
Textual draw as it is, with no markup parsed, and with the characters that
would move the terminal's cursor or reorder the line made visible.

Rich only (no Textual): ``console status`` uses it too.
"""

from __future__ import annotations

from rich.text import Text

__all__ = ["literal", "literal_block", "one_line", "safe_block", "short_name"]

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


def one_line(value: object, width: int | None = None) -> str:
    """Single-line, terminal-safe plain text: never wraps a table row.

    Still a plain ``str``: pass it on only where no markup is read (a Text,
    a Segment); anywhere else use ``literal``."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if width is not None and len(text) > width * 4:
        text = text[: width * 4]  # don't translate a megabyte to show 40 chars
    text = text.translate(_CONTROL)
    if width is None or len(text) <= width:
        return text
    return text[: max(0, width - 1)] + "…"


def safe_block(value: object) -> str:
    """Terminal-safe multi-line text: like ``one_line`` but keeps newlines."""
    return "" if value is None else str(value).translate(_BLOCK_CONTROL)


def literal(value: object, width: int | None = None, style: str = "",
            empty: str = "") -> Text:
    """Cluster text as one line of literal text (``empty`` when None)."""
    if isinstance(value, Text):
        return value
    shown = one_line(value, width)
    return Text(shown or empty, style=style)


def literal_block(value: object, style: str = "") -> Text:
    """Cluster text over several lines (tracebacks, stacks), literally."""
    if isinstance(value, Text):
        return value
    return Text(safe_block(value), style=style)


def short_name(name: object, width: int) -> str:
    """Task names are dotted paths whose tail says the most:
    ``console.companion.tasks.render_report`` -> ``…tasks.render_report``."""
    text = one_line(name)
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1):] if width > 1 else "…"
