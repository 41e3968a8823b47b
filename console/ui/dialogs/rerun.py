"""Re-run (`r`): the preflight, then the send.

The dialog opens at once (keys typed meanwhile stay in it) and plans each
task off the UI thread: the result backend first, then the event reprs.
It lists every task with its verdict — re-run as it was (and where its
arguments come from), needs editing (with the reason), or cannot — before
anything is sent. For one task that needs editing, its args and kwargs are
offered in fields prefilled with what is known, checked as literals as you
type. Focus starts on Cancel: Enter alone sends nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ...core.actions import InvalidInput, valid_queue, valid_seconds
from ...core.rerun import NotALiteral, RerunPlan, plan
from ..format import literal, literal_block, one_line, short_name
from ..widgets.confirm import DIALOG_SCROLL_BINDINGS, DialogBody, targets_text
from ..widgets.safe_input import SafeInput

log = logging.getLogger(__name__)

VERDICT_STYLES = {"as it was": "green", "needs editing": "yellow", "cannot": "bold red"}


def plan_line(p: RerunPlan) -> Text:
    line = Text.assemble((f"{one_line(p.uuid, 36):<36}", "cyan"), "  ",
                         (f"{short_name(p.name or '?', 26):<26}", "bold"), "  ",
                         (p.verdict, VERDICT_STYLES[p.verdict]), no_wrap=True,
                         overflow="ellipsis")
    if p.ready:
        line.append(f"  from {p.source}", style="dim")
    elif p.problem:
        line.append("\n    ")
        line.append_text(literal(p.problem, style="yellow"))
    return line


class RerunDialog(ModalScreen["dict[str, Any] | None"]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), *DIALOG_SCROLL_BINDINGS]
    DEFAULT_CSS = """
    RerunDialog { align: center middle; background: $background 60%; }
    RerunDialog > Vertical { width: 100; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1; }
    RerunDialog #rerun-title { text-style: bold; padding: 0 0 1 0; }
    RerunDialog #rerun-list { height: auto; }
    RerunDialog #rerun-note { color: $warning; height: auto; }
    RerunDialog .rerun-row { height: auto; margin: 1 0 0 0; }
    RerunDialog .rerun-row Label { width: 12; }
    RerunDialog .rerun-row Input { width: 1fr; }
    RerunDialog #rerun-error { color: $error; text-style: bold; height: auto; }
    RerunDialog #rerun-buttons { height: auto; align: right middle; margin: 1 0 0 0; }
    RerunDialog Button { margin: 0 0 0 2; }
    """

    def __init__(self, tasks: list, hidden: int = 0):
        super().__init__()
        self.tasks = tasks
        self.hidden = hidden
        self.plans: list[RerunPlan] | None = None
        self.touched = False  # a field typed in by the operator
        self._filling = False

    def compose(self) -> ComposeResult:
        count = f"{len(self.tasks)} task{'s' if len(self.tasks) != 1 else ''}"
        with Vertical():
            with DialogBody():
                yield Label(Text(f"Re-run {count} with the same arguments?"),
                            id="rerun-title")
                yield Static(targets_text([Text("reading the result backend and the "
                                                "events…", style="dim")]), id="rerun-list")
                notes = ["A new task is sent for each, with the same name, args and kwargs, "
                         "to its queue (or the one typed below); the original is untouched."]
                if self.hidden:
                    notes.append(f"{self.hidden} of them hidden by the current filter.")
                yield Static(literal_block("\n".join(notes)), id="rerun-note")
            with Horizontal(classes="rerun-row", id="rerun-args-row"):
                yield Label("args")
                yield SafeInput(id="rerun-args", compact=True, select_on_focus=False)
            with Horizontal(classes="rerun-row", id="rerun-kwargs-row"):
                yield Label("kwargs")
                yield SafeInput(id="rerun-kwargs", compact=True, select_on_focus=False)
            with Horizontal(classes="rerun-row"):
                yield Label("queue")
                yield SafeInput(placeholder="the original's queue", id="rerun-queue",
                                compact=True, select_on_focus=False)
            with Horizontal(classes="rerun-row"):
                yield Label("countdown")
                yield SafeInput(placeholder="seconds (none: at once)", id="rerun-countdown",
                                compact=True, select_on_focus=False)
            yield Static("", id="rerun-error")
            with Horizontal(id="rerun-buttons"):
                yield Button("Cancel", id="cancel", variant="primary", compact=True)
                yield Button("Re-run", id="confirm", variant="success", compact=True,
                             disabled=True)

    def on_mount(self) -> None:
        for row in ("#rerun-args-row", "#rerun-kwargs-row"):
            self.query_one(row).display = False
        self.set_focus(self.query_one("#cancel", Button))
        self.run_worker(self._plan, thread=True, group="rerun", exit_on_error=False)

    def _plan(self) -> None:
        app: Any = self.app  # the ConsoleApp: its target and model
        try:
            plans = [plan(app.target, app.state.task_view(t.uuid), t.uuid)
                     for t in self.tasks]
        except Exception:  # a bug of ours: said, never a traceback on screen
            log.exception("planning a re-run")
            plans = [RerunPlan(t.uuid, t.name, problem="could not be planned "
                               "(details in the console's log)") for t in self.tasks]
        app.call_from_thread(self._show, plans)

    def _show(self, plans: list[RerunPlan]) -> None:
        self.plans = plans
        self.query_one("#rerun-list", Static).update(targets_text(
            [plan_line(p) for p in plans]))
        editable = len(plans) == 1 and plans[0].verdict != "cannot"
        if editable:
            only = plans[0]
            self._filling = True
            for key, text in (("args", only.args_text), ("kwargs", only.kwargs_text)):
                self.query_one(f"#rerun-{key}-row").display = True
                self.query_one(f"#rerun-{key}", Input).value = text
            self.call_after_refresh(self._filled)
        self._check()

    def _filled(self) -> None:
        self._filling = False

    def _chosen(self) -> tuple[list[RerunPlan], dict[str, Any]]:
        """The plans to send and the options, or InvalidInput saying why not."""
        if self.plans is None:
            raise InvalidInput("still reading what is known of the tasks")
        plans = self.plans
        if len(plans) == 1 and plans[0].verdict != "cannot":
            args = self.query_one("#rerun-args", Input).value
            kwargs = self.query_one("#rerun-kwargs", Input).value
            only = plans[0]
            if not only.ready and args == only.args_text and kwargs == only.kwargs_text:
                # Untouched: refused for what it is (edited() skips the
                # length check, which only the unedited text needs).
                raise InvalidInput(only.problem or "cannot be re-run as known")
            if not only.ready or args != only.args_text or kwargs != only.kwargs_text:
                try:
                    plans = [only.edited(args, kwargs or "{}")]
                except NotALiteral as exc:
                    raise InvalidInput(str(exc)) from None
        ready = [p for p in plans if p.ready]
        if not ready:
            raise InvalidInput("no task can be re-run as known")
        queue_text = self.query_one("#rerun-queue", Input).value.strip()
        options = {"queue": valid_queue(queue_text) if queue_text else None,
                   "countdown": valid_seconds(
                       self.query_one("#rerun-countdown", Input).value, "countdown")}
        return ready, options

    def _check(self) -> bool:
        error = self.query_one("#rerun-error", Static)
        button = self.query_one("#confirm", Button)
        try:
            ready, _ = self._chosen()
        except InvalidInput as exc:
            error.update(literal_block(f"✗ {exc}") if self.plans is not None else "")
            button.disabled = True
            return False
        total = len(self.plans or ())
        error.update("")
        button.label = "Re-run" if len(ready) == total else f"Re-run the {len(ready)} ready"
        button.disabled = False
        return True

    def on_input_changed(self, event: Input.Changed) -> None:
        if not self._filling:
            self.touched = True
        self._check()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # Enter sends only after the operator typed something (an edit, a
        # queue, a countdown); untouched, it takes the button.
        event.stop()
        if self.touched and self._check():
            self._accept()

    def on_key(self, event: events.Key) -> None:
        """Keys typed before a field has focus stay in the dialog."""
        if not event.character or not event.character.isprintable() \
                or event.character.isspace():
            return
        if isinstance(self.focused, Input):
            return
        event.stop()
        event.prevent_default()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm" and not event.button.disabled:
            self._accept()
        else:
            self.dismiss(None)

    def _accept(self) -> None:
        try:
            ready, options = self._chosen()
        except InvalidInput:
            return
        self.dismiss({"plans": ready, **options})

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_scroll_body(self, direction: int) -> None:
        body = self.query_one(DialogBody)
        body.scroll_relative(y=direction * max(1, body.size.height - 1), animate=False)


def ask_rerun(app: Any, tasks: list, hidden: int = 0) -> None:
    if not tasks:
        return

    def done(values: dict[str, Any] | None) -> None:
        if values is None:
            return
        plans = values["plans"]
        app.perform(f"re-run {len(plans)} task(s)", app.actions.rerun, plans,
                    queue=values["queue"], countdown=values["countdown"])

    app.push_screen(RerunDialog(tasks, hidden), done)
