"""Queues (`3`): depths read from the broker on a schedule."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable

from ..format import ago, count
from ..widgets.vim_table import VimTable
from .base import ConsoleScreen

COLUMNS = (("queue", 24), ("messages", 10), ("consumers", 9),
           ("known from", 44), ("probed", 7))


class QueuesScreen(ConsoleScreen):
    TITLE = "Queues"
    WATCHES = ("queues",)

    def compose_body(self) -> ComposeResult:
        table = VimTable(id="queues", cursor_type="row", zebra_stripes=True)
        for label, width in COLUMNS:
            table.add_column(label, key=label, width=width)
        yield table

    def refresh_view(self, now: float) -> None:
        with self.model.lock:
            queues = sorted(self.model.queues.values(), key=lambda q: q["name"])
        table = self.query_one(DataTable)
        present = {row.value for row in table.rows}
        for queue in queues:
            values = (queue["name"], _messages(queue), count(queue["consumers"]),
                      ", ".join(queue["sources"]),
                      ago(now - queue["probed_at"]) if queue.get("probed_at") else "—")
            if queue["name"] in present:
                for (label, _), value in zip(COLUMNS, values):
                    table.update_cell(queue["name"], label, value)
            else:
                table.add_row(*values, key=queue["name"])
        for name in present - {q["name"] for q in queues}:
            table.remove_row(name)


def _messages(queue: dict):
    if queue.get("error"):
        return Text("error", style="bold red")
    if queue.get("exists") is False:
        return Text("missing", style="yellow")
    messages = queue.get("messages")
    return Text(count(messages), style="bold" if messages else "")
