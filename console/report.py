"""Plain-terminal rendering of `console status` (rich, no Textual)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def render_status(report: dict, console: Console | None = None) -> None:
    console = console or Console()
    console.print(f"[bold]Broker[/] {report['broker']}  "
                  f"[bold]Workers online[/] {report['workers_online']}/{len(report['workers'])}  "
                  f"[bold]Events[/] {report['events']}")
    workers = Table(title="Workers", title_justify="left", expand=False)
    for column in ("hostname", "status", "active", "processed", "pool", "queues"):
        workers.add_column(column)
    for w in report["workers"]:
        pool = f"{w['pool'] or '?'} ×{w['concurrency']}" if w["concurrency"] else (w["pool"] or "")
        status = "[green]online[/]" if w["status"] == "online" else "[red]offline[/]"
        workers.add_row(w["hostname"], status, _n(w["active"]), _n(w["processed"]),
                        pool, ", ".join(w["queues"]))
    console.print(workers)
    if report["tasks"]:
        tasks = Table(title="Tasks held, by state", title_justify="left")
        for state in report["tasks"]:
            tasks.add_column(state, justify="right")
        tasks.add_row(*(f"{n:,}" for n in report["tasks"].values()))
        console.print(tasks)
    queues = Table(title="Queues", title_justify="left")
    for column, justify in (("queue", "left"), ("messages", "right"),
                            ("consumers", "right"), ("known from", "left")):
        queues.add_column(column, justify=justify)
    for q in report["queues"]:
        if q["error"]:
            messages = f"[red]error: {q['error']}[/]"
        elif q["exists"] is False:
            messages = "[yellow]missing[/]"
        else:
            messages = _n(q["messages"])
        queues.add_row(q["name"], messages, _n(q["consumers"]), ", ".join(q["sources"]))
    console.print(queues)


def _n(value) -> str:
    return "" if value is None else f"{value:,}" if isinstance(value, int) else str(value)
