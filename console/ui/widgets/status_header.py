"""The header line: where we are connected and how the cluster is doing.

Textual's Header shows a title and a clock only; an operator needs the
broker, the connection state, events, workers and throughput at a glance,
so this is a Static redrawn by the app's refresh tick.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...core.views import HeaderView
from ..format import ago, literal


class StatusHeader(Static):
    DEFAULT_CSS = """
    StatusHeader {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
    }
    """

    def show(self, *, url: str, view: HeaderView, now: float, events_on: bool,
             read_only: bool, screen_title: str) -> None:
        connection, online, total = view.connection, view.online, view.total
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {screen_title} ", style="bold reverse")
        text.append(" ")
        text.append_text(literal(url))
        text.append(" │ ", style="dim")
        state = connection.state
        if state == "connected":
            text.append("● connected", style="bold green")
        elif state == "connecting":
            text.append("◌ connecting…", style="yellow")
        else:
            since = ago(now - connection.since)
            text.append(f"○ disconnected — retrying ({since})", style="bold red")
        text.append(" │ ", style="dim")
        if events_on:
            text.append("events on", style="green")
        else:
            text.append("no events", style="yellow")
        text.append(" │ ", style="dim")
        text.append(f"{online}/{total} workers",
                    style="bold" if online else "yellow")
        text.append(" │ ", style="dim")
        text.append(f"{view.tasks_per_s:.1f} tasks/s")
        if view.stuck:
            text.append(" │ ", style="dim")
            text.append(f"{view.stuck:,} stuck", style="bold yellow")
        if view.lost:
            text.append(" │ ", style="dim")
            text.append(f"{view.lost:,} lost", style="bold red")
        if read_only:
            text.append(" │ ", style="dim")
            text.append("🔒 read-only", style="bold yellow")
        self.update(text)
