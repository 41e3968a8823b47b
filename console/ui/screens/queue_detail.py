"""Queue detail (`enter` on a queue): depth history, consumers, sources."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label, Sparkline, Static

from ..format import ago, count, literal
from .detail import DetailScreen


class QueueDetailScreen(DetailScreen):
    TITLE = "Queue"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="queue.back")]
    DEFAULT_CSS = """
    QueueDetailScreen #queue-info { padding: 0 1; height: auto; }
    QueueDetailScreen Label { padding: 1 1 0 1; }
    QueueDetailScreen Sparkline { height: 6; margin: 0 1; }
    """

    def __init__(self, name: str):
        super().__init__()
        self.queue_name = name

    def compose_body(self) -> ComposeResult:
        yield Static(id="queue-info")
        yield Label("", id="history-label")
        yield Sparkline([], id="queue-history")

    def draw(self) -> None:
        now = self.app.now()
        queue = self.app.state.queue_view(self.queue_name)
        history = queue.history
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        rate = queue.net_rate
        for label, value in (
            ("queue", self.queue_name),
            ("messages", "missing on the broker" if queue.exists is False
             else count(queue.messages)),
            ("consumers", count(queue.consumers)),
            ("consumed by", ", ".join(queue.consumed_by) or "no worker (from inspections)"),
            ("known from", ", ".join(queue.sources) or "—"),
            ("net change", "—" if rate is None else f"{rate:+.1f} messages/s over 30 s"),
            ("probed", ago(now - queue.probed_at) + " ago" if queue.probed_at else "—"),
            ("error", queue.error or "—"),
        ):
            # Literal: a queue name or broker error holding "[/x]" is data.
            table.add_row(label, literal(value))
        self.query_one("#queue-info", Static).update(table)
        depths = [m for _, m in history]
        span = ago(now - history[0][0]) if history else "—"
        self.query_one("#history-label", Label).update(Text(
            f"depth, last {span}: now {count(depths[-1]) if depths else '—'}, "
            f"peak {count(max(depths)) if depths else '—'}"))
        self.query_one(Sparkline).data = depths
