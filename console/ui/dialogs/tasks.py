"""Revoke (`x`) and terminate (`X`): one task, or every marked one."""

from __future__ import annotations

from rich.text import Text

from ...core.actions import valid_signal
from ..format import STATE_STYLES, one_line, short_name
from ..widgets.form import Field, FormDialog


def task_line(task) -> Text:
    """Full id (what is sent), short name, state and worker: one line."""
    return Text.assemble(
        (f"{one_line(task.uuid, 36):<36}", "cyan"), "  ",
        (f"{short_name(task.name or '?', 28):<28}", "bold"), "  ",
        (f"{task.state or '?':<8}", STATE_STYLES.get(task.state, "")), "  ",
        (one_line(task.worker, 18) if task.worker else "not received", "dim"),
        no_wrap=True, overflow="ellipsis")


def ask_revoke(app, tasks: list, hidden: int = 0, terminate: bool = False) -> None:
    """``hidden``: how many of the marked tasks the current filter hides."""
    if not tasks:
        return
    ids = [t.uuid for t in tasks]
    online = app.state.workers_online(app.now())
    count = f"{len(ids)} task{'s' if len(ids) != 1 else ''}"
    notes = []
    if hidden:
        notes.append(f"{hidden} of them hidden by the current filter.")
    if terminate:
        idle = sum(1 for t in tasks if t.state != "STARTED")
        if idle:
            notes.append(f"{idle} of them not running: they are revoked, nothing is killed.")
        notes.append("The signal goes to the pool process running the task.")
    else:
        notes.append("Workers skip a revoked task when it arrives; a running one finishes.")
    notes.append(f"Sent to every online worker ({len(online)}): "
                 + (", ".join(one_line(h, 40) for h in online[:4])
                    + (" …" if len(online) > 4 else "") if online
                    else "none online, so nobody will act on it") + ".")
    fields = [Field("signal", "signal", "SIGTERM",
                    placeholder="SIGTERM, SIGKILL, SIGINT, SIGUSR1 or a number")] \
        if terminate else []

    def validate(values: dict) -> dict:
        return {"signal": valid_signal(values["signal"])} if terminate else {}

    def done(arguments: dict | None) -> None:
        if arguments is None:
            return
        verb = "terminate" if terminate else "revoke"
        app.perform(f"{verb} {count}", app.actions.revoke, ids, terminate=terminate,
                    **arguments)

    title = (f"Terminate {count}? (revoke, then signal the running process)" if terminate
             else f"Revoke {count}?")
    app.push_screen(FormDialog(
        title, [task_line(t) for t in tasks], "Terminate" if terminate else "Revoke",
        fields=fields, note="\n".join(notes), validate=validate, destructive=True), done)
