"""The beat schedule: what the app says should run, and what events show ran.

Celery beat answers no pings and sends no events of its own: the only sign
it is alive is the tasks it sends. So the console reads the app's
``beat_schedule`` (with each schedule's own next-run estimate) and keeps,
per periodic task name, when a ``task-sent`` or ``task-received`` of that
name was last seen (O(1) per event, only for the names the schedule holds).
An entry with no run seen for ``LATE_FACTOR`` intervals is late — judged
only from when the console has been watching (connected, events on), so
the console's own outage is never beat's.

A scheduler that keeps its schedule elsewhere (django_celery_beat's
DatabaseScheduler, RedBeat) cannot be read from the app's settings: said.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .views import Versions

LATE_FACTOR = 2.0
DEFAULT_SCHEDULER = "celery.beat:PersistentScheduler"
# Schedulers that run what beat_schedule says (and nothing else).
_READABLE = ("celery.beat:PersistentScheduler", "celery.beat.PersistentScheduler",
             "celery.beat:Scheduler", "celery.beat.Scheduler")
# More entries than this are not read (a schedule is a handful; a generated
# one of thousands would make every redraw slow).
MAX_ENTRIES = 500


@dataclass(frozen=True)
class ScheduleEntry:
    name: str
    task: str
    text: str                    # the schedule, as a person reads it
    interval: float | None       # seconds between runs (an estimate for crontab)
    schedule: Any = None         # Celery's schedule object (None if unreadable)
    error: str | None = None     # why this entry could not be read


@dataclass(frozen=True)
class BeatSchedule:
    entries: tuple[ScheduleEntry, ...]
    scheduler: str
    readable: bool               # False: a scheduler that keeps its own schedule
    note: str                    # what to say when there is nothing, or a doubt
    timezone: Any = timezone.utc


@dataclass(frozen=True)
class BeatEntryView:
    name: str
    task: str
    schedule: str
    interval: float | None
    next_in: float | None        # seconds until the schedule's next run (0: due)
    due: bool | None
    last_seen: float | None      # this machine's clock
    last_uuid: str | None
    runs: int                    # runs seen since the console started watching
    late: bool | None            # None: not judged (not watching long enough)
    error: str | None = None

    @property
    def status(self) -> str:
        """``late``, ``ok``, ``waiting`` (not judged yet) or ``unreadable``."""
        if self.error:
            return "unreadable"
        if self.late is None:
            return "waiting"
        return "late" if self.late else "ok"


@dataclass(frozen=True)
class BeatView:
    entries: tuple[BeatEntryView, ...]
    scheduler: str
    readable: bool
    note: str
    watching_since: float | None  # None: not connected, nothing is judged

    @property
    def late(self) -> int:
        return sum(1 for e in self.entries if e.late)


# ------------------------------------------------------------- the schedule
def read_schedule(app: Any) -> BeatSchedule:
    """The app's ``beat_schedule``, read once (it is configuration)."""
    conf = app.conf
    try:
        scheduler = str(conf.get("beat_scheduler") or DEFAULT_SCHEDULER)
    except Exception as exc:  # a settings module that raises: said, not fatal
        return BeatSchedule((), "?", False, f"the app's settings could not be read: {exc}")
    readable = scheduler in _READABLE
    try:
        raw = conf.get("beat_schedule") or {}
        tz = app.timezone
    except Exception as exc:
        return BeatSchedule((), scheduler, readable,
                            f"beat_schedule could not be read: {type(exc).__name__}: {exc}")
    entries = []
    items = list(raw.items()) if isinstance(raw, dict) else []
    for name, entry in items[:MAX_ENTRIES]:
        entries.append(_entry(app, str(name), entry))
    if not isinstance(raw, dict):
        note = f"beat_schedule is a {type(raw).__name__}, not a dict: nothing to read"
    elif not readable:
        note = (f"the app's scheduler is {scheduler}: it keeps its schedule outside the "
                "app's settings (a database, Redis), which the console cannot read"
                + ("; below are only the entries of beat_schedule" if entries else ""))
    elif not entries:
        note = ("the app defines no periodic tasks (its beat_schedule is empty): give -A "
                "the app beat runs with")
    elif len(items) > MAX_ENTRIES:
        note = f"the first {MAX_ENTRIES} of {len(items)} entries"
    else:
        note = ""
    return BeatSchedule(tuple(entries), scheduler, readable, note, tz)


def _entry(app: Any, name: str, entry: object) -> ScheduleEntry:
    if not isinstance(entry, dict):
        return ScheduleEntry(name, "?", "?", None, error="not a dict")
    task = str(entry.get("task") or "?")
    raw = entry.get("schedule")
    if raw is None:
        return ScheduleEntry(name, task, "?", None, error="no schedule")
    if not (isinstance(raw, (int, float, timedelta)) and not isinstance(raw, bool)
            or hasattr(raw, "remaining_estimate")):
        return ScheduleEntry(name, task, "?", None, error=(
            f"schedule is a {type(raw).__name__}, not seconds, a timedelta or a schedule"))
    try:
        from celery.schedules import maybe_schedule

        sched = maybe_schedule(raw, entry.get("relative", False), app)
        return ScheduleEntry(name, task, schedule_text(sched), _interval(sched), sched)
    except Exception as exc:
        return ScheduleEntry(name, task, "?", None, error=f"{type(exc).__name__}: {exc}")


def schedule_text(sched: Any) -> str:
    from celery.schedules import crontab, schedule, solar

    if isinstance(sched, crontab):
        return "crontab " + " ".join(str(getattr(sched, f"_orig_{part}")) for part in (
            "minute", "hour", "day_of_month", "month_of_year", "day_of_week"))
    if isinstance(sched, solar):
        return f"solar {sched.event} ({sched.lat}, {sched.lon})"
    if isinstance(sched, schedule):
        return "every " + duration(sched.run_every.total_seconds())
    return repr(sched)


def duration(seconds: float) -> str:
    """``10s``, ``2.5s``, ``5m``, ``1h 30m``, ``2d``."""
    if seconds < 60:
        return f"{round(seconds, 1):g}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m" + (f" {secs}s" if secs else "")
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h" + (f" {minutes}m" if minutes else "")
    return f"{hours // 24}d" + (f" {hours % 24}h" if hours % 24 else "")


def _at(sched: Any, moment: datetime) -> Any:
    """The schedule as it reads at ``moment`` (a copy: the app's is untouched)."""
    clone = copy.copy(sched)
    clone.nowfun = lambda: moment
    return clone


def _interval(sched: Any) -> float | None:
    from celery.schedules import schedule

    if type(sched) is schedule:
        seconds = float(sched.run_every.total_seconds())
        return seconds if seconds > 0 else None
    # Crontab, solar and the rest: the gap between the next two runs.
    now = datetime.now(timezone.utc)
    first = now + _at(sched, now).remaining_estimate(now)
    second = first + _at(sched, first).remaining_estimate(first)
    seconds = (second - first).total_seconds()
    return seconds if seconds > 0 else None


def next_run(entry: ScheduleEntry, last: float, now: float, tz: Any) -> tuple[float, bool]:
    """(seconds until the schedule's next run, whether it is due), from the
    schedule's own ``remaining_estimate``/``is_due`` with the last run at
    ``last`` and the console's clock as now."""
    moment = datetime.fromtimestamp(now, tz)
    sched = _at(entry.schedule, moment)
    previous = datetime.fromtimestamp(last, tz)
    remaining = sched.remaining_estimate(previous)
    due, _ = sched.is_due(previous)
    seconds = remaining.total_seconds() if isinstance(remaining, timedelta) else 0.0
    return max(0.0, seconds), bool(due)


# ---------------------------------------------------------- the model's half
class PeriodicSeen:
    __slots__ = ("last", "uuid", "runs")

    def __init__(self) -> None:
        self.last: float | None = None
        self.uuid: str | None = None
        self.runs = 0


class BeatWatch:
    """A mixin of ``ClusterState``: the last run seen per periodic task name."""

    # Owned by ClusterState.
    lock: threading.RLock
    versions: Versions
    connection: Any
    clock: Callable[[], float]

    def _init_beat(self) -> None:
        self._periodic: dict[str, PeriodicSeen] = {}
        self._beat_since: float | None = None

    def watch_task_names(self, names: Iterable[str], since: float | None = None) -> None:
        """Keep the last run seen of these task names (the schedule's),
        from now (or ``since``) on."""
        with self.lock:
            for name in names:
                self._periodic.setdefault(name, PeriodicSeen())
            if self._beat_since is None:
                self._beat_since = self.clock() if since is None else since

    def _saw_periodic(self, name: object, uuid: str, now: float) -> None:
        """Per task-sent/received event while a schedule is watched: O(1)."""
        seen = self._periodic.get(name) if isinstance(name, str) else None
        if seen is None:
            return
        if seen.uuid != uuid:
            seen.runs += 1
            seen.uuid = uuid
        seen.last = now

    def beat_view(self, schedule: BeatSchedule, now: float) -> BeatView:
        with self.lock:
            seen = {name: (s.last, s.uuid, s.runs) for name, s in self._periodic.items()}
            conn = self.connection
            since: float | None = None
            if conn.state == "connected" and self._beat_since is not None:
                since = max(self._beat_since, conn.since)
        entries = []
        for entry in schedule.entries:
            last, uuid, runs = seen.get(entry.task, (None, None, 0))
            next_in: float | None = None
            due: bool | None = None
            late: bool | None = None
            error = entry.error
            if entry.schedule is not None and error is None:
                reference = last if last is not None else since
                if reference is not None:
                    try:
                        next_in, due = next_run(entry, reference, now, schedule.timezone)
                    except Exception as exc:  # a custom schedule of the app's
                        error = f"{type(exc).__name__}: {exc}"
            if since is not None and entry.interval and error is None:
                window = LATE_FACTOR * entry.interval
                if last is None and now - since <= window:
                    late = None  # not watched long enough to judge
                else:
                    late = now - max(last or since, since) > window
            entries.append(BeatEntryView(
                entry.name, entry.task, entry.text, entry.interval, next_in, due,
                last, uuid, runs, late, error))
        return BeatView(tuple(entries), schedule.scheduler, schedule.readable,
                        schedule.note, since)


def beat_report(view: BeatView, now: float) -> dict[str, Any]:
    """The ``beat`` part of ``console status --json``."""
    return {
        "scheduler": view.scheduler, "readable": view.readable, "note": view.note,
        "watching_for": None if view.watching_since is None
        else round(now - view.watching_since, 1),
        "late": view.late,
        "entries": [{
            "name": e.name, "task": e.task, "schedule": e.schedule,
            "interval": e.interval, "status": e.status,
            "last_seen": e.last_seen,
            "last_seen_age": None if e.last_seen is None else round(now - e.last_seen, 1),
            "last_task": e.last_uuid, "runs_seen": e.runs, "late": e.late,
            "next_in": None if e.next_in is None else round(e.next_in, 1),
            "error": e.error,
        } for e in view.entries],
    }
