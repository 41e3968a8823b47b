"""The dialog of a selective purge or a move: what will go, what will stay.

It opens on Cancel and reads a fresh count off the UI thread; the button
enables only once the operator has typed that count (a number they have
just read, never a default). It names the queue, the match and, when
workers already hold matching tasks, offers to revoke them by id in the
same step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from ...core.messages import Selection
from ..format import literal, literal_block, one_line, plural
from ..widgets.confirm import (
    DIALOG_SCROLL_BINDINGS,
    ConfirmDialog,
    DialogBody,
    targets_text,
)
from ..widgets.safe_input import SafeInput

log = logging.getLogger(__name__)


def _name_cell(name: str) -> Text:
    text = literal(name, 27, style="bold")
    text.pad_right(28 - text.cell_len)
    return text


def purge_dialog(app: Any, names: list[str], note: str = "",
                 then: Callable[[], None] | None = None) -> None:
    """The whole-queue purge: the names, a fresh count of each, the name (or
    the number of queues) typed before the button enables."""
    single = len(names) == 1
    # The queue's name as it is: a title read as markup showed
    # "evil[b]q[red]x" as "evilqx", and the operator confirmed a name
    # that is not the queue's.
    title = (Text.assemble("Purge every message in queue ", literal(names[0]), "?")
             if single else Text(f"Purge every message in these {len(names)} queues?"))
    reading: list[Text | str] = [
        Text.assemble(_name_cell(n), ("reading count from the broker…", "dim"))
        for n in names]

    def fresh_counts() -> list[Text | str]:
        depths = app.read_depths(names)
        lines: list[Text | str] = []
        for name in names:
            depth = depths[name]
            if depth.error:
                status = literal(f"error: {depth.error}", style="bold red")
            elif depth.exists is False:
                status = Text("missing on the broker: will be refused", style="yellow")
            else:
                status = Text(f"{depth.messages:,} messages now", style="bold")
            lines.append(Text.assemble(_name_cell(name), status))
        return lines

    def done(confirmed: bool | None) -> None:
        if confirmed:
            app.perform(f"purge {', '.join(names)}", app.actions.purge, names, then=then)

    app.push_screen(ConfirmDialog(
        title, reading, "Purge", require=names[0] if single else str(len(names)),
        note=note, loader=fresh_counts), done)


class SurgeryDialog(ModalScreen["dict[str, Any] | None"]):
    """Dismisses with ``{"revoke_held": bool, "destination": str}``, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), *DIALOG_SCROLL_BINDINGS]
    DEFAULT_CSS = """
    SurgeryDialog { align: center middle; background: $background 60%; }
    SurgeryDialog > Vertical { width: 84; max-width: 100%; height: auto; max-height: 100%;
        border: thick $error; background: $surface; padding: 0 1; }
    SurgeryDialog #surgery-title { text-style: bold; color: $error; padding: 0 0 1 0; }
    SurgeryDialog #surgery-list { height: auto; }
    SurgeryDialog #surgery-note { color: $warning; height: auto; }
    SurgeryDialog .surgery-row { height: auto; margin: 1 0 0 0; }
    SurgeryDialog .surgery-row Label { width: 14; }
    SurgeryDialog .surgery-row Input { width: 1fr; }
    SurgeryDialog #surgery-typed { margin: 0; }
    SurgeryDialog #surgery-buttons { height: auto; align: right middle; margin: 1 0 0 0; }
    SurgeryDialog Button { margin: 0 0 0 2; }
    """

    def __init__(self, title: Text, queue: str, match_text: str, confirm_label: str,
                 verb: str, loader: Callable[[], Selection], *,
                 destination: str | None = None, note: str | Text = ""):
        super().__init__()
        self.dialog_title = title
        self.queue = queue
        self.match_text = match_text
        self.confirm_label = confirm_label
        self.verb = verb  # "removed", "moved"
        self.loader = loader
        self.destination = destination
        self.note = note
        self.require: str | None = None
        self.selection: Selection | None = None
        self.held_matching: int = 0
        self._refused = False  # the label says why Enter did nothing

    def compose(self) -> ComposeResult:
        with Vertical():
            with DialogBody():
                yield Label(literal_block(self.dialog_title), id="surgery-title")
                yield Static(targets_text([Text("counting on the broker…", style="dim")]),
                             id="surgery-list")
                yield Static(literal_block(self.note), id="surgery-note")
            if self.destination is not None:
                with Horizontal(classes="surgery-row"):
                    yield Label("to queue")
                    yield SafeInput(self.destination, id="surgery-destination",
                                    compact=True, select_on_focus=False)
            yield Checkbox("", False, id="surgery-revoke", compact=True)
            yield Label(Text("reading the count…", style="dim"), id="surgery-require")
            yield SafeInput(placeholder="type the count here", id="surgery-typed",
                            select_on_focus=False, compact=True)
            with Horizontal(id="surgery-buttons"):
                yield Button("Cancel", id="cancel", variant="primary", compact=True)
                yield Button(self.confirm_label, id="confirm", variant="error",
                             compact=True, disabled=True)

    def on_mount(self) -> None:
        self.query_one("#surgery-revoke", Checkbox).display = False
        self.set_focus(self.query_one("#cancel", Button))
        self.run_worker(self._load, thread=True, group="surgery", exit_on_error=False)

    def _load(self) -> None:
        try:
            selection = self.loader()
        except Exception as exc:  # the dialog stays usable; say what failed
            log.exception("counting the messages of a selective operation")
            selection = Selection(self.queue, error=f"{type(exc).__name__}: {exc}")
        self.app.call_from_thread(self._show, selection)

    def _show(self, selection: Selection) -> None:
        self.selection = selection
        lines: list[Text | str] = []
        if selection.error:
            lines.append(literal(f"cannot count: {selection.error}", style="bold red"))
            self.query_one("#surgery-require", Label).update(
                Text("nothing can be done until the queue can be read", style="bold red"))
            self.query_one("#surgery-list", Static).update(targets_text(lines))
            return
        lines.append(Text.assemble(literal(self.queue, style="bold"),
                                   f": {selection.depth or 0:,} messages now"))
        lines.append(Text.assemble(
            f"of {selection.scope}: ", (f"{selection.matched:,}", "bold red"),
            f" match and will be {self.verb}, ", (f"{selection.kept:,}", "bold green"),
            " stay"))
        for name, n in sorted(selection.by_name.items(), key=lambda kv: -kv[1])[:5]:
            lines.append(Text.assemble(f"  {n:>9,}  ", literal(name, 60)))
        held = selection.held
        checkbox = self.query_one("#surgery-revoke", Checkbox)
        if held is not None and held.error:
            lines.append(literal(f"what workers hold is unknown: {held.error}",
                                 style="yellow"))
        elif held is not None and held.tasks:
            from ...core.messages import parse_match
            matching = held.matching(parse_match(self.match_text))
            self.held_matching = len(matching)
            lines.append(Text(
                ("" if held.complete else "(not every worker answered) ")
                + f"workers already hold {plural(len(held.tasks), 'task')} of this queue "
                f"({held.source}), {len(matching):,} matching: a {self.verb[:-1]} cannot "
                "reach them",
                style="yellow"))
            if matching and self.verb == "removed":
                checkbox.label = Text(f"also revoke the {len(matching):,} matching "
                                      "tasks workers hold (by id)")
                checkbox.display = True
        self.query_one("#surgery-list", Static).update(targets_text(lines))
        if not selection.matched:
            self.query_one("#surgery-require", Label).update(
                Text(f"nothing matches: nothing to be {self.verb}", style="bold"))
            return
        self.require = str(selection.matched)
        self._ask_for_count()
        self._check(self.query_one("#surgery-typed", Input).value)

    def _ask_for_count(self) -> None:
        self._refused = False
        self.query_one("#surgery-require", Label).update(Text.assemble(
            "Type ", (self.require or "", "bold"), " (the number of messages) to enable ",
            (self.confirm_label, "bold"), ":"))

    def on_key(self, event: events.Key) -> None:
        """Keys never reach the screen below: a printable key typed away
        from a text box goes into the count box; enter and space still act
        on the focused button."""
        if not event.character or not event.character.isprintable() \
                or event.character.isspace():
            return
        # A printable key an Input took never gets here (the Input stops it);
        # one that does was aimed at a button, perhaps before focus moved to
        # the box (keys are queued for the widget focused when they came).
        event.stop()
        event.prevent_default()
        box = self.query_one("#surgery-typed", Input)
        # At once (focus() is deferred): the keys already queued after this
        # one, Enter included, must find the box.
        self.set_focus(box)
        box.insert_text_at_cursor(event.character)

    def _check(self, value: str) -> bool:
        ready = self.require is not None and value.strip().replace(",", "") == self.require
        if self.destination is not None:
            ready = ready and bool(one_line(self.query_one(
                "#surgery-destination", Input).value).strip())
        self.query_one("#confirm", Button).disabled = not ready
        return ready

    def on_input_changed(self, event: Input.Changed) -> None:
        self._check(self.query_one("#surgery-typed", Input).value)
        if self._refused and self.require is not None:
            self._ask_for_count()  # what Enter said no longer holds

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id != "surgery-typed":
            return
        if self._check(event.value):
            self._accept()
            return
        # Enter did nothing: say why, rather than nothing at all.
        self.app.bell()
        self._refused = True
        label = self.query_one("#surgery-require", Label)
        if self.selection is None:
            label.update(Text("still counting on the broker: Enter does nothing until "
                              "the count is read; type it then", style="bold yellow"))
        elif self.require is None:
            return  # nothing to do, or the queue cannot be read: already said
        elif self.destination is not None and not one_line(self.query_one(
                "#surgery-destination", Input).value).strip():
            label.update(Text("name the queue to move them to first", style="bold yellow"))
        else:
            label.update(Text.assemble(
                literal(repr(one_line(event.value, 20)), style="bold"), " is not the count: type ",
                (self.require, "bold"), " (the number of messages) to enable ",
                (self.confirm_label, "bold"), ":", style="yellow"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm" and not event.button.disabled:
            self._accept()
        else:
            self.dismiss(None)

    def _accept(self) -> None:
        values: dict[str, Any] = {
            "revoke_held": self.query_one("#surgery-revoke", Checkbox).value
            and self.query_one("#surgery-revoke", Checkbox).display}
        if self.destination is not None:
            values["destination"] = self.query_one("#surgery-destination", Input).value.strip()
        self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_scroll_body(self, direction: int) -> None:
        body = self.query_one(DialogBody)
        body.scroll_relative(y=direction * max(1, body.size.height - 1), animate=False)
