"""`?`: every key of the current screen, shown or not in the footer."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from ..format import literal

# The safety rule every dialog follows (docs/keymap.md).
RULE = ("Enter never changes the cluster by itself: every change is a value you "
        "typed or a button you pressed after reading it.")

NAVIGATION = (
    ("j k ↑ ↓", "move"), ("g G", "first / last row"), ("PgUp PgDn", "page"),
    ("enter", "open the detail of the row"), ("escape", "back / close"),
    ("ctrl+p", "command palette: every action here"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 72; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 0 1; }
    HelpScreen #help-rule { width: 100%; margin: 0 0 1 0; }
    """

    def __init__(self, title: str, keys: list[tuple[str, str]]):
        super().__init__()
        self.help_title = title
        self.keys = keys

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text.assemble(literal(self.help_title, style="bold"), " — keys"))
            yield Label(Text(RULE, style="bold yellow"), id="help-rule")
            table: DataTable[Text] = DataTable(show_cursor=False, zebra_stripes=True)
            table.add_column("key", width=14)
            table.add_column("does", width=52)
            for key, description in self.keys + list(NAVIGATION):
                table.add_row(literal(key), literal(description))
            table.styles.height = table.row_count + 1
            yield table
            yield Label(Text("escape or ? closes", style="dim"))

    def action_close(self) -> None:
        self.dismiss(None)
