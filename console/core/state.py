"""The cluster model: tasks, workers, counters and rates, fed by events.

One lock guards everything. The capture thread applies events under it;
readers take copies or read a version number, never iterate live dicts from
another thread. Every per-event step is O(1) in the number of tasks held.
"""

from __future__ import annotations

import heapq
import re
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from itertools import islice
from typing import Callable, Iterable

from .rates import RateWindow
from .records import (
    EVENT_TO_STATE, HEARTBEAT_EXPIRE_FACTOR, MAX_TRACEBACK_CHARS,
    READY_STATES, RECEIVED_MERGE_FIELDS, STATES, TASK_EVENT_FIELDS,
    WORKER_EVENT_FIELDS, TaskRecord, WorkerRecord, clip, rank,
)

DEFAULT_MAX_TASKS = 100_000
DEFAULT_EVENT_RING = 2_000
# Workers are few, but a misconfigured cluster with random hostnames must
# not grow memory without bound either.
MAX_WORKERS = 5_000
# Creation numbers of the last evicted tasks, so a first-seen view can catch
# up by the changes (O(changes)) rather than copy every task held (O(n)). A
# reader further behind than this rebuilds from scratch.
EVICTION_LOG = 16_384

# Scalar fields kept in the raw-event ring; anything else is dropped there
# (the task record keeps what matters), so the ring stays small.
_RING_FIELDS = (
    "type", "hostname", "uuid", "name", "timestamp", "local_received",
    "state", "exception", "result", "runtime", "retries", "args", "kwargs",
    "active", "processed", "signum", "terminated", "queue", "routing_key",
)
_RING_VALUE_CHARS = 256
# Event types, uuids and hostnames are keys: refused when longer than this.
_MAX_TYPE_CHARS = 64
_MAX_ID_CHARS = 255
_CUSTOM_STATE = re.compile(r"^[A-Z0-9_.-]{1,32}$")
# States in which no worker holds the task: not yet received (PENDING), sent
# back to the broker to run again (RETRY), or finished.
_NOT_HELD_BY_WORKER = frozenset({"PENDING", "RETRY"}) | READY_STATES


@dataclass
class ConnectionStatus:
    """What the capture thread knows about its broker connection."""

    state: str = "connecting"  # connecting | connected | reconnecting | stopped
    since: float = 0.0
    error: str | None = None
    attempts: int = 0
    last_event_at: float | None = None
    events_enabled_at: float | None = None


@dataclass
class Counters:
    events: int = 0
    malformed: int = 0
    unknown: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    evicted: int = 0
    # Tasks flagged because the worker holding them went away.
    worker_lost: int = 0


class ClusterState:
    """The model every screen and the headless commands read."""

    def __init__(self, max_tasks: int = DEFAULT_MAX_TASKS,
                 max_failures: int | None = None,
                 event_ring: int = DEFAULT_EVENT_RING,
                 clock: Callable[[], float] = time.time):
        if max_tasks < 1:
            raise ValueError("max_tasks must be at least 1")
        self.max_tasks = max_tasks
        # Failures get their own share so a flood of successes cannot push
        # an incident out; they still count toward max_tasks.
        self.max_failures = (max(1, max_tasks // 10)
                             if max_failures is None else max_failures)
        self.clock = clock
        self.lock = threading.RLock()
        self._tasks: OrderedDict[str, TaskRecord] = OrderedDict()
        self._failures: OrderedDict[str, TaskRecord] = OrderedDict()
        # First-seen order, for the default Tasks view (newest first): dict
        # insertion and deletion are O(1) and order is kept.
        self._created: dict[str, TaskRecord] = {}
        self._next_seq = 0
        self._evictions = 0
        self._evicted_seqs: deque[int] = deque(maxlen=EVICTION_LOG)
        self.workers: dict[str, WorkerRecord] = {}
        self.held_by_state: dict[str, int] = {s: 0 for s in STATES}
        self.counters = Counters()
        self.events_rate = RateWindow()
        self.state_rates: dict[str, RateWindow] = {
            s: RateWindow() for s in STATES}
        self.events: deque[dict] = deque(maxlen=event_ring)
        self.connection = ConnectionStatus(since=clock())
        # Versions let readers skip work when nothing changed.
        self.versions: dict[str, int] = {
            "tasks": 0, "workers": 0, "events": 0, "connection": 0,
            "inspect": 0, "queues": 0, "actions": 0,
        }
        # Remote-control replies per worker and kind: (time, reply|None, error|None)
        self.inspections: dict[str, dict[str, tuple]] = {}
        self.queues: dict[str, dict] = {}
        # Depth history per queue, for sparklines and in/out rates.
        self.queue_history: dict[str, deque] = {}
        # Every action tried this session, newest last (the Action log).
        self.actions: deque[dict] = deque(maxlen=1000)

    # ------------------------------------------------------------------ intake
    def apply(self, event) -> None:
        """Apply one event. Never raises: bad events are counted and skipped."""
        with self.lock:
            try:
                self._apply(event)
            except Exception:  # a malformed event must never stop intake
                self.counters.malformed += 1

    def apply_many(self, events: Iterable) -> None:
        with self.lock:
            for event in events:
                try:
                    self._apply(event)
                except Exception:
                    self.counters.malformed += 1

    def _apply(self, event) -> None:
        counters = self.counters
        if not isinstance(event, dict):
            counters.malformed += 1
            return
        type_ = event.get("type")
        if not isinstance(type_, str) or len(type_) > _MAX_TYPE_CHARS:
            # A megabyte "type" would be kept as a by_type key for ever.
            counters.malformed += 1
            return
        now = self.clock()
        counters.events += 1
        by_type = counters.by_type
        if len(by_type) < 256 or type_ in by_type:
            by_type[type_] = by_type.get(type_, 0) + 1
        self.events_rate.add(now)
        self.connection.last_event_at = now
        group, _, subject = type_.partition("-")
        if group == "task":
            handled = self._task_event(subject, event, now)
        elif group == "worker":
            handled = self._worker_event(subject, event, now)
        else:
            handled = False
        if not handled:
            counters.unknown += 1
        self.events.append(self._ring_entry(event, now))
        self.versions["events"] += 1

    @staticmethod
    def _ring_entry(event: dict, now: float) -> dict:
        entry = {}
        for key in _RING_FIELDS:
            if key in event:
                entry[key] = clip(event[key], _RING_VALUE_CHARS)
        entry.setdefault("local_received", now)
        return entry

    def _worker_for(self, hostname: str, now: float) -> WorkerRecord | None:
        worker = self.workers.get(hostname)
        if worker is None:
            if len(self.workers) >= MAX_WORKERS:
                return None
            worker = self.workers[hostname] = WorkerRecord(hostname)
        return worker

    def _worker_event(self, subject: str, event: dict, now: float) -> bool:
        hostname = event.get("hostname")
        if not isinstance(hostname, str) or not hostname or len(hostname) > _MAX_ID_CHARS:
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
        self.versions["workers"] += 1
        return subject in ("online", "heartbeat", "offline")

    def _heartbeat(self, worker: WorkerRecord, now: float) -> None:
        if not worker.alive(now):
            worker.online_since = now
            worker.offline_since = None
        worker.heartbeats.append(now)
        worker.last_heartbeat = now

    def _task_event(self, subject: str, event: dict, now: float) -> bool:
        uuid = event.get("uuid")
        if not isinstance(uuid, str) or not uuid or len(uuid) > _MAX_ID_CHARS:
            # Ids are keys, held as long as the task: they are not clipped,
            # so an oversized one is refused (Celery's are 36 characters).
            self.counters.malformed += 1
            return True
        hostname = event.get("hostname")
        if not isinstance(hostname, str) or len(hostname) > _MAX_ID_CHARS:
            hostname = None
        task = self._touch_task(uuid)
        old_state = task.state

        if subject == "sent":
            task.client = hostname
        elif hostname:
            # A worker reports on the task again (a redelivery, or the
            # worker was only silent): it is no longer lost.
            task.worker_lost = False
            worker = self._worker_for(hostname, now)
            task.worker = hostname
            if worker is not None:
                # Task events prove the worker alive, as in Celery's State.
                worker.seen_by.add("events")
                self._heartbeat(worker, now)
                worker.counts[subject] = worker.counts.get(subject, 0) + 1
                self.versions["workers"] += 1

        state = EVENT_TO_STATE.get(subject)
        timestamp = event.get("timestamp")
        if state is not None:
            setattr(task, subject, timestamp)
        else:
            state = subject.upper()  # a custom state, as Celery does
            if (state not in self.held_by_state and len(self.held_by_state) >= 32
                    or not _CUSTOM_STATE.match(state)):
                # Bound the counters against junk types; a state is a word,
                # not a payload (it is shown and used as a counter key).
                state = "UNKNOWN"
        if (state != "RETRY" and task.state != "RETRY"
                and rank(state) > rank(task.state)):
            # This event logically happened before the current state: keep
            # the state, take its fields (only some, for RECEIVED), as Celery.
            if state == "RECEIVED":
                self._copy_fields(task, event, RECEIVED_MERGE_FIELDS)
            else:
                # Celery copies every field here, the event's timestamp too.
                self._copy_fields(task, event, TASK_EVENT_FIELDS)
                if "timestamp" in event:
                    task.timestamp = timestamp
        else:
            self._copy_fields(task, event, TASK_EVENT_FIELDS)
            task.state = state
            task.timestamp = timestamp
        task.updated = now
        if task.state != old_state:
            self._state_changed(task, old_state)
        if state in self.state_rates and state == task.state:
            self.state_rates[state].add(now)
        self.versions["tasks"] += 1
        return subject in EVENT_TO_STATE

    @staticmethod
    def _copy_fields(task: TaskRecord, event: dict, names) -> None:
        for key in names:
            if key in event:
                value = event[key]
                if key == "traceback":
                    value = clip(value, MAX_TRACEBACK_CHARS)
                elif TASK_EVENT_FIELDS.get(key):
                    value = clip(value)
                elif isinstance(value, (str, bytes)) and len(value) > 512:
                    value = clip(value, 512)
                setattr(task, key, value)

    def _touch_task(self, uuid: str) -> TaskRecord:
        task = self._tasks.get(uuid)
        if task is not None:
            self._tasks.move_to_end(uuid)
            return task
        task = self._failures.get(uuid)
        if task is not None:
            self._failures.move_to_end(uuid)
            return task
        task = self._tasks[uuid] = self._created[uuid] = TaskRecord(uuid)
        task.seq = self._next_seq
        self._next_seq += 1
        self.held_by_state["PENDING"] += 1
        self._evict(keep=uuid)
        return task

    def _state_changed(self, task: TaskRecord, old: str) -> None:
        held = self.held_by_state
        held[old] = held.get(old, 1) - 1
        held[task.state] = held.get(task.state, 0) + 1
        if task.state == "FAILURE" and task.uuid in self._tasks:
            del self._tasks[task.uuid]
            self._failures[task.uuid] = task
            self._evict(keep=task.uuid)

    def _evict(self, keep: str) -> None:
        """Evict least recently updated tasks, never ``keep`` (the task being
        updated right now: evicting it would leave counters for a task we
        no longer hold)."""
        while len(self._tasks) + len(self._failures) > self.max_tasks:
            tasks_first = next(iter(self._tasks), None)
            failures_first = next(iter(self._failures), None)
            if (tasks_first not in (None, keep)
                    and (len(self._failures) <= self.max_failures
                         or failures_first in (None, keep))):
                _, task = self._tasks.popitem(last=False)
            elif failures_first not in (None, keep):
                _, task = self._failures.popitem(last=False)
            else:
                break  # only the kept task is left to evict
            del self._created[task.uuid]
            self._evictions += 1
            self._evicted_seqs.append(task.seq)
            self.held_by_state[task.state] -= 1
            self.counters.evicted += 1

    # --------------------------------------------------------------- reading
    def task(self, uuid: str) -> TaskRecord | None:
        with self.lock:
            return self._tasks.get(uuid) or self._failures.get(uuid)

    def task_count(self) -> int:
        with self.lock:
            return len(self._tasks) + len(self._failures)

    def tasks_snapshot(self) -> list[TaskRecord]:
        """Held tasks, least recently updated first (failures last)."""
        with self.lock:
            return list(self._tasks.values()) + list(self._failures.values())

    def tasks_newest_first(self) -> list[TaskRecord]:
        """Held tasks in the order first seen, newest first: a pointer copy
        (about a millisecond for 100k tasks), no sorting."""
        with self.lock:
            rows = list(self._created.values())
        rows.reverse()
        return rows

    def first_seen_changes(self, seq: int, evictions: int):
        """How the first-seen order changed since a reader saw creation
        number ``seq`` and ``evictions`` evictions: ``(new, gone, seq,
        evictions)`` with the tasks first seen since, newest first, and the
        creation numbers of the tasks evicted since (in any order; some of
        tasks first seen and evicted since, never in ``new``). O(changes). With
        ``seq`` < 0, or a reader further behind than the eviction log,
        ``gone`` is None and ``new`` is every task held, newest first."""
        with self.lock:
            now = (self._next_seq - 1, self._evictions)
            behind = self._evictions - evictions
            if seq < 0 or behind > len(self._evicted_seqs):
                rows = list(self._created.values())
                rows.reverse()
                return rows, None, *now
            new = []
            for task in reversed(self._created.values()):
                if task.seq <= seq:
                    break
                new.append(task)
            gone = list(islice(reversed(self._evicted_seqs), behind))
            return new, gone, *now

    def children_of(self, uuid: str) -> list[TaskRecord]:
        """Tasks whose parent is ``uuid``: a scan, done only on demand."""
        with self.lock:
            return [t for t in self._created.values() if t.parent_id == uuid]

    def recent_tasks(self, limit: int, match=None) -> list[TaskRecord]:
        """The most recently updated tasks, newest first; ``match`` filters."""
        with self.lock:
            newest = heapq.merge(reversed(self._tasks.values()),
                                 reversed(self._failures.values()),
                                 key=_updated, reverse=True)
            out = []
            for task in newest:
                if match is None or match(task):
                    out.append(task)
                    if len(out) >= limit:
                        break
            return out

    def worker_alive(self, hostname: str, now: float | None = None) -> bool:
        with self.lock:
            worker = self.workers.get(hostname)
            return bool(worker and worker.alive(
                self.clock() if now is None else now))

    def workers_online(self, now: float | None = None) -> list[str]:
        now = self.clock() if now is None else now
        with self.lock:
            return sorted(h for h, w in self.workers.items() if w.alive(now))

    def tasks_per_second(self, span: int = 10) -> float:
        """Tasks finishing per second (succeeded + failed) over ``span`` s."""
        now = self.clock()
        with self.lock:
            return (self.state_rates["SUCCESS"].rate(now, span)
                    + self.state_rates["FAILURE"].rate(now, span))

    def events_per_second(self, span: int = 10) -> float:
        with self.lock:
            return self.events_rate.rate(self.clock(), span)

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
                self.versions["workers"] += 1
            return lost

    def _flag_lost_tasks(self, hostname: str) -> int:
        """Flag the unfinished tasks ``hostname`` held. ``state`` keeps
        Celery's value (the flag is separate), so final states still match
        Celery's State; the task's next event clears the flag."""
        flagged = 0
        for task in self._created.values():
            if (task.worker == hostname and not task.worker_lost
                    and task.state not in _NOT_HELD_BY_WORKER):
                task.worker_lost = True
                flagged += 1
        if flagged:
            self.counters.worker_lost += flagged
            self.versions["tasks"] += 1
        return flagged

    def lost_tasks(self) -> list[TaskRecord]:
        with self.lock:
            return [t for t in self._created.values() if t.worker_lost]

    # -------------------------------------------------- connection and inspect
    def set_connection(self, state: str, error: str | None = None) -> None:
        with self.lock:
            conn = self.connection
            if conn.state != state:
                conn.since = self.clock()
            conn.state = state
            conn.error = error
            conn.attempts = 0 if state == "connected" else conn.attempts + (
                state == "reconnecting")
            self.versions["connection"] += 1

    def note_events_enabled(self) -> None:
        with self.lock:
            self.connection.events_enabled_at = self.clock()

    def record_inspection(self, kind: str, replies: dict,
                          expected: Iterable[str] = (),
                          error: str | None = None) -> None:
        """Keep each worker's reply to one inspection, and who did not reply."""
        now = self.clock()
        with self.lock:
            for hostname, reply in replies.items():
                if not isinstance(hostname, str):
                    continue
                worker = self._worker_for(hostname, now)
                if worker is not None:
                    worker.seen_by.add("inspect")
                failed = isinstance(reply, dict) and "error" in reply and len(reply) == 1
                self.inspections.setdefault(hostname, {})[kind] = (
                    now, None if failed else reply,
                    reply["error"] if failed else None)
            for hostname in expected:
                if hostname not in replies:
                    kinds = self.inspections.setdefault(hostname, {})
                    last = kinds.get(kind)
                    # Keep the last good reply (its time says how old it
                    # is); record the miss beside it.
                    kinds[kind] = (last[0] if last and last[1] is not None else now,
                                   last[1] if last else None, error or "no reply")
            self.versions["inspect"] += 1

    def inspection(self, hostname: str, kind: str):
        with self.lock:
            return self.inspections.get(hostname, {}).get(kind)

    def record_queues(self, depths: dict[str, dict]) -> None:
        now = self.clock()
        with self.lock:
            self.queues = dict(depths)
            for name, depth in depths.items():
                if isinstance(depth.get("messages"), int):
                    history = self.queue_history.get(name)
                    if history is None:
                        if len(self.queue_history) >= 1000:
                            continue  # bounded, like everything here
                        history = self.queue_history[name] = deque(maxlen=300)
                    history.append((now, depth["messages"]))
            self.versions["queues"] += 1

    def record_action(self, outcome: dict) -> None:
        with self.lock:
            self.actions.append(outcome)
            self.versions["actions"] += 1


_INVALID = object()


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _worker_value(key: str, value):
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


def _updated(task: TaskRecord) -> float:
    return task.updated or 0.0
