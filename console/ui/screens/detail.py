"""What detail screens share: the header, the status line, the footer, and
a redraw every second (their content is small; ages keep changing)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

from ..widgets.status_header import StatusHeader
from ..widgets.status_line import StatusLine


class DetailScreen(Screen):
    def compose(self) -> ComposeResult:
        yield StatusHeader()
        yield Footer()
        yield StatusLine()
        yield from self.compose_body()

    def compose_body(self) -> ComposeResult:
        return ()

    def on_mount(self) -> None:
        self.draw()
        self.set_interval(1.0, self.draw)

    def on_screen_resume(self) -> None:
        self.app.update_header()

    def draw(self) -> None:
        """Redraw from the model."""
