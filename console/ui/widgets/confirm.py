"""The confirmation every destructive action goes through.

It names every target, starts with focus on Cancel, and for purge asks the
operator to type what will be hit (the queue name, or how many queues)
before the dangerous button enables. Counts that must be fresh are read off
the UI thread while the dialog is open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ..format import literal, literal_block
from .safe_input import SafeInput

log = logging.getLogger(__name__)

MAX_LISTED = 14


class DialogBody(VerticalScroll, can_focus=False):
    """What a dialog says (title, targets, note, fields), scrolling inside
    the dialog on a small terminal so the buttons below always show (at
    60x20 only Cancel was left, and the purge dialog was cut at 80x24). Not
    focusable: tab goes from the fields to the buttons; PgUp/PgDn scroll it."""

    DEFAULT_CSS = """
    DialogBody { height: auto; max-height: 50vh; scrollbar-size-vertical: 1; }
    """


DIALOG_SCROLL_BINDINGS = [
    Binding("pageup", "scroll_body(-1)", "Scroll up", show=False),
    Binding("pagedown", "scroll_body(1)", "Scroll down", show=False),
]


def targets_text(targets: list[Text | str]) -> Text:
    """One line per target; a long list ends with "… and N more"."""
    text = Text()
    shown = targets if len(targets) <= MAX_LISTED else targets[: MAX_LISTED - 1]
    for i, target in enumerate(shown):
        if i:
            text.append("\n")
        text.append_text(literal(target))
    if len(shown) < len(targets):
        text.append(f"\n… and {len(targets) - len(shown)} more", style="bold")
    return text


class ConfirmDialog(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), *DIALOG_SCROLL_BINDINGS]
    DEFAULT_CSS = """
    ConfirmDialog { align: center middle; background: $background 60%; }
    ConfirmDialog > Vertical { width: 84; max-width: 100%; height: auto; max-height: 100%;
        border: thick $error; background: $surface; padding: 0 1; }
    ConfirmDialog #confirm-title { text-style: bold; color: $error; padding: 0 0 1 0; }
    ConfirmDialog #confirm-list { height: auto; }
    ConfirmDialog #confirm-note { color: $warning; height: auto; }
    ConfirmDialog #confirm-typed { margin: 1 0 0 0; }
    ConfirmDialog Horizontal { height: auto; align: right middle; margin: 1 0 0 0; }
    ConfirmDialog Button { margin: 0 0 0 2; }
    """

    def __init__(self, title: str | Text, targets: list[Text | str], confirm_label: str, *,
                 require: str | None = None, note: str | Text = "",
                 loader: Callable[[], list[Text | str]] | None = None):
        super().__init__()
        self.dialog_title = title
        self.targets = targets
        self.confirm_label = confirm_label
        self.require = require
        self.note = note
        self.loader = loader

    def compose(self) -> ComposeResult:
        with Vertical():
            with DialogBody():
                # Titles and notes name queues and workers: literal text.
                yield Label(literal_block(self.dialog_title), id="confirm-title")
                # Long lists end with "… and N more".
                yield Static(targets_text(self.targets), id="confirm-list")
                yield Static(literal_block(self.note), id="confirm-note")
            if self.require is not None:
                yield Label(Text.assemble("Type ", literal(self.require, style="bold"),
                                          " to enable ", (self.confirm_label, "bold"), ":"))
                yield SafeInput(placeholder="type it here", id="confirm-typed",
                                select_on_focus=False)
            with Horizontal():
                # Compact (one row): the buttons fit at 80x24.
                yield Button("Cancel", id="cancel", variant="primary", compact=True)
                yield Button(self.confirm_label, id="confirm", variant="error", compact=True,
                             disabled=self.require is not None)

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()
        if self.loader is not None:
            self.run_worker(self._load, thread=True, group="confirm", exit_on_error=False)

    def _load(self) -> None:
        assert self.loader is not None
        try:
            targets = self.loader()
        except Exception as exc:  # the dialog stays usable; say what failed
            log.exception("reading fresh counts for a confirmation")
            targets = self.targets + [literal(f"could not read fresh counts: {exc}",
                                              style="bold red")]
        self.app.call_from_thread(self._show_targets, targets)

    def _show_targets(self, targets: list[Text | str]) -> None:
        self.targets = targets
        self.query_one("#confirm-list", Static).update(targets_text(targets))

    def on_key(self, event) -> None:
        # Typing the name works without tabbing first: printable keys go to
        # the box, while enter and space still act on Cancel.
        if self.require is None or not event.character:
            return
        box = self.query_one(Input)
        # A key the box took never gets here (the Input stops it); one that
        # does was aimed at a button — perhaps queued before focus moved to
        # the box — and goes into the box, never lost.
        if event.character.isprintable() and not event.character.isspace():
            event.stop()
            event.prevent_default()
            self.set_focus(box)
            box.insert_text_at_cursor(event.character)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = event.value.strip() != self.require

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.require:
            self.dismiss(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm" and not event.button.disabled)

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_scroll_body(self, direction: int) -> None:
        body = self.query_one(DialogBody)
        body.scroll_relative(y=direction * max(1, body.size.height - 1), animate=False)
