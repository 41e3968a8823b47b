"""Plain-terminal rendering of `console status` (rich, no Textual).

Every value from the cluster goes through ``literal``: a Rich table reads a
str cell as markup, and a worker named ``w[/b]`` would crash the command."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .text import literal


def render_status(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    console.print(Text.assemble(
        ("Broker ", "bold"), literal(report["broker"]),
        ("  Workers online ", "bold"), f"{report['workers_online']}/{len(report['workers'])}",
        ("  Events ", "bold"), str(report["events"]),
        ("  Stuck ", "bold"), str(report.get("stuck", 0)),
        ("  Lost ", "bold"), str(report.get("lost", 0))))
    workers = Table(title="Workers", title_justify="left", expand=False)
    for column in ("hostname", "status", "active", "processed", "pool", "queues"):
        workers.add_column(column)
    for w in report["workers"]:
        pool = f"{w['pool'] or '?'} ×{w['concurrency']}" if w["concurrency"] else (w["pool"] or "")
        status = Text(w["status"], style={"online": "green", "offline": "red"}.get(
            w["status"], "yellow"))
        workers.add_row(literal(w["hostname"]), status, _n(w["active"]), _n(w["processed"]),
                        literal(pool), literal(", ".join(w["queues"])))
    console.print(workers)
    if report["tasks"]:
        tasks = Table(title="Tasks held, by state", title_justify="left")
        for state in report["tasks"]:
            tasks.add_column(literal(state), justify="right")
        tasks.add_row(*(Text(f"{n:,}") for n in report["tasks"].values()))
        console.print(tasks)
    _render_triage(report, console)
    queues = Table(title="Queues", title_justify="left")
    for column, justify in (("queue", "left"), ("messages", "right"),
                            ("consumers", "right"), ("known from", "left")):
        queues.add_column(column, justify=justify)  # type: ignore[arg-type]
    for q in report["queues"]:
        if q["error"]:
            messages = literal(f"error: {q['error']}", style="red")
        elif q["exists"] is False:
            messages = Text("missing", style="yellow")
        else:
            messages = _n(q["messages"])
        queues.add_row(literal(q["name"]), messages, _n(q["consumers"]),
                       literal(", ".join(q["sources"])))
    console.print(queues)
    _render_beat(report.get("beat"), console)


def _render_beat(beat: dict[str, Any] | None, console: Console) -> None:
    """The beat schedule: each entry's last run seen and whether it is late."""
    if not beat or not (beat["entries"] or beat["note"]):
        return
    table = Table(title="Beat schedule", title_justify="left")
    for column, justify in (("entry", "left"), ("task", "left"), ("schedule", "left"),
                            ("health", "left"), ("last seen", "right"), ("runs", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for e in beat["entries"]:
        age = e["last_seen_age"]
        health = Text(e["status"], style={"late": "bold red", "ok": "green"}.get(
            e["status"], "yellow"))
        table.add_row(literal(e["name"]), literal(e["task"]), literal(e["schedule"]), health,
                      Text("never seen" if age is None else f"{age:g}s ago"),
                      _n(e["runs_seen"]))
    if beat["entries"]:
        console.print(table)
    if beat["note"]:
        console.print(literal(f"beat: {beat['note']}", style="yellow"))


def _render_triage(report: dict[str, Any], console: Console) -> None:
    """Task types and the failure groups, briefly (``--json`` has it all)."""
    types = report.get("task_types") or {}
    if types:
        table = Table(title="Task types", title_justify="left")
        for column in ("task", "succeeded", "failed", "fail %", "runtime p95",
                       "wait p95", "in flight", "stuck"):
            table.add_column(column, justify="left" if column == "task" else "right")
        for name, t in types.items():
            ratio = t["failure_ratio"]
            table.add_row(literal(name), _n(t["succeeded"]), _n(t["failed"]),
                          "" if ratio is None else f"{ratio:.0%}", _seconds(t["runtime"]),
                          _seconds(t["queue_wait"]), _n(t["in_flight"]), _n(t["stuck"]))
        console.print(table)
    groups = report.get("failure_groups") or []
    if groups:
        table = Table(title="Failures by cause (newest first)", title_justify="left")
        for column in ("count", "cause", "tasks"):
            table.add_column(column, justify="right" if column == "count" else "left")
        for g in groups[:10]:
            cause = f"{g['type']}: {g['message']}" if g["type"] and g["message"] \
                else g["type"] or g["message"]
            table.add_row(_n(g["count"]), literal(cause, 80), literal(", ".join(g["names"]), 60))
        console.print(table)


def _seconds(latency: dict[str, Any] | None) -> str:
    if not latency:
        return ""
    value = latency["p95"]
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def _n(value: object) -> Text:
    return literal("" if value is None else f"{value:,}" if isinstance(value, int) else value)


def render_peek(peek: Any, console: Console | None = None) -> None:
    """`console peek`: the groups, then the first messages."""
    console = console or Console()
    if peek.error:
        console.print(literal(f"{peek.queue}: {peek.error}", style="red"))
        if not peek.counted:
            return
    depth = "?" if peek.depth is None else f"{peek.depth:,}"
    console.print(Text.assemble(("Queue ", "bold"), literal(peek.queue),
                                ("  messages ", "bold"), depth,
                                ("  counted ", "bold"), peek.scope))
    groups = Table(title="By task", title_justify="left")
    for column, justify in (("task", "left"), ("count", "right"), ("share", "right"),
                            ("oldest eta", "left"), ("newest eta", "left"),
                            ("sample args", "left")):
        groups.add_column(column, justify=justify)  # type: ignore[arg-type]
    for g in peek.groups:
        groups.add_row(literal(g.name), f"{g.count:,}", f"{g.share:.1%}",
                       literal(g.oldest_eta or ""), literal(g.newest_eta or ""),
                       literal(g.sample_args, 60))
    console.print(groups)
    if peek.messages:
        first = Table(title="Next to run", title_justify="left")
        for column in ("#", "task", "id", "args", "eta", "retries", "priority"):
            first.add_column(column)
        for m in peek.messages:
            first.add_row(str(m.position), literal(m.label), literal(m.id or ""),
                          literal(m.args, 50), literal(m.eta or ""),
                          _n(m.retries), _n(m.priority))
        console.print(first)
    held = peek.held
    if held is not None:
        if held.error:
            console.print(literal(f"held by workers: unknown ({held.error})", style="yellow"))
        else:
            console.print(f"held by workers ({held.source}): {len(held.tasks):,}")
