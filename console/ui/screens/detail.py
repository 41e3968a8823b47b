"""What detail screens share: the header, the status line, the footer, and
a redraw every second (their content is small; ages keep changing)."""

from __future__ import annotations

from .frame import FramedScreen


class DetailScreen(FramedScreen):
    def on_mount(self) -> None:
        self.draw()
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        # Nothing moves under a dialog: a detail screen with a dialog (or
        # another screen) on top keeps what the operator is reading.
        if self.app.screen is self:
            self.draw()

    def on_screen_resume(self) -> None:
        self.app.update_header()

    def draw(self) -> None:
        """Redraw from the model."""
