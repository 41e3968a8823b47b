"""The `/` filter line: an Input that opens on demand, applies on enter and
closes on escape, leaving the filter applied."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input

from .safe_input import SafeInput


class FilterBar(SafeInput):
    BINDINGS = [Binding("escape", "close", "Cancel", show=False)]
    DEFAULT_CSS = """
    FilterBar, FilterBar:focus { dock: bottom; display: none; height: 1; border: none;
        padding: 0 1; margin-bottom: 2; }  /* above the status line and footer */
    FilterBar.editing { display: block; }
    """

    class Applied(Message):
        def __init__(self, bar: FilterBar, text: str) -> None:
            super().__init__()
            self.bar = bar
            self.text = text

    def open(self, current: str) -> None:
        self.value = current
        self.add_class("editing")
        # Focused now, not after a refresh (``focus()`` is deferred): keys
        # typed right after `/` — a fast typist, a paste — are already
        # queued behind it and must land here, not on the screen's keys.
        self.screen.set_focus(self)

    @property
    def editing(self) -> bool:
        return self.has_class("editing")

    def action_close(self) -> None:
        self.remove_class("editing")
        self.screen.focus_next()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.remove_class("editing")
        self.post_message(self.Applied(self, event.value))
        self.screen.focus_next()
