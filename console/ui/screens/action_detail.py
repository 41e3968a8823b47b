"""An Action log entry in full (`enter` on it): when, what was sent with
which arguments, and every target's outcome as it came back."""

from __future__ import annotations

from datetime import datetime, timezone

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from ...core.stores import ActionView
from ..format import argument_text, literal
from ..widgets.status_line import STATUS_STYLES
from .detail import DetailScreen

RESULT_STYLES = {"ok": "green", "error": "bold red", "no reply": "yellow",
                 "unknown": "bold red", "not sent": "bold red"}


class ActionDetailScreen(DetailScreen):
    TITLE = "Action"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="action.back")]
    DEFAULT_CSS = """
    ActionDetailScreen VerticalScroll { height: 1fr; padding: 0 1; }
    """

    def __init__(self, action: ActionView):
        super().__init__()
        self.action = action  # frozen: what happened does not change

    def compose_body(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(id="action-detail")

    def draw(self) -> None:
        action = self.action
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        when = datetime.fromtimestamp(action.at or 0, timezone.utc)
        status = action.status.value
        grid.add_row("action", literal(action.action))
        grid.add_row("at", Text(when.strftime("%Y-%m-%d %H:%M:%S UTC")))
        grid.add_row("status", Text(status, style=STATUS_STYLES.get(status, "")))
        grid.add_row("arguments", literal(argument_text(action.arguments, short=False),
                                          empty="—"))
        grid.add_row("outcome", literal(action.summary))
        grid.add_row("audit id", literal(action.audit_id, empty="—"))
        targets = Table(box=None, padding=(0, 2), show_edge=False, header_style="bold dim",
                        title=f"Targets: {len(action.targets)}", title_justify="left",
                        title_style="bold")
        targets.add_column("target", no_wrap=True)
        targets.add_column("result", no_wrap=True)
        targets.add_column("count", justify="right")
        targets.add_column("said")
        for target in action.targets:
            result = action.results.get(target)
            if result is None:
                targets.add_row(literal(target), Text("—", style="dim"), "", "")
                continue
            kind = result.kind.value
            targets.add_row(literal(target), Text(kind, style=RESULT_STYLES.get(kind, "")),
                            literal("" if result.count is None else f"{result.count:,}"),
                            literal(result.text))
        self.query_one("#action-detail", Static).update(Group(grid, Text(), targets))
