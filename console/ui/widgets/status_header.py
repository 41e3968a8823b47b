"""The header line: where we are connected and how the cluster is doing.

Textual's Header shows a title and a clock only; an operator needs the
broker, the connection state, events, workers and throughput at a glance,
so this is a Static redrawn by the app's refresh tick.
"""

from __future__ import annotations

from datetime import datetime, timezone

from rich.text import Text
from textual.widgets import Static

from ...core.record import RecorderView
from ...core.replay import ReplayView
from ...core.views import HeaderView
from ..format import ago, literal, plural

# Under a second is delivery as usual (and clocks between hosts disagree by
# that much): shown from here.
BEHIND_SHOWN_SECONDS = 1.0


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
             read_only: bool, screen_title: str, replay: ReplayView | None = None,
             recording: RecorderView | None = None) -> None:
        connection, online, total = view.connection, view.online, view.total
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {screen_title} ", style="bold reverse")
        text.append(" ")
        if replay is not None:
            # A replay is not a cluster: the header says so first, and
            # where in the recording the screens are.
            text.append_text(replay_text(replay))
        else:
            text.append_text(literal(url))
        text.append(" │ ", style="dim")
        state = connection.state
        if replay is not None:
            if replay.bad:
                text.append(f"{plural(replay.bad, 'bad line')} skipped", style="yellow")
            else:
                text.append(f"{replay.applied:,} events")
        elif state == "connected":
            text.append("● connected", style="bold green")
        elif state == "connecting":
            text.append("◌ connecting…", style="yellow")
        else:
            since = ago(now - connection.since)
            text.append(f"○ disconnected — retrying ({since})", style="bold red")
        # The flags an operator must not miss come before the figures, so a
        # narrow terminal's ellipsis never cuts them: read-only, recording,
        # intake lag, stuck and lost tasks.
        if read_only:
            text.append(" │ ", style="dim")
            text.append("🔒 read-only", style="bold yellow")
        if recording is not None:
            text.append(" │ ", style="dim")
            if recording.errors:
                text.append("⏺ rec failing", style="bold red")
            else:
                text.append("⏺ rec", style="bold red")
        self._intake(text, view)
        if view.stuck:
            text.append(" │ ", style="dim")
            text.append(f"{view.stuck:,} stuck", style="bold yellow")
        if view.lost:
            text.append(" │ ", style="dim")
            text.append(f"{view.lost:,} lost", style="bold red")
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
        self.update(text)

    @staticmethod
    def _intake(text: Text, view: HeaderView) -> None:
        """Only when intake lags or lost events: a console that keeps up
        says nothing more."""
        intake = view.intake
        parts = []
        if intake.behind is not None and intake.behind >= BEHIND_SHOWN_SECONDS:
            parts.append(f"{intake.behind:,.1f} s behind")
        if intake.waiting:
            parts.append(f"{intake.waiting:,} events waiting")
        if parts:
            text.append(" │ ", style="dim")
            text.append("⚠ intake " + ", ".join(parts), style="bold yellow")
        if intake.disconnects:
            text.append(" │ ", style="dim")
            text.append(f"⚠ {intake.disconnects:,} event "
                        f"{'disconnect' if intake.disconnects == 1 else 'disconnects'}"
                        " (events lost)", style="bold red")


def replay_text(replay: ReplayView) -> Text:
    """``replay ×10, paused, at 2026-11-22 09:30:12 UTC``."""
    when = datetime.fromtimestamp(replay.at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    mode = "ended" if replay.done else "paused" if replay.paused else "playing"
    style = "bold magenta" if not replay.paused or replay.done else "bold reverse magenta"
    # No ⏵/⏸ glyphs: terminals and fonts disagree on their width.
    return Text(f"replay ×{replay.speed_text}, {mode}, at {when}", style=style)
