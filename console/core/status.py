"""One look at the cluster, for scripts: the same core the TUI runs on."""

from __future__ import annotations

import time

from .connection import Target, check_broker
from .monitor import Monitor
from .state import ClusterState
from .workerinfo import queue_names


def collect_status(target: Target, wait: float = 3.0,
                   inspect_timeout: float = 1.0,
                   extra_queues: tuple[str, ...] = (),
                   enable_events: bool = True) -> dict:
    """Listen for ``wait`` seconds, run one inspection round and one queue
    probe, and return a JSON-ready summary."""
    check_broker(target)
    monitor = Monitor(target, enable_events=enable_events,
                      inspect_timeout=inspect_timeout,
                      extra_queues=extra_queues)
    monitor.capture.start()
    try:
        deadline = time.monotonic() + max(0.0, wait)
        while time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        monitor.capture.stop()
    monitor.inspect_round(("stats", "active_queues"), require_connection=False)
    monitor.probe_round()
    return summarize(target, monitor.state)


def summarize(target: Target, state: ClusterState) -> dict:
    now = state.clock()
    with state.lock:
        workers = []
        for hostname, worker in sorted(state.workers.items()):
            inspections = state.inspections.get(hostname, {})
            stats = _reply(inspections.get("stats"))
            queues = _reply(inspections.get("active_queues"))
            answered = stats is not None or queues is not None
            alive = worker.alive(now)
            pool = (stats or {}).get("pool") or {}
            workers.append({
                "hostname": hostname,
                "status": "online" if alive or answered else "offline",
                "active": worker.active,
                "processed": worker.processed if worker.processed is not None
                else _total(stats),
                "pool": pool_name(pool.get("implementation")),
                "concurrency": pool.get("max-concurrency"),
                "queues": queue_names(queues),
                "heartbeat_age": (round(now - worker.last_heartbeat, 1)
                                  if worker.last_heartbeat else None),
                "replied": answered,
            })
        tasks = {s: n for s, n in state.held_by_state.items() if n}
        return {
            "broker": target.masked_url,
            "transport": target.transport,
            "workers": workers,
            "workers_online": sum(w["status"] == "online" for w in workers),
            "tasks": tasks,
            "events": state.counters.events,
            "queues": sorted(state.queues.values(), key=lambda q: q["name"]),
        }


def _reply(entry):
    return entry[1] if entry else None


def _total(stats) -> int | None:
    total = (stats or {}).get("total")
    if isinstance(total, dict):
        return sum(v for v in total.values() if isinstance(v, int))
    return None


def pool_name(implementation) -> str | None:
    """``celery.concurrency.prefork:TaskPool`` -> ``prefork``."""
    if not isinstance(implementation, str):
        return None
    module = implementation.split(":", 1)[0]
    return module.rsplit(".", 1)[-1]
