"""Action log (`5`): every action tried this session and each target's outcome."""

from __future__ import annotations

from datetime import datetime, timezone

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from ...core.filters import ACTION_SPEC, RowFilter
from ...core.stores import ActionView
from ...core.views import Topic
from ..format import literal, plural
from ..widgets.status_line import STATUS_STYLES
from ..widgets.vim_table import VimTable
from .base import ConsoleScreen
from .filtering import Filtered

COLUMNS = (("time", 8), ("action", 12), ("targets", 28), ("status", 8), ("outcome", 60))


class ActionLogScreen(Filtered[RowFilter], ConsoleScreen):
    TITLE = "Action log"
    WATCHES = (Topic.ACTIONS,)
    FILTER_SPEC = ACTION_SPEC
    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/", id="log.filter",
                tooltip="Filter: text, action:, target:, status:ok,error, outcome:"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="log.clear",
                tooltip="Clear the filter"),
    ]

    def compose_body(self) -> ComposeResult:
        yield Static(id="log-title")
        table = VimTable(id="action-log", cursor_type="row", zebra_stripes=True)
        for label, width in COLUMNS:
            table.add_column(label, key=label, width=width)
        yield table
        yield self.filter_box("filter: text  action:revoke  status:error  target:alpha",
                              id="log-filter")

    def filter_focus(self) -> None:
        self.query_one(VimTable).focus()

    def refresh_view(self, now: float) -> None:
        every = self.model.action_views()
        chosen = self.row_filter
        actions = [a for a in every if not chosen or chosen.matches(action_parts(a))]
        title = self.filter_title(Text(no_wrap=True, overflow="ellipsis"))
        title.append(f" {plural(len(actions), 'action')}", style="bold")
        if len(actions) != len(every):
            title.append(f" of {len(every):,}")
        self.query_one("#log-title", Static).update(title)
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
            table.add_row("", "", Text("no actions yet this session" if not every
                                       else "none matches the filter", style="dim"), "", "")


def action_parts(action: ActionView) -> dict[str, str]:
    """An Action log entry as its filter reads it."""
    return {"action": action.action.lower(), "target": " ".join(action.targets).lower(),
            "status": action.status.value, "outcome": action.summary.lower()}
