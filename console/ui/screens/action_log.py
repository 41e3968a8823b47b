"""Action log (`5`): every action tried this session and each target's outcome."""

from __future__ import annotations

from datetime import datetime, timezone

from rich.text import Text
from textual.app import ComposeResult

from ...core.views import Topic
from ..format import literal
from ..widgets.status_line import STATUS_STYLES
from ..widgets.vim_table import VimTable
from .base import ConsoleScreen

COLUMNS = (("time", 8), ("action", 12), ("targets", 28), ("status", 8), ("outcome", 60))


class ActionLogScreen(ConsoleScreen):
    TITLE = "Action log"
    WATCHES = (Topic.ACTIONS,)

    def compose_body(self) -> ComposeResult:
        table = VimTable(id="action-log", cursor_type="row", zebra_stripes=True)
        for label, width in COLUMNS:
            table.add_column(label, key=label, width=width)
        yield table

    def refresh_view(self, now: float) -> None:
        actions = self.model.action_views()
        table = self.query_one(VimTable)
        table.clear()
        for i, action in enumerate(actions):
            when = datetime.fromtimestamp(action.at or 0, timezone.utc)
            status = action.status.value
            table.add_row(
                when.strftime("%H:%M:%S"), literal(action.action, 40),
                literal(", ".join(action.targets), 60),
                Text(status, style=STATUS_STYLES.get(status, "")),
                literal(action.summary, 300), key=str(i))
        if not actions:
            table.add_row("", "", Text("no actions yet this session", style="dim"), "", "")
