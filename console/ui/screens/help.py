"""`?`: every key of the current screen, shown or not in the footer, and
what the screen's numbers mean."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ..format import literal

# The safety rule every dialog follows (docs/keymap.md).
RULE = ("Enter never changes the cluster by itself: every change is a value you "
        "typed or a button you pressed after reading it.")

NAVIGATION = (
    ("j k ↑ ↓", "move (the cursor then stays on that row's task, wherever it moves)"),
    ("g G", "first / last row, and follow it as rows arrive"),
    ("PgUp PgDn", "page"), ("enter", "open the detail of the row"),
    ("escape", "back / close / clear the filter"),
    ("/", "filter: words ANDed, field:value narrows (→ completes); a field or "
          "value that does not exist is an error, never an empty table"),
    (":", "command line: :tasks FILTER, :task UUID, :workers, :qu(eues), :events, :log, "
          ":types, :failures, :beat, :doctor, :ctx NAME, :q quits"),
    ("ctrl+p", "command palette: every action here, and those of the other screens"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 80; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1; }
    HelpScreen VerticalScroll { height: auto; max-height: 70vh; }
    HelpScreen #help-rule { width: 100%; margin: 0 0 1 0; }
    """

    def __init__(self, title: str, keys: list[tuple[str, str]],
                 notes: tuple[str, ...] = ()):
        super().__init__()
        self.help_title = title
        self.keys = keys
        self.notes = notes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text.assemble(literal(self.help_title, style="bold"), " — keys"))
            yield Label(Text(RULE, style="bold yellow"), id="help-rule")
            # A rich table, not a DataTable: long descriptions wrap instead
            # of being cut, and it scrolls on a small terminal.
            table = Table(box=None, padding=(0, 1), show_header=True, header_style="bold dim",
                          expand=True)
            table.add_column("key", width=12, no_wrap=True, style="bold")
            table.add_column("does", ratio=1, overflow="fold")
            for key, description in self.keys + list(NAVIGATION):
                table.add_row(literal(key), literal(description))
            notes = [literal(note, style="dim") for note in self.notes]
            with VerticalScroll():
                yield Static(Group(table, *([Text()] + notes if notes else [])),
                             id="help-keys")
            yield Label(Text("escape or ? closes", style="dim"))

    def action_close(self) -> None:
        self.dismiss(None)
