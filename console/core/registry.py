"""The worker half of the model: one record per worker, whichever way we
met it (events or inspection), and the sweep that notices silent ones.

A mixin of ``ClusterState``, which owns the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .records import HEARTBEAT_EXPIRE_FACTOR, WORKER_EVENT_FIELDS, WorkerRecord, clip
from .views import (
    InspectionEntry, Versions, WorkerState, WorkerStatus, WorkerView, pool_view,
    queue_names,
)

# Workers are few, but a misconfigured cluster with random hostnames must
# not grow memory without bound either.
MAX_WORKERS = 5_000
MAX_ID_CHARS = 255


class WorkerRegistry:
    lock: threading.RLock
    versions: Versions
    clock: Callable[[], float]
    counters: Any
    connection: Any
    inspections: dict[str, dict[str, InspectionEntry]]

    def _init_workers(self) -> None:
        self.workers: dict[str, WorkerRecord] = {}

    if TYPE_CHECKING:  # Provided by TaskStore and TriageStore.
        def _flag_lost_tasks(self, hostname: str) -> int:
            ...

        def sweep_stuck(self, now: float | None = None) -> None:
            ...

    # ------------------------------------------------------------------ intake
    def _worker_for(self, hostname: str, now: float) -> WorkerRecord | None:
        worker = self.workers.get(hostname)
        if worker is None:
            if len(self.workers) >= MAX_WORKERS:
                return None
            worker = self.workers[hostname] = WorkerRecord(hostname)
        return worker

    def _worker_event(self, subject: str, event: dict[str, Any], now: float) -> bool:
        hostname = event.get("hostname")
        if not isinstance(hostname, str) or not hostname or len(hostname) > MAX_ID_CHARS:
            self.counters.malformed += 1
            return True
        worker = self._worker_for(hostname, now)
        if worker is None:
            return True
        worker.seen_by.add("events")
        for key in WORKER_EVENT_FIELDS:
            if key in event:
                value = _worker_value(key, event[key])
                if value is not _INVALID:
                    setattr(worker, key, value)
        if "active" in event:
            worker.active_at = now
        if not isinstance(worker.freq, (int, float)) or worker.freq <= 0:
            worker.freq = 60.0
        if subject == "offline":
            worker.heartbeats.clear()
            worker.last_heartbeat = None
            worker.offline_since = now
            worker.online_since = None
            # A cold shutdown says goodbye with tasks still unfinished.
            self._flag_lost_tasks(hostname)
        else:
            self._heartbeat(worker, now)
        self.versions.workers += 1
        return subject in ("online", "heartbeat", "offline")

    def _heartbeat(self, worker: WorkerRecord, now: float) -> None:
        # worker.alive(now), inlined: this runs for every task event.
        last = worker.last_heartbeat
        if last is None or not now < last + float(
                worker.freq or 60.0) * HEARTBEAT_EXPIRE_FACTOR:
            worker.online_since = now
            worker.offline_since = None
        worker.heartbeats.append(now)
        worker.last_heartbeat = now

    # ------------------------------------------------------------ lost workers
    def sweep_workers(self, now: float | None = None) -> list[str]:
        """Notice workers whose heartbeats stopped (SIGKILL, OOM, a pulled
        cable send no ``worker-offline``): mark them offline and flag the
        tasks they held, which would otherwise stay STARTED for ever.

        Celery's State only computes ``alive`` on demand and never revisits
        the tasks; we need one moment to act, so the capture thread calls
        this while it is connected. Silence only counts while we were
        listening: expiry runs from the later of the last heartbeat and the
        time the connection came up, so a console that was cut off itself
        does not declare every worker lost. Returns the hostnames newly
        marked. O(workers), plus one scan of the tasks per lost worker.
        """
        with self.lock:
            conn = self.connection
            if conn.state != "connected":
                return []
            now = self.clock() if now is None else now
            lost = []
            for hostname, worker in self.workers.items():
                if worker.offline_since is not None or worker.last_heartbeat is None:
                    continue
                freq = float(worker.freq or 60.0)
                heard = max(worker.last_heartbeat, conn.since)
                if now >= heard + freq * HEARTBEAT_EXPIRE_FACTOR:
                    # When Celery's rule says it went, not when we looked.
                    worker.offline_since = worker.heartbeat_expires()
                    worker.online_since = None
                    lost.append(hostname)
            for hostname in lost:
                self._flag_lost_tasks(hostname)
            if lost:
                self.versions.workers += 1
            self.sweep_stuck(now)
            return lost

    # --------------------------------------------------------------- reading
    def worker_alive(self, hostname: str, now: float | None = None) -> bool:
        with self.lock:
            worker = self.workers.get(hostname)
            return bool(worker and worker.alive(
                self.clock() if now is None else now))

    def workers_online(self, now: float | None = None) -> list[str]:
        now = self.clock() if now is None else now
        with self.lock:
            return sorted(h for h, w in self.workers.items() if w.alive(now))

    def known_workers(self) -> list[str]:
        with self.lock:
            return sorted(self.workers)

    def worker_views(self, now: float | None = None) -> list[WorkerView]:
        """Every worker known, by hostname."""
        now = self.clock() if now is None else now
        with self.lock:
            return [self._view(worker, now) for _, worker in sorted(self.workers.items())]

    def worker_view(self, hostname: str, now: float | None = None) -> WorkerView | None:
        now = self.clock() if now is None else now
        with self.lock:
            worker = self.workers.get(hostname)
            return None if worker is None else self._view(worker, now)

    def _view(self, worker: WorkerRecord, now: float) -> WorkerView:
        kinds = dict(self.inspections.get(worker.hostname, {}))
        stats = kinds.get("stats")
        queues = kinds.get("active_queues")
        load = worker.loadavg
        # Running now: the heartbeat's count, unless an `active` inspection
        # came after it (a count of 1 beside an empty active list was seen).
        active, source, active_at = worker.active, "heartbeat", worker.active_at
        listed = kinds.get("active")
        if listed is not None and isinstance(listed.reply, list) and (
                active_at is None or listed.at > active_at):
            active, source, active_at = len(listed.reply), "inspection", listed.at
        return WorkerView(
            hostname=worker.hostname, status=worker_status(worker, now),
            active=active if isinstance(active, int) else None, processed=worker.processed,
            active_source=source, active_at=active_at,
            counts=dict(worker.counts),
            loadavg=tuple(load) if isinstance(load, list) else None,
            last_heartbeat=worker.last_heartbeat, freq=float(worker.freq or 60.0),
            software=" ".join(str(p) for p in (worker.sw_ident, worker.sw_ver,
                                               worker.sw_sys) if p),
            seen_by=tuple(sorted(worker.seen_by)),
            pool=pool_view(stats.reply if stats else None),
            queues=queue_names(queues.reply if queues else None),
            inspections=kinds)


def worker_status(worker: WorkerRecord, now: float) -> WorkerStatus:
    """The one rule for a worker's status, used by every screen and
    ``console status``: online while its heartbeats are fresh; unknown when
    only an inspection reply told us of it; otherwise offline since its
    goodbye, or since its heartbeats expired."""
    if worker.alive(now):
        return WorkerStatus(WorkerState.ONLINE)
    if worker.last_heartbeat is None and worker.offline_since is None:
        return WorkerStatus(WorkerState.UNKNOWN)
    since = worker.offline_since or worker.heartbeat_expires() or now
    return WorkerStatus(WorkerState.OFFLINE, since)


_INVALID = object()


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _worker_value(key: str, value: object) -> object:
    """A worker field as the screens can format it, or ``_INVALID``. Screens
    do ``f"{load[0]:.2f}"``; a heartbeat from some other producer with
    ``loadavg: ["x"]`` must not take the Workers screen down, so types are
    checked once here, on intake."""
    if value is None:
        return None
    if key in ("pid", "clock", "active", "processed"):
        return value if isinstance(value, int) and not isinstance(value, bool) else _INVALID
    if key == "freq":
        return value if _number(value) else _INVALID
    if key == "loadavg":
        if (isinstance(value, (list, tuple)) and len(value) <= 3
                and all(_number(v) for v in value)):
            return list(value)
        return _INVALID
    return clip(value, 256)  # sw_ident, sw_ver, sw_sys: free text


