"""Queue detail (`enter` on a queue): depth history, consumers, sources."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label, Sparkline, Static

from ..format import ago, count, one_line
from .detail import DetailScreen
from .queues import consumers_of, net_rate


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
        model = self.app.state
        now = self.app.now()
        with model.lock:
            queue = dict(model.queues.get(self.queue_name) or {"name": self.queue_name})
            history = list(model.queue_history.get(self.queue_name, ()))
            workers = consumers_of(model, self.queue_name)
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        exists = queue.get("exists")
        rate = net_rate(history)
        for label, value in (
            ("queue", self.queue_name),
            ("messages", "missing on the broker" if exists is False else count(queue.get("messages"))),
            ("consumers", count(queue.get("consumers"))),
            ("consumed by", ", ".join(workers) or "no worker (from inspections)"),
            ("known from", ", ".join(queue.get("sources") or []) or "—"),
            ("net change", "—" if rate is None else f"{rate:+.1f} messages/s over 30 s"),
            ("probed", ago(now - queue["probed_at"]) + " ago" if queue.get("probed_at") else "—"),
            ("error", queue.get("error") or "—"),
        ):
            # Text, not str: a str cell is Rich markup, and a queue name or
            # broker error holding "[/x]" would raise MarkupError.
            table.add_row(label, Text(one_line(value)))
        self.query_one("#queue-info", Static).update(table)
        depths = [m for _, m in history]
        span = ago(now - history[0][0]) if history else "—"
        self.query_one("#history-label", Label).update(
            f"depth, last {span}: now {count(depths[-1]) if depths else '—'}, "
            f"peak {count(max(depths)) if depths else '—'}")
        self.query_one(Sparkline).data = depths
