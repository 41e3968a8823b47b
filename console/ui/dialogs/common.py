"""Pieces the action dialogs share: how a worker is named in a target list,
and the "which workers" choice."""

from __future__ import annotations

from rich.text import Text

from ...core.status import pool_name
from ...core.workerinfo import reply

ALL_ONLINE = ""  # the Select value meaning "every online worker"


def worker_line(app, hostname: str, pids: bool = True) -> Text:
    """``alpha@web-1  online  prefork ×4  pids 5100 5101 …``"""
    state, now = app.state, app.now()
    online = state.worker_alive(hostname, now)
    line = Text.assemble((f"{hostname:<24}", "bold"),
                         ("online " if online else "offline", "green" if online else "bold red"))
    stats = reply(state, hostname, "stats")
    pool = (stats[1] or {}).get("pool") if stats and isinstance(stats[1], dict) else None
    if isinstance(pool, dict):
        name = pool_name(pool.get("implementation")) or "?"
        line.append(f"  {name} ×{pool.get('max-concurrency', '?')}")
        processes = pool.get("processes")
        if pids and isinstance(processes, list) and processes:
            shown = " ".join(str(p) for p in processes[:6])
            line.append(f"  pids {shown}{' …' if len(processes) > 6 else ''}", style="dim")
    return line


def worker_choices(app) -> list[tuple[str, str]]:
    online = app.state.workers_online(app.now())
    return [(f"every online worker ({len(online)})", ALL_ONLINE)] + [
        (host, host) for host in sorted(online)]


def destination(values: dict) -> list[str] | None:
    chosen = values.get("workers", ALL_ONLINE)
    return [chosen] if chosen else None
