"""The cluster model: tasks, workers, counters and rates, fed by events.

One lock guards everything. The capture thread applies events under it;
readers get typed, immutable views (``console/core/views.py``) built under
it in one step, or read a version number; no screen takes the lock or
iterates the live dicts. Every per-event step is O(1) in the number of
tasks held.

The model is split along its seams, one mixin a module: tasks and the
eviction log (``taskstore.py``), the worker registry and its sweep
(``registry.py``), inspection replies, queue depths and the action log
(``stores.py``). This module is the intake and what joins them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .beat import BeatWatch
from .rates import RateWindow
from .records import RING_VALUE_CHARS, STATES, clip
from .registry import MAX_WORKERS, WorkerRegistry
from .stores import ActionStore, InspectionStore, QueueStore
from .taskstore import EVICTION_LOG, TaskStore
from .triage import DEFAULT_STUCK_FACTOR, DEFAULT_STUCK_FLOOR, Triage, TriageStore
from .views import ConnectionView, EventTail, HeaderView, IntakeView, Versions

__all__ = ["ClusterState", "ConnectionStatus", "Counters", "DEFAULT_MAX_TASKS",
           "EVICTION_LOG", "IntakeStatus", "MAX_WORKERS"]

log = logging.getLogger(__name__)

DEFAULT_MAX_TASKS = 100_000
DEFAULT_EVENT_RING = 2_000
# Internal errors logged with a traceback: the first few, then one in this
# many, so a bug hit by every event cannot fill the disk.
_LOG_FIRST_ERRORS = 20
_LOG_EVERY_ERROR = 1_000

# Scalar fields kept in the raw-event ring; anything else is dropped there
# (the task record keeps what matters), so the ring stays small.
_RING_FIELDS = frozenset({
    "type", "hostname", "uuid", "name", "timestamp", "local_received",
    "state", "exception", "result", "runtime", "retries", "args", "kwargs",
    "active", "processed", "signum", "terminated", "queue", "routing_key",
})
# The keys of Celery's own task and worker events: an event with these and
# short scalar values is kept in the ring whole (see _ring_entry).
_CELERY_KEYS = _RING_FIELDS | {
    "utcoffset", "pid", "clock", "eta", "expires", "parent_id", "root_id",
    "exchange", "traceback", "expired", "requeue", "freq", "sw_ident", "sw_ver",
    "sw_sys", "reason",
}
_MAX_TYPE_CHARS = 64
# An intake reading older than this is not shown (nothing arrives: nothing
# is behind).
INTAKE_FRESH_SECONDS = 5.0


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
class IntakeStatus:
    """How the capture thread keeps up, written by it alone (one attribute at
    a time, no lock), read by the header through ``ClusterState``."""

    # Seconds between the newest applied event's timestamp (the sender's
    # clock, localised as Celery does) and its arrival here.
    behind: float | None = None
    behind_at: float | None = None  # local time of that reading
    # Events waiting in our own RabbitMQ event queue (None: not RabbitMQ,
    # or not read yet) and when that was read.
    waiting: int | None = None
    waiting_at: float | None = None
    # The connection to the broker dropped after events had flowed: events
    # published meanwhile are lost (Redis pub/sub keeps nothing; RabbitMQ's
    # event queue is deleted with the connection).
    disconnects: int = 0
    fast: int = 0  # messages decoded by the fast path
    fallback: int = 0  # messages handed to kombu's decode


@dataclass
class Counters:
    events: int = 0
    # Input that is not a Celery event we can use (counted, skipped).
    malformed: int = 0
    unknown: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    evicted: int = 0
    # Tasks flagged because the worker holding them went away.
    worker_lost: int = 0
    # Exceptions in the console's own code while applying an event: a bug,
    # not bad input; each is logged with its traceback.
    internal_errors: int = 0


class ClusterState(TaskStore, WorkerRegistry, InspectionStore, QueueStore, ActionStore,
                   BeatWatch, TriageStore):
    """The model every screen and the headless commands read."""

    def __init__(self, max_tasks: int = DEFAULT_MAX_TASKS,
                 max_failures: int | None = None,
                 event_ring: int = DEFAULT_EVENT_RING,
                 clock: Callable[[], float] = time.time,
                 stuck_floor: float = DEFAULT_STUCK_FLOOR,
                 stuck_factor: float = DEFAULT_STUCK_FACTOR):
        self._init_tasks(max_tasks, max_failures)
        # Per type figures, failure groups, stuck tasks (core/triage.py).
        self.triage = Triage(stuck_floor, stuck_factor)
        self.clock = clock
        self.lock = threading.RLock()
        self._init_workers()
        self._init_inspections()
        self._init_queues()
        self._init_actions()
        self._init_beat()
        self.held_by_state: dict[str, int] = {s: 0 for s in STATES}
        self.counters = Counters()
        self.events_rate = RateWindow()
        self.state_rates: dict[str, RateWindow] = {
            s: RateWindow() for s in STATES}
        self.events: deque[dict[str, Any]] = deque(maxlen=event_ring)
        self.connection = ConnectionStatus(since=clock())
        self.intake = IntakeStatus()
        # Versions let readers skip work when nothing changed.
        self.versions = Versions()

    # ------------------------------------------------------------------ intake
    def apply(self, event: object) -> None:
        """Apply one event. Never raises: bad events are counted and skipped.
        The model takes the event dict: it may keep it as it is in its ring,
        so the caller must not change it afterwards."""
        with self.lock:
            try:
                self._apply(event)
            except Exception:
                self._internal_error(event)

    def apply_many(self, events: Iterable[object]) -> None:
        with self.lock:
            for event in events:
                try:
                    self._apply(event)
                except Exception:
                    self._internal_error(event)

    def _internal_error(self, event: object) -> None:
        """Intake checks every field it uses, so an exception here is our
        bug: counted apart from malformed input and logged with its
        traceback (not the event: it may hold task arguments)."""
        counters = self.counters
        counters.internal_errors += 1
        n = counters.internal_errors
        if n <= _LOG_FIRST_ERRORS or n % _LOG_EVERY_ERROR == 0:
            kind = event.get("type") if isinstance(event, dict) else type(event).__name__
            log.exception("internal error #%d applying an event of type %s",
                          n, clip(kind, 64))

    def _apply(self, event: object) -> None:
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
        seen = by_type.get(type_)
        if seen is not None:
            by_type[type_] = seen + 1
        elif len(by_type) < 256:
            by_type[type_] = 1
        self.events_rate.add(now)
        self.connection.last_event_at = now
        group, _, subject = type_.partition("-")
        plain = False
        if group == "task":
            self.event_plain = False
            handled = self._task_event(subject, event, now)
            # Its values were all checked short scalars on the way in.
            plain = self.event_plain
        elif group == "worker":
            handled = self._worker_event(subject, event, now)
        else:
            handled = False
        if not handled:
            counters.unknown += 1
        if plain and event.keys() <= _CELERY_KEYS and "local_received" in event:
            # The usual event (Celery's own keys, short scalar values,
            # stamped on arrival) is kept in the ring as it came: the model
            # is its last reader, and a copy was a seventh of the intake.
            self.events.append(event)
        else:
            self.events.append(self._ring_entry(event, now))
        self.versions.events += 1

    @staticmethod
    def _ring_entry(event: dict[str, Any], now: float) -> dict[str, Any]:
        """The event copied down to the ring's fields, clipped, stamped."""
        entry = {}
        # Over the event's keys, a set lookup each (see _copy_fields).
        for key, value in event.items():
            if key in _RING_FIELDS:
                kind = type(value)
                # clip() keeps these as they are; calling it for every
                # field was a tenth of the intake's time.
                if not (kind is float or kind is int or value is None
                        or kind is str and len(value) <= RING_VALUE_CHARS):
                    value = clip(value, RING_VALUE_CHARS)
                entry[key] = value
        if "local_received" not in entry:
            entry["local_received"] = now
        return entry

    def count_malformed(self, n: int = 1) -> None:
        """Input the capture thread could not even decode."""
        with self.lock:
            self.counters.malformed += n

    # --------------------------------------------------------------- reading
    def tasks_per_second(self, span: int = 10) -> float:
        """Tasks finishing per second (succeeded + failed) over ``span`` s."""
        now = self.clock()
        with self.lock:
            return (self.state_rates["SUCCESS"].rate(now, span)
                    + self.state_rates["FAILURE"].rate(now, span))

    def events_per_second(self, span: int = 10) -> float:
        with self.lock:
            return self.events_rate.rate(self.clock(), span)

    def throughput(self, now: float, seconds: int) -> tuple[list[int], list[int]]:
        """Succeeded and failed per second over the last ``seconds``."""
        with self.lock:
            return (self.state_rates["SUCCESS"].history(now, seconds),
                    self.state_rates["FAILURE"].history(now, seconds))

    def event_tail(self, seen: int, limit: int) -> EventTail:
        """The raw events received since a reader saw ``seen`` of them (at
        most ``limit``, and at most what the ring still holds)."""
        with self.lock:
            counters = self.counters
            total = counters.events
            new = min(total - seen, len(self.events), limit)
            entries = tuple(dict(e) for e in list(self.events)[-new:]) if new > 0 else ()
            return EventTail(total, counters.malformed, counters.internal_errors, entries)

    def header_view(self, now: float) -> HeaderView:
        with self.lock:
            conn = self.connection
            triage = self.triage_counts(now)
            return HeaderView(
                connection=ConnectionView(conn.state, conn.since, conn.error,
                                          conn.attempts, conn.last_event_at),
                online=sum(w.alive(now) for w in self.workers.values()),
                total=len(self.workers),
                tasks_per_s=self.tasks_per_second(),
                last_action=self.actions[-1] if self.actions else None,
                stuck=triage.stuck, lost=triage.lost,
                intake=self.intake_view(now))

    def intake_view(self, now: float) -> IntakeView:
        """The capture thread's own readings (plain attributes it writes one
        at a time): fresh ones only."""
        intake = self.intake
        behind, behind_at = intake.behind, intake.behind_at
        waiting, waiting_at = intake.waiting, intake.waiting_at
        return IntakeView(
            behind=behind if behind_at is not None and behind is not None
            and now - behind_at < INTAKE_FRESH_SECONDS else None,
            waiting=waiting if waiting_at is not None and waiting is not None
            and now - waiting_at < INTAKE_FRESH_SECONDS else None,
            disconnects=intake.disconnects, fallback=intake.fallback)

    # -------------------------------------------------------------- connection
    def set_connection(self, state: str, error: str | None = None) -> None:
        with self.lock:
            conn = self.connection
            if conn.state != state:
                conn.since = self.clock()
            conn.state = state
            conn.error = error
            conn.attempts = 0 if state == "connected" else conn.attempts + (
                state == "reconnecting")
            self.versions.connection += 1

    def note_events_enabled(self) -> None:
        with self.lock:
            self.connection.events_enabled_at = self.clock()
