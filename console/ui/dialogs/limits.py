"""Rate limit (`l`) and time limits (`t`) for a task type, on every online
worker or on the chosen ones."""

from __future__ import annotations

from rich.text import Text

from ...core.actions import (
    NO_LIMIT, InvalidInput, valid_rate, valid_task_name, valid_time_limits,
)
from ...core.workerinfo import registered, task_names
from ..widgets.form import Field, FormDialog
from ..format import literal
from .common import ALL_ONLINE, destination, worker_choices, worker_line
from .workers import confirm_pool_restart


def _task_choices(app, hosts, current: str | None) -> list[tuple[str, str]]:
    names = task_names(app.state, hosts)
    if current and current not in names:
        names = [current] + names
    return [(name, name) for name in names]


def _limits_lines(app, hosts, task_name: str, keys: tuple[str, ...],
                  new: str | None = None) -> list:
    """Each worker, with the limits it reported for this task type, and
    ``→ new`` once a valid new value is typed."""
    lines = []
    for host in hosts:
        line = worker_line(app, host, pids=False)
        known = dict(registered(app.state, host))
        if not task_name:
            line.append("  choose a task type to see its limit", style="dim")
        elif task_name in known:
            limits = known[task_name]
            shown = ", ".join(f"{k}={limits[k]}" for k in keys if k in limits) or NO_LIMIT
            line.append_text(literal(f"  now: {shown}", style="yellow"))
            if new is not None:
                line.append_text(literal(f" → {new}", style="bold"))
        elif known:
            line.append("  task not registered here", style="dim")
        else:
            line.append("  limits unknown (no `registered` reply)", style="dim")
        lines.append(line)
    return lines or [Text("no worker online: nobody will act on it", style="bold red")]


def _hosts(app, fixed, values) -> list[str]:
    if fixed is not None:
        return fixed
    chosen = values.get("workers", ALL_ONLINE)
    return [chosen] if chosen else app.state.workers_online(app.now())


def _common_fields(app, hosts_fixed, task_name) -> list[Field]:
    hosts = hosts_fixed if hosts_fixed is not None else app.state.workers_online(app.now())
    choices = _task_choices(app, hosts, task_name)
    if not choices:
        return [Field("task", "task type", task_name or "", placeholder="tasks.name")]
    # From a task's row: its own type. Otherwise the operator chooses one;
    # a default would be a type they never read.
    fields = [Field("task", "task type", task_name or "", choices=choices,
                    placeholder="choose a task type")]
    if hosts_fixed is None:
        fields.append(Field("workers", "on", ALL_ONLINE, choices=worker_choices(app)))
    return fields


def ask_rate_limit(app, task_name: str | None = None, workers: list[str] | None = None) -> None:
    """``workers`` fixed (from the Workers screen), or chosen in the dialog."""
    fields = _common_fields(app, workers, task_name)
    fields.insert(1, Field("rate", "rate",
                           placeholder="10/s, 100/m, 5/h; none removes the limit"))

    def new_rate(values: dict) -> str | None:
        try:
            return valid_rate(values.get("rate", "")) or NO_LIMIT
        except InvalidInput:
            return None  # empty or half-typed: nothing shown yet

    def describe(values: dict) -> list:
        return _limits_lines(app, _hosts(app, workers, values), values["task"],
                             ("rate_limit",), new_rate(values))

    def previous(values: dict, hosts: list[str]) -> str:
        seen = {dict(registered(app.state, h)).get(values["task"], {}).get(
            "rate_limit", NO_LIMIT) for h in hosts}
        return ", ".join(sorted(seen)) if seen else "?"

    def validate(values: dict) -> dict:
        if not values["task"]:
            raise InvalidInput("choose a task type")
        arguments = {"task_name": valid_task_name(values["task"]),
                     "rate": valid_rate(values["rate"]),
                     "destination": workers or destination(values)}
        arguments["previous"] = previous(values, _hosts(app, workers, values))
        return arguments

    def done(arguments: dict | None) -> None:
        if arguments is not None:
            app.perform(f"rate limit {arguments['task_name']}", app.actions.rate_limit,
                        **arguments)

    first = {f.key: f.value for f in fields}
    app.push_screen(FormDialog(
        "Set the rate limit of a task type", describe(first), "Set rate limit",
        fields=fields, note="Applies at once to tasks the workers start from now on.",
        validate=validate, describe=describe), done)


def ask_time_limit(app, task_name: str | None = None, workers: list[str] | None = None) -> None:
    fields = _common_fields(app, workers, task_name)
    fields[1:1] = [Field("soft", "soft limit (s)",
                         placeholder="e.g. 60: raises SoftTimeLimitExceeded"),
                   Field("hard", "hard limit (s)", placeholder="e.g. 90: the process is killed")]
    fields.append(Field("apply_now", "restart the pools now, so the limits apply at once",
                        flag=True))

    def describe(values: dict) -> list:
        return _limits_lines(app, _hosts(app, workers, values), values["task"],
                             ("soft_time_limit", "time_limit"))

    def validate(values: dict) -> dict:
        if not values["task"]:
            raise InvalidInput("choose a task type")
        soft, hard = valid_time_limits(values["soft"], values["hard"])
        return {"task_name": valid_task_name(values["task"]), "soft": soft, "hard": hard,
                "destination": workers or destination(values),
                "apply_now": bool(values["apply_now"])}

    def send(arguments: dict) -> None:
        app.perform(f"time limits {arguments['task_name']}", app.actions.time_limit,
                    **arguments)

    def done(arguments: dict | None) -> None:
        if arguments is None:
            return
        if not arguments["apply_now"]:
            send(arguments)
            return
        # A pool restart is destructive: it gets its own confirmation.
        hosts = arguments["destination"] or app.state.workers_online(app.now())
        confirm_pool_restart(app, hosts, then=lambda: send(arguments),
                             reason=f"so the new limits of {arguments['task_name']} apply")

    first = {f.key: f.value for f in fields}
    app.push_screen(FormDialog(
        "Set the time limits of a task type", describe(first), "Set time limits",
        fields=fields,
        note="Celery builds a task type's limits into its worker once: without a pool "
             "restart they reach new tasks only after one (R).",
        validate=validate, describe=describe), done)
