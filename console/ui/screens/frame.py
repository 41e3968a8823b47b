"""The frame every console screen has: status header, status line, footer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer

from ..widgets.status_header import StatusHeader
from ..widgets.status_line import StatusLine

if TYPE_CHECKING:
    from textual import getters

    from ..app import ConsoleApp


class FramedScreen(Screen):
    """Subclasses give their content in ``compose_body``."""

    # Actions that change the cluster: under --read-only their keys vanish
    # from the footer, help and palette (core refuses them anyway).
    MUTATING: frozenset[str] = frozenset()

    if TYPE_CHECKING:
        # Textual types the running app as App; a console screen runs only in
        # the ConsoleApp.
        app = getters.app(ConsoleApp)

    def check_action(self, action: str, parameters) -> bool | None:
        if action in self.MUTATING and self.app.options.read_only:
            return False
        return True

    DEFAULT_CSS = """
    FramedScreen #frame-bottom { dock: bottom; height: 2; }
    """

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        # One docked box for both bottom lines: two widgets docked to the
        # same edge would overlap, and the status line would hide the footer.
        with Vertical(id="frame-bottom"):
            yield StatusLine()
            yield Footer(compact=True)
        yield from self.compose_body()

    def compose_body(self) -> ComposeResult:
        return ()
