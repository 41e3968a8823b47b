"""Action log (`5`): every action tried this session and each target's outcome."""

from __future__ import annotations

from datetime import datetime, timezone

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ...core.filters import ACTION_SPEC, RowFilter
from ...core.stores import ActionView
from ...core.views import Topic
from ..format import argument_text, literal, one_line, plural
from ..widgets.status_line import STATUS_STYLES
from ..widgets.vim_table import VimTable
from .base import ConsoleScreen
from .filtering import Filtered

COLUMNS = (("time", 8), ("action", 12), ("arguments", 26), ("targets", 38), ("status", 8),
           ("outcome", 80))


class ActionLogScreen(Filtered[RowFilter], ConsoleScreen):
    TITLE = "Action log"
    WATCHES = (Topic.ACTIONS,)
    FILTER_SPEC = ACTION_SPEC
    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/", id="log.filter",
                tooltip="Filter: text, action:, target:, status:ok,error, outcome:"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="log.clear",
                tooltip="Clear the filter"),
        Binding("enter", "open", "Detail", id="log.detail",
                tooltip="The entry in full: every target's outcome, the arguments"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._shown: dict[str, ActionView] = {}

    def compose_body(self) -> ComposeResult:
        yield Static(id="log-title")
        yield VimTable.of_columns("action-log", COLUMNS)
        yield self.filter_box("filter: text  action:revoke  status:error  target:alpha",
                              id="log-filter")

    def filter_focus(self) -> None:
        self.query_one(VimTable).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # The table takes enter before the screen's binding sees it.
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        action = self._shown.get(self.query_one(VimTable).cursor_key or "")
        if action is not None:
            self.app.open_action(action)

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
        chosen_key = table.cursor_key
        table.clear()
        # Keyed by the entry's place in the session's log: stable while new
        # ones arrive, so the cursor stays on the entry being read.
        self._shown = {}
        for action in actions:
            key = str(action.seq)
            self._shown[key] = action
            when = datetime.fromtimestamp(action.at or 0, timezone.utc)
            status = action.status.value
            table.add_row(
                when.strftime("%H:%M:%S"), literal(action.action, 40),
                Text(argument_text(action.arguments), overflow="ellipsis", no_wrap=True),
                Text(_targets(action), overflow="ellipsis", no_wrap=True),
                Text(status, style=STATUS_STYLES.get(status, "")),
                literal(action.summary, 300), key=key)
        if chosen_key in self._shown:
            table.move_cursor(row=table.get_row_index(chosen_key), animate=False)
        if not actions:
            table.add_row("", "", Text("no actions yet this session" if not every
                                       else "none matches the filter", style="dim"), "", "")


def _targets(action: ActionView) -> str:
    """Full ids and names, comma-separated; the column ends in … when they
    do not fit. Several tasks: their count first."""
    targets = [one_line(t, 200) for t in action.targets]
    head = f"{len(targets)}: " if len(targets) > 2 else ""
    return head + ", ".join(targets)


def action_parts(action: ActionView) -> dict[str, str]:
    """An Action log entry as its filter reads it."""
    return {"action": action.action.lower(), "target": " ".join(action.targets).lower(),
            "status": action.status.value, "outcome": action.summary.lower()}
