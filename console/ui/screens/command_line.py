"""The `:` command line (k9s style): `:tasks state:FAILURE`, `:w`, `:q`…"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from ...core.filters import SPECS, FilterError
from ..format import literal
from ..widgets.safe_input import SafeInput

# Command words and aliases, to the screen (mode) they open.
SCREENS = {
    "workers": "workers", "worker": "workers", "w": "workers",
    "tasks": "tasks", "task": "tasks", "t": "tasks",
    "queues": "queues", "queue": "queues", "qu": "queues",
    "events": "events", "event": "events", "e": "events",
    "log": "log", "l": "log", "actions": "log", "a": "log",
    "types": "types", "type": "types", "ty": "types",
    "failures": "failures", "failure": "failures", "fa": "failures",
    "doctor": "doctor", "dr": "doctor",
    "beat": "beat", "schedule": "beat", "periodic": "beat",
}
# `:q` quits, as in vim and k9s (Queues is `:qu`, `:queues` or `3`).
QUIT_WORDS = {"q", "quit", "exit", "q!", "qa", "wq"}
# `:ctx NAME` attaches to another context of the config file (k9s' :ctx).
CONTEXT_WORDS = {"ctx", "context"}


def parse_command(text: str) -> tuple[str, str]:
    """``"tasks state:FAILURE"`` -> ``("tasks", "state:FAILURE")``.

    Raises ValueError with a message a person can act on."""
    text = text.strip().lstrip(":").strip()
    if not text:
        raise ValueError("type a screen name: workers, tasks, queues, events, log, types, "
                         "failures, beat, doctor")
    word, _, rest = text.partition(" ")
    word = word.lower()
    if word in QUIT_WORDS:
        return "quit", ""
    if word in CONTEXT_WORDS:
        return "context", rest.strip()
    if word not in SCREENS:
        raise ValueError(f"unknown command {word!r}: try workers (w), tasks (t), "
                         "queues (qu), events (e), log (l), types (ty), failures (fa), "
                         "beat, doctor (dr), ctx NAME or quit (q)")
    mode, rest = SCREENS[word], rest.strip()
    if word == "task" and rest and " " not in rest and ":" not in rest:
        # `:task UUID` looks one task up (held or not); `:tasks TEXT` filters.
        return "lookup", rest
    if rest and mode in SPECS:
        try:
            SPECS[mode].parse(rest)
        except FilterError as exc:
            raise ValueError(str(exc)) from None
    return mode, rest


class CommandLine(ModalScreen[tuple[str, str] | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    CommandLine { align: left bottom; background: $background 30%; }
    CommandLine > #command-box { height: auto; width: 100%; background: $panel; }
    CommandLine Input, CommandLine Input:focus { border: none; height: 1; padding: 0 1; }
    CommandLine #command-error { color: $error; padding: 0 1; height: auto; }
    """

    def compose(self) -> ComposeResult:
        from textual.containers import Vertical

        with Vertical(id="command-box"):
            yield Label("", id="command-error")
            yield SafeInput(placeholder=":workers  :tasks state:FAILURE  :task UUID  :queues  "
                                        ":events  :log",
                        id="command-input")

    def on_key(self, event: events.Key) -> None:
        # Typed right after `:` (before the box has focus): into the box,
        # never to the app's keys (`:q` typed fast used to quit at the `q`).
        box = self.query_one(Input)
        if self.focused is not box and event.character and event.character.isprintable():
            event.stop()
            event.prevent_default()
            self.set_focus(box)
            box.insert_text_at_cursor(event.character)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(parse_command(event.value))
        except ValueError as exc:
            # Stays open on the text with the reason; the next key clears it.
            self.query_one("#command-error", Label).update(literal(str(exc)))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#command-error", Label).update("")

    def action_cancel(self) -> None:
        self.dismiss(None)
