"""Triage: per task type figures, failures grouped by cause, stuck tasks.

``ClusterState`` owns one ``Triage`` and calls ``task_event`` after each
task event (O(1): a few dict and list operations; a failure or retry also
normalises its message), ``evicted`` when the store drops a task and
``lost`` when a worker went away with a task. Nothing here scans the held
tasks: the STARTED ones are kept apart (a dict of the tasks a worker runs
now), and ``sweep`` — on the capture thread's periodic sweep and on every
read — flags those running longer than their threshold as ``stuck``.

Per task type (bounded like workers: ``MAX_TASK_TYPES``):

- held counts per state (follows each task's name and state);
- succeeded and failed per second: ``RateWindow`` rings of 10-second
  buckets over 5 minutes (the sparkline);
- runtime p50/p95/p99 from the ``runtime`` of ``task-succeeded``, in a
  ``LogHistogram`` (fixed log-scale buckets, 1 % relative error);
- queue wait (received − sent, only for tasks whose ``task-sent`` event was
  seen, never for tasks with an eta or countdown, which wait on purpose)
  and start delay (started − received, eta tasks excluded for the same
  reason): count, mean, max, last exactly, percentiles within 1 %;
- in flight (RECEIVED + STARTED held), the last failure's time, retries.

The figures run from when the console started (or the type first showed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from .views import Versions

from .failures import FailureGroupView, GroupTable
from .histogram import LogHistogram
from .rates import RateWindow
from .records import TaskRecord

MAX_TASK_TYPES = 1_000
DEFAULT_STUCK_FLOOR = 60.0
DEFAULT_STUCK_FACTOR = 5.0
# Rates: buckets of this many seconds, this many of them (the sparkline).
RATE_BUCKET = 10
RATE_BUCKETS = 30
RATE_SPAN = 6  # buckets the per-second rate is the mean of (the last minute)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Latency(NamedTuple):
    """One latency of a type: exact count, mean, max and last; p50/p95/p99
    within ``histogram.RELATIVE_ERROR``. Seconds."""

    samples: int
    mean: float
    highest: float
    last: float
    p50: float
    p95: float
    p99: float


def latency(hist: LogHistogram) -> Latency | None:
    shown = hist.percentiles()
    mean = hist.mean
    if shown is None or mean is None:
        return None
    return Latency(hist.count, mean, hist.highest, hist.last, *shown)


@dataclass(frozen=True)
class TaskTypeView:
    """One task type, as the Task types screen and ``console status`` show it."""

    name: str
    held: Mapping[str, int]         # state → tasks of this type held
    in_flight: int                  # RECEIVED + STARTED held
    succeeded: int                  # events seen since the console started
    failed: int
    retried: int
    succeeded_per_s: float          # over the last minute
    failed_per_s: float
    succeeded_history: tuple[int, ...]   # per 10 s, oldest first (5 minutes)
    failed_history: tuple[int, ...]
    failure_ratio: float | None     # failed / (succeeded + failed), last 5 minutes
                                    # and the 10 s filling now
    runtime: Latency | None
    wait: Latency | None            # received − sent
    delay: Latency | None           # started − received
    last_failure_at: float | None   # this console's clock
    stuck: int = 0


@dataclass(frozen=True)
class StuckView:
    """A task STARTED longer than its type's threshold."""

    uuid: str
    name: str | None
    worker: str | None
    running_for: float      # seconds, by this console's clock
    threshold: float


@dataclass(frozen=True)
class TriageCounts:
    stuck: int
    lost: int
    failed: int  # FAILURE held
    types: int = 0
    types_dropped: int = 0  # events of types past MAX_TASK_TYPES, not counted


class TypeStats:
    __slots__ = ("name", "held", "succeeded", "failed", "ok_total", "failed_total",
                 "retried_total", "runtime", "wait", "delay", "last_failure_at",
                 "changed", "serial", "_view", "_view_key", "_due")

    def __init__(self, name: str, serial: int = 0):
        self.name = name
        self.serial = serial
        self._due = 0.0
        self.held: dict[str, int] = {}
        self.succeeded = RateWindow(RATE_BUCKETS + 2)
        self.failed = RateWindow(RATE_BUCKETS + 2)
        self.ok_total = self.failed_total = self.retried_total = 0
        self.runtime = LogHistogram()
        self.wait = LogHistogram()
        self.delay = LogHistogram()
        self.last_failure_at: float | None = None
        self.changed = 0
        self._view: TaskTypeView | None = None
        self._view_key: tuple[int, int] = (-1, -1)

    def view(self, now: float, max_age: float = 0.0) -> TaskTypeView:
        """Rebuilt when the type changed or a rate bucket turned; with
        ``max_age``, at most that often (a screen redrawn four times a
        second: with 500 busy types, rebuilding every one every tick cost
        more than the 10 ms a redraw may take; rebuilds are spread over
        ticks by each type's own period, max_age × 1 to 1.9)."""
        key = (self.changed, int(now // RATE_BUCKET))
        view = self._view
        if view is not None and (key == self._view_key or now < self._due):
            return view
        # The full buckets, oldest first, then the one filling now.
        at = now / RATE_BUCKET + 1
        *ok, ok_now = self.succeeded.history(at, RATE_BUCKETS + 1)
        *bad, bad_now = self.failed.history(at, RATE_BUCKETS + 1)
        ok_recent, bad_recent = sum(ok) + ok_now, sum(bad) + bad_now
        held = self.held
        self._view = TaskTypeView(
            name=self.name, held={s: n for s, n in held.items() if n},
            in_flight=held.get("RECEIVED", 0) + held.get("STARTED", 0),
            succeeded=self.ok_total, failed=self.failed_total, retried=self.retried_total,
            succeeded_per_s=sum(ok[-RATE_SPAN:]) / (RATE_SPAN * RATE_BUCKET),
            failed_per_s=sum(bad[-RATE_SPAN:]) / (RATE_SPAN * RATE_BUCKET),
            succeeded_history=tuple(ok), failed_history=tuple(bad),
            failure_ratio=(bad_recent / (ok_recent + bad_recent)
                           if ok_recent + bad_recent else None),
            runtime=latency(self.runtime), wait=latency(self.wait),
            delay=latency(self.delay), last_failure_at=self.last_failure_at)
        self._view_key = key
        self._due = now + max_age * (1 + (self.serial % 10) / 10)
        return self._view


class Triage:
    """Owned by ``ClusterState`` and used under its lock."""

    __slots__ = ("stuck_floor", "stuck_factor", "max_types", "types", "types_dropped",
                 "failures", "retries", "running", "stuck", "lost")

    def __init__(self, stuck_floor: float = DEFAULT_STUCK_FLOOR,
                 stuck_factor: float = DEFAULT_STUCK_FACTOR,
                 max_types: int = MAX_TASK_TYPES):
        self.stuck_floor = stuck_floor
        self.stuck_factor = stuck_factor
        self.max_types = max_types
        self.types: dict[str, TypeStats] = {}
        self.types_dropped = 0
        self.failures = GroupTable("failure")
        self.retries = GroupTable("retry")
        # uuid → (task, when it started by our clock): the tasks running now.
        self.running: dict[str, tuple[TaskRecord, float]] = {}
        self.stuck: dict[str, TaskRecord] = {}
        self.lost: dict[str, TaskRecord] = {}

    # ------------------------------------------------------------ per event
    def _type(self, name: object) -> TypeStats | None:
        if type(name) is not str:
            return None
        stats = self.types.get(name)
        if stats is None:
            if len(self.types) >= self.max_types:
                self.types_dropped += 1
                return None
            stats = self.types[name] = TypeStats(name, len(self.types))
        return stats

    def record_failure(self, stats: TypeStats, task: TaskRecord, now: float) -> None:
        """One failure of ``task``: its type's figures and its cause's group."""
        stats.failed_total += 1
        stats.failed.add(now / RATE_BUCKET)
        stats.last_failure_at = now
        self.failures.add(task, now)

    def task_event(self, task: TaskRecord, subject: str, old_name: object,
                   old_state: str, now: float) -> None:
        name, state = task.name, task.state
        stats = self.types.get(name) if type(name) is str else None
        if stats is None:
            stats = self._type(name)
        if state != old_state:
            if name == old_name:  # the usual: a new state
                if stats is not None:
                    held = stats.held
                    held[old_state] = held.get(old_state, 1) - 1
                    held[state] = held.get(state, 0) + 1
            else:
                self._moved(task, old_name, old_state, stats)
            if state == "STARTED":
                self.running[task.uuid] = (task, now)
            elif old_state == "STARTED":
                self._stopped(task)
        elif name != old_name:
            if old_name is None:  # the usual: the first event that names it
                if stats is not None:
                    held = stats.held
                    held[state] = held.get(state, 0) + 1
            else:
                self._moved(task, old_name, old_state, stats)
        if stats is None:
            return
        stats.changed += 1
        if subject == "succeeded":
            if state == "SUCCESS":
                stats.ok_total += 1
                stats.succeeded.add(now / RATE_BUCKET)
                runtime = task.runtime
                if type(runtime) is float or _number(runtime):
                    stats.runtime.add(runtime)
        elif subject == "started":
            received, started = task.received, task.started
            if task.eta is None and (type(received) is float or _number(received)) and (
                    type(started) is float or _number(started)):
                stats.delay.add(started - received)
        elif subject == "received":
            if task.eta is None:
                sent, received, started = task.sent, task.received, task.started
                if (type(received) is float or _number(received)) and (
                        type(sent) is float or _number(sent)):
                    stats.wait.add(received - sent)
                if started is not None and _number(started) and _number(received) \
                        and started >= received:
                    stats.delay.add(started - received)  # came after its started
        elif subject == "failed":
            # Celery sends task-failed twice for a hard time limit: a task
            # already FAILURE is one failure, not two.
            if state == "FAILURE" and old_state != "FAILURE":
                self.record_failure(stats, task, now)
        elif subject == "retried":
            stats.retried_total += 1
            self.retries.add(task, now)
        elif subject == "sent":
            sent, received = task.sent, task.received
            # Its received came first (events of two hosts, reordered); a
            # retry's new sent is later than the old received and is skipped.
            if (task.eta is None and _number(sent) and _number(received)
                    and received >= sent):
                stats.wait.add(received - sent)

    def _moved(self, task: TaskRecord, old_name: object, old_state: str,
               new: TypeStats | None) -> None:
        """The task's name changed: its held count moves to its new type."""
        if type(old_name) is str:
            old = self.types.get(old_name)
            if old is not None:
                old.held[old_state] = old.held.get(old_state, 1) - 1
                old.changed += 1
        if new is not None:
            new.held[task.state] = new.held.get(task.state, 0) + 1

    def _stopped(self, task: TaskRecord) -> None:
        self.running.pop(task.uuid, None)
        if self.stuck.pop(task.uuid, None) is not None:
            task.stuck = False

    def evicted(self, task: TaskRecord) -> None:
        name = task.name
        if type(name) is str:
            stats = self.types.get(name)
            if stats is not None:
                stats.held[task.state] = stats.held.get(task.state, 1) - 1
                stats.changed += 1
        self._stopped(task)
        self.lost.pop(task.uuid, None)

    def flagged_lost(self, task: TaskRecord) -> None:
        self.lost[task.uuid] = task

    # -------------------------------------------------------------- stuck
    def threshold(self, name: object) -> float:
        """max(floor, factor × the type's runtime p99); the floor alone
        while the type has no runtime yet."""
        stats = self.types.get(name) if type(name) is str else None
        shown = stats.runtime.percentiles() if stats is not None else None
        if shown is None:
            return self.stuck_floor
        return max(self.stuck_floor, self.stuck_factor * shown[2])

    def sweep(self, now: float) -> bool:
        """Flag (and unflag) the running tasks past their threshold.
        O(tasks running). True when a flag changed."""
        changed = False
        stuck = self.stuck
        for uuid, (task, since) in self.running.items():
            over = now - since > self.threshold(task.name)
            if over != (uuid in stuck):
                changed = True
                if over:
                    stuck[uuid] = task
                else:
                    del stuck[uuid]
                task.stuck = over
        return changed

    # -------------------------------------------------------------- reading
    def lost_count(self) -> int:
        """Tasks flagged lost and still flagged (their next event clears it)."""
        lost = self.lost
        for uuid in [u for u, t in lost.items() if not t.worker_lost]:
            del lost[uuid]
        return len(lost)

    def type_views(self, now: float, max_age: float = 0.0) -> list[TaskTypeView]:
        by_name: dict[str, int] = {}
        for task in self.stuck.values():
            if type(task.name) is str:
                by_name[task.name] = by_name.get(task.name, 0) + 1
        views = []
        for name, stats in self.types.items():
            view = stats.view(now, max_age)
            stuck = by_name.get(name, 0)
            if stuck != view.stuck:
                view = _with_stuck(view, stuck)
            views.append(view)
        return views

    def stuck_views(self, now: float, worker: str | None = None) -> list[StuckView]:
        """The stuck tasks (of one worker), longest running first."""
        out = []
        for uuid, task in self.stuck.items():
            if worker is not None and task.worker != worker:
                continue
            _, since = self.running.get(uuid, (task, now))
            out.append(StuckView(uuid, task.name if type(task.name) is str else None,
                                 task.worker, now - since, self.threshold(task.name)))
        out.sort(key=lambda v: -v.running_for)
        return out

    def group_views(self, kind: str) -> list[FailureGroupView]:
        return (self.retries if kind == "retry" else self.failures).views()


def _with_stuck(view: TaskTypeView, stuck: int) -> TaskTypeView:
    return replace(view, stuck=stuck)


class TriageStore:
    """The reading side, a mixin of ``ClusterState`` (which owns the lock
    and ``triage``)."""

    if TYPE_CHECKING:
        lock: threading.RLock
        clock: Callable[[], float]
        versions: Versions
        triage: Triage
        held_by_state: dict[str, int]

        def task(self, uuid: str) -> TaskRecord | None: ...

    def sweep_stuck(self, now: float | None = None) -> None:
        """Flag the tasks running past their threshold now (the capture
        thread's periodic sweep; every read below does it too)."""
        with self.lock:
            if self.triage.sweep(self.clock() if now is None else now):
                self.versions.tasks += 1

    def task_type_views(self, now: float | None = None,
                        max_age: float = 0.0) -> list[TaskTypeView]:
        """Every type's figures; ``max_age``: a type's may be that many
        seconds old (up to 1.9× that), for a screen's redraw."""
        now = self.clock() if now is None else now
        with self.lock:
            self.sweep_stuck(now)
            return self.triage.type_views(now, max_age)

    def failure_group_views(self, kind: str = "failure") -> list[FailureGroupView]:
        """``kind``: "failure" or "retry"; the most recently seen first."""
        with self.lock:
            return self.triage.group_views(kind)

    def failure_group_view(self, kind: str, gid: int) -> FailureGroupView | None:
        with self.lock:
            return (self.triage.retries if kind == "retry" else self.triage.failures).view(gid)

    def stuck_views(self, now: float | None = None,
                    worker: str | None = None) -> list[StuckView]:
        now = self.clock() if now is None else now
        with self.lock:
            self.sweep_stuck(now)
            return self.triage.stuck_views(now, worker)

    def triage_counts(self, now: float | None = None) -> TriageCounts:
        now = self.clock() if now is None else now
        with self.lock:
            self.sweep_stuck(now)
            triage = self.triage
            return TriageCounts(stuck=len(triage.stuck), lost=triage.lost_count(),
                                failed=self.held_by_state.get("FAILURE", 0),
                                types=len(triage.types), types_dropped=triage.types_dropped)


def _latency_dict(value: Latency | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"samples": value.samples, "mean": round(value.mean, 6),
            "max": round(value.highest, 6), "p50": round(value.p50, 6),
            "p95": round(value.p95, 6), "p99": round(value.p99, 6)}


def group_dict(group: FailureGroupView) -> dict[str, Any]:
    return {"id": group.gid, "type": group.exc_type, "message": group.message,
            "count": group.count, "first_seen": group.first_seen,
            "last_seen": group.last_seen, "names": list(group.names),
            "more_names": group.more_names, "workers": list(group.workers),
            "more_workers": group.more_workers, "example": group.example,
            "example_exception": group.example_exception}


def triage_report(state: TriageStore, now: float) -> dict[str, Any]:
    """What ``console status`` adds: per type figures (seconds), failure
    and retry groups, stuck and lost counts."""
    counts = state.triage_counts(now)
    types = {}
    for view in sorted(state.task_type_views(now), key=lambda v: v.name):
        types[view.name] = {
            "held": dict(view.held), "in_flight": view.in_flight,
            "succeeded": view.succeeded, "failed": view.failed, "retried": view.retried,
            "succeeded_per_s": round(view.succeeded_per_s, 3),
            "failed_per_s": round(view.failed_per_s, 3),
            "failure_ratio": (None if view.failure_ratio is None
                              else round(view.failure_ratio, 4)),
            "runtime": _latency_dict(view.runtime), "queue_wait": _latency_dict(view.wait),
            "start_delay": _latency_dict(view.delay),
            "last_failure_age": (None if view.last_failure_at is None
                                 else round(now - view.last_failure_at, 1)),
            "stuck": view.stuck,
        }
    return {
        "task_types": types,
        "failure_groups": [group_dict(g) for g in state.failure_group_views("failure")],
        "retry_groups": [group_dict(g) for g in state.failure_group_views("retry")],
        "stuck": counts.stuck,
        "stuck_tasks": [{"uuid": s.uuid, "name": s.name, "worker": s.worker,
                         "running_for": round(s.running_for, 1),
                         "threshold": round(s.threshold, 1)}
                        for s in state.stuck_views(now)],
        "lost": counts.lost,
    }
