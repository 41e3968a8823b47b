"""The line above the footer: why the broker is unreachable, or the outcome
of the last action ("purged 48,112 messages from emails", "no reply from …").

A Static rather than Textual's notifications: the reason for an outage must
stay on screen for as long as the outage lasts, not time out.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...core.views import HeaderView
from ..format import ago, one_line

STATUS_STYLES = {"ok": "green", "partial": "yellow", "error": "bold red",
                 "unknown": "bold red", "refused": "bold yellow"}
# An action's outcome stays this long; a connection problem stays until fixed.
OUTCOME_SECONDS = 60.0


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; padding: 0 1; background: $boost; }
    """

    def show(self, *, view: HeaderView, now: float, note: Text | None = None) -> None:
        line = Text(no_wrap=True, overflow="ellipsis")
        connection, last_action = view.connection, view.last_action
        if note is not None:
            # What the console just did locally (a file exported, an id
            # copied, a replay's bad line): already literal text.
            line.append_text(note)
        elif connection.state in ("reconnecting", "connecting") and connection.error:
            line.append("broker unreachable: ", style="bold red")
            line.append(one_line(connection.error, 300))
            line.append(f"  (retrying, down {ago(now - connection.since)})", style="dim")
        elif last_action is not None and now - last_action.at < OUTCOME_SECONDS:
            line.append(f"{one_line(last_action.action, 40)}: ", style="bold")
            line.append(one_line(last_action.summary, 300),
                        style=STATUS_STYLES.get(last_action.status.value, ""))
        self.update(line)
