"""Pieces the action dialogs share: how a worker is named in a target list,
and the "which workers" choice."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from ..format import literal

ALL_ONLINE = ""  # the Select value meaning "every online worker"


def worker_line(app: Any, hostname: str, pids: bool = True) -> Text:
    """``alpha@web-1  online  prefork ×4  pids 5100 5101 …``"""
    view = app.state.worker_view(hostname, app.now())
    online = view is not None and view.online
    name = literal(hostname, 23, style="bold")
    name.pad_right(24 - name.cell_len)
    line = Text.assemble(name, ("online " if online else "offline",
                                "green" if online else "bold red"))
    pool = view.pool if view is not None else None
    if pool is not None:
        line.append(f"  {one(pool.name or '?')} ×{pool.concurrency or '?'}")
        if pids and pool.processes:
            shown = " ".join(str(p) for p in pool.processes[:6])
            line.append(f"  pids {one(shown)}{' …' if len(pool.processes) > 6 else ''}",
                        style="dim")
    return line


def one(value: object) -> str:
    return literal(value).plain


def worker_choices(app: Any) -> list[tuple[str, str]]:
    online = app.state.workers_online(app.now())
    return [(f"every online worker ({len(online)})", ALL_ONLINE)] + [
        (host, host) for host in sorted(online)]


def destination(values: dict[str, Any]) -> list[str] | None:
    chosen = values.get("workers", ALL_ONLINE)
    return [chosen] if chosen else None
