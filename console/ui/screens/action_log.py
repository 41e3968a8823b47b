"""Action log (`5`): every remote-control action and each worker's reply."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from .base import ConsoleScreen


class ActionLogScreen(ConsoleScreen):
    TITLE = "Action log"
    WATCHES = ("actions",)

    def compose_body(self) -> ComposeResult:
        yield Static("No actions yet this session.", id="action-log-empty")
