"""One look at the cluster, for scripts: the same core the TUI runs on."""

from __future__ import annotations

import time
from typing import Any

from .beat import BeatView, beat_report, read_schedule
from .connection import Target, check_broker
from .insight import extension_of
from .monitor import Monitor
from .state import ClusterState
from .triage import DEFAULT_STUCK_FACTOR, DEFAULT_STUCK_FLOOR, triage_report
from .views import pool_name

__all__ = ["collect_status", "summarize", "pool_name"]


def collect_status(target: Target, wait: float = 3.0,
                   inspect_timeout: float = 1.0,
                   extra_queues: tuple[str, ...] = (),
                   enable_events: bool = True,
                   stuck_floor: float = DEFAULT_STUCK_FLOOR,
                   stuck_factor: float = DEFAULT_STUCK_FACTOR) -> dict[str, Any]:
    """Listen for ``wait`` seconds, run one inspection round and one queue
    probe, and return a JSON-ready summary."""
    check_broker(target)
    state = ClusterState(stuck_floor=stuck_floor, stuck_factor=stuck_factor)
    monitor = Monitor(target, state, enable_events=enable_events,
                      inspect_timeout=inspect_timeout,
                      extra_queues=extra_queues)
    monitor.capture.start()
    try:
        deadline = time.monotonic() + max(0.0, wait)
        while time.monotonic() < deadline:
            time.sleep(0.05)
        # Judged while still watching: once stopped, nothing is.
        beat = monitor.state.beat_view(monitor.beat, monitor.state.clock())
    finally:
        monitor.capture.stop()
    monitor.inspect_round(("stats", "active_queues"), require_connection=False)
    monitor.probe_round()
    return summarize(target, monitor.state, beat=beat)


def summarize(target: Target, state: ClusterState,
              beat: BeatView | None = None) -> dict[str, Any]:
    """The report ``console status`` prints, from the same views the
    screens read."""
    now = state.clock()
    if beat is None:
        beat = state.beat_view(read_schedule(target.app), now)
    workers = []
    for view in state.worker_views(now):
        stats = view.reply("stats")
        answered = stats is not None or view.reply("active_queues") is not None
        pool = view.pool
        workers.append({
            "hostname": view.hostname,
            "status": view.status.state.value,
            "active": view.active,
            "processed": view.processed if view.processed is not None
            else _total(stats),
            "pool": pool.name if pool else None,
            "concurrency": pool.concurrency if pool else None,
            "queues": list(view.queues),
            "heartbeat_age": (round(now - view.last_heartbeat, 1)
                              if view.last_heartbeat else None),
            "replied": answered,
            # The companion extension's view inside the worker (insight.py);
            # None when the worker's stats did not answer.
            "extension": _extension(stats) if stats is not None else None,
        })
    tasks = {s: n for s, n in state.held_counts().items() if n}
    queues = [{"name": q.name, "messages": q.messages, "consumers": q.consumers,
               "exists": q.exists, "error": q.error, "sources": list(q.sources),
               "probed_at": q.probed_at} for q in state.queue_views()]
    return {
        "broker": target.masked_url,
        # The URL reached (a failover list: which one of them).
        "connected_to": target.shown_url,
        "transport": target.transport,
        "workers": workers,
        "workers_online": sum(w["status"] == "online" for w in workers),
        # Answered this run's inspection (a worker with events off has no
        # heartbeat, so its status is "unknown", but it is there).
        "workers_replied": sum(bool(w["replied"]) for w in workers),
        "tasks": tasks,
        "events": state.counters.events,
        "queues": queues,
        # The beat schedule: last run seen and lateness per entry (core/beat.py).
        "beat": beat_report(beat, now),
        # Per task type figures, failure groups, stuck and lost (triage.py).
        **triage_report(state, now),
    }


def _extension(stats: object) -> dict[str, Any]:
    found = extension_of(stats)
    if found is None:
        return {"installed": False}
    return {"installed": True, "version": found.version, "pool": found.pool,
            "versions": dict(found.versions), "fingerprint": found.fingerprint,
            "processes": [{"pid": p.pid, "role": p.role, "rss": p.rss, "cpu": p.cpu,
                           "tasks_run": p.tasks_run} for p in found.processes]}


def _total(stats: object) -> int | None:
    total = stats.get("total") if isinstance(stats, dict) else None
    if isinstance(total, dict):
        return sum(v for v in total.values() if isinstance(v, int))
    return None
