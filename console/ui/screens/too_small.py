"""Shown instead of the console on a terminal smaller than it can draw."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

# The smallest terminal every screen and dialog is drawn for (tests check
# the dialogs at 60x20 and every screen at 80x24).
MIN_WIDTH, MIN_HEIGHT = 60, 18


def too_small(width: int, height: int) -> bool:
    return width < MIN_WIDTH or height < MIN_HEIGHT


class TooSmallScreen(ModalScreen[None]):
    """Covers everything (below it, nothing moves and no key reaches it)
    until the terminal is large enough again; q and ctrl+c still quit."""

    BINDINGS = [Binding("q", "app.quit", "Quit", show=False)]
    DEFAULT_CSS = """
    TooSmallScreen { align: center middle; background: $background; }
    TooSmallScreen Static { width: auto; height: auto; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="too-small")

    def on_mount(self) -> None:
        self.show(self.app.size.width, self.app.size.height)

    def on_resize(self) -> None:
        self.show(self.app.size.width, self.app.size.height)

    def show(self, width: int, height: int) -> None:
        self.query_one(Static).update(Text(
            f"This terminal is {width}x{height}.\nThe console needs at least "
            f"{MIN_WIDTH}x{MIN_HEIGHT}.\nEnlarge the window (q quits).", style="bold yellow"))
