"""Worker actions: pool grow / shrink (`+` `-`), autoscale (`a`), add and
cancel consumer (`c` `C`), pool restart (`R`) and shutdown (`ctrl+d`)."""

from __future__ import annotations

from collections.abc import Callable

from ...core.actions import valid_autoscale, valid_count, valid_queue
from ...core.workerinfo import consumed_queues
from ..widgets.form import Field, FormDialog
from ..format import one_line
from .common import worker_line


def _named(hosts: list[str]) -> str:
    # One line: a hostname holding a line break must not add lines to a
    # confirmation's title.
    return one_line(hosts[0], 60) if len(hosts) == 1 else f"{len(hosts)} workers"


def _perform(app, description: str, fn, **arguments) -> Callable:
    def done(values: dict | None) -> None:
        if values is not None:
            app.perform(description, fn, **arguments, **values)
    return done


def ask_pool_resize(app, hosts: list[str], grow: bool) -> None:
    verb = "Grow" if grow else "Shrink"

    def validate(values: dict) -> dict:
        return {"n": valid_count(values["n"], "processes")}

    app.push_screen(FormDialog(
        f"{verb} the pool of {_named(hosts)}", [worker_line(app, h) for h in hosts],
        f"{verb} pool", fields=[Field("n", "processes",
                                      placeholder="how many processes (1 or more)")],
        note="" if grow else "A busy process finishes its task before it exits.",
        validate=validate),
        _perform(app, f"pool {verb.lower()} {_named(hosts)}",
                 app.actions.pool_grow if grow else app.actions.pool_shrink,
                 destination=hosts))


def ask_autoscale(app, hosts: list[str]) -> None:
    view = app.state.worker_view(hosts[0])
    stats = view.stats if view is not None else {}
    scaler = stats.get("autoscaler")
    scaler = scaler if isinstance(scaler, dict) else {}
    size = view.pool.concurrency if view is not None and view.pool else None

    def validate(values: dict) -> dict:
        high, low = valid_autoscale(values["max"], values["min"])
        return {"max_concurrency": high, "min_concurrency": low}

    app.push_screen(FormDialog(
        f"Autoscale {_named(hosts)}", [worker_line(app, h) for h in hosts], "Set autoscale",
        # Empty, with the current bounds as hints: a change is typed.
        fields=[Field("max", "max processes",
                      placeholder=f"upper bound (now {scaler['max']})" if "max" in scaler
                      else f"upper bound (pool now {size or '?'}, not autoscaled)"),
                Field("min", "min processes",
                      placeholder=f"lower bound, 0 or more (now {scaler['min']})"
                      if "min" in scaler else "lower bound, 0 or more")],
        note="Takes effect only on workers started with --autoscale; the others "
             "reply with an error.", validate=validate),
        _perform(app, f"autoscale {_named(hosts)}", app.actions.autoscale, destination=hosts))


def ask_add_consumer(app, hosts: list[str]) -> None:
    known = app.state.queue_names()
    consuming = {q for h in hosts for q in consumed_queues(app.state, h)}
    suggestions = [q for q in known if q not in consuming]

    def validate(values: dict) -> dict:
        return {"queue": valid_queue(values["queue"])}

    app.push_screen(FormDialog(
        f"Start consuming a queue on {_named(hosts)}", [worker_line(app, h) for h in hosts],
        "Add consumer",
        fields=[Field("queue", "queue", placeholder="queue name (→ completes a known queue)",
                      suggestions=suggestions)],
        note=("Consuming now: " + ", ".join(one_line(q, 40) for q in sorted(consuming)))
        if consuming else "",
        validate=validate),
        _perform(app, f"add consumer {_named(hosts)}", app.actions.add_consumer,
                 destination=hosts))


def ask_cancel_consumer(app, hosts: list[str]) -> None:
    queues = sorted({q for h in hosts for q in consumed_queues(app.state, h)})
    if not queues:
        app.notify("No consumed queues known for this worker yet: press ctrl+r to inspect.",
                   severity="warning")
        return

    def validate(values: dict) -> dict:
        return {"queue": valid_queue(values["queue"])}

    app.push_screen(FormDialog(
        f"Stop consuming a queue on {_named(hosts)}", [worker_line(app, h) for h in hosts],
        "Cancel consumer",
        fields=[Field("queue", "queue", choices=[(q, q) for q in queues],
                      placeholder="choose the queue to stop consuming")],
        note="Messages stay in the queue; this worker stops taking them.",
        validate=validate),
        _perform(app, f"cancel consumer {_named(hosts)}", app.actions.cancel_consumer,
                 destination=hosts))


def confirm_pool_restart(app, hosts: list[str], then: Callable | None = None,
                         reason: str = "") -> None:
    def done(values: dict | None) -> None:
        if values is None:
            return
        if then is not None:
            then()
        else:
            app.perform(f"pool restart {_named(hosts)}", app.actions.pool_restart,
                        destination=hosts)

    app.push_screen(FormDialog(
        f"Restart the pool of {_named(hosts)}{' ' + reason if reason else ''}?",
        [worker_line(app, h) for h in hosts], "Restart pool",
        note="Every pool process is replaced; running tasks are lost unless acks are "
             "late. Needs workers started with worker_pool_restarts=True; the others "
             "reply with an error.", destructive=True), done)


def confirm_shutdown(app, hosts: list[str]) -> None:
    views = [app.state.worker_view(h) for h in hosts]
    running = sum(v.active for v in views if v is not None and isinstance(v.active, int))
    app.push_screen(FormDialog(
        f"Shut down {_named(hosts)}?", [worker_line(app, h) for h in hosts], "Shut down",
        note=f"Warm shutdown: {running} running task(s) finish first. The worker does not "
             "come back unless a supervisor restarts it.", destructive=True),
        _perform(app, f"shutdown {_named(hosts)}", app.actions.shutdown, destination=hosts))
