"""The frame every console screen has: status header, status line, footer."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

from ..widgets.status_header import StatusHeader
from ..widgets.status_line import StatusLine


class FramedScreen(Screen):
    """Subclasses give their content in ``compose_body``."""

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        yield Footer()
        yield StatusLine()
        yield from self.compose_body()

    def compose_body(self) -> ComposeResult:
        return ()
