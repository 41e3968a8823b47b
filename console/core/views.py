"""Typed, immutable views that core hands to screens and headless commands.

Screens never read the model's live dicts or take its lock: they ask
``ClusterState`` for one of these, built under the lock in one step, and
read fields by name. Each fact has one reader here (a worker's status, its
pool and queues, a queue's consumers and net rate), used by every screen,
``console status`` and the actions.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class Topic(str, enum.Enum):
    """What a reader can watch for changes (``ClusterState.versions``).

    An enum, so a typo in a screen's ``WATCHES`` fails at import."""

    TASKS = "tasks"
    WORKERS = "workers"
    EVENTS = "events"
    CONNECTION = "connection"
    INSPECT = "inspect"
    QUEUES = "queues"
    ACTIONS = "actions"


class Versions:
    """A change counter per topic. Slotted attributes: ``versions.taks``
    raises, where a dict key typo silently read 0."""

    __slots__ = tuple(t.value for t in Topic)
    tasks: int
    workers: int
    events: int
    connection: int
    inspect: int
    queues: int
    actions: int

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def get(self, topic: Topic) -> int:
        value: int = getattr(self, topic.value)
        return value

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


# ---------------------------------------------------------------- inspections
class InspectionEntry(NamedTuple):
    """One worker's answer to one inspection kind.

    ``reply`` is the last good reply (None if there never was one); ``at``
    when it came; ``error`` why the latest round got no good reply."""

    at: float
    reply: Any
    error: str | None


def pidbox_scope(expected: Sequence[str]) -> tuple[list[str] | None, int | None]:
    """``(destination, limit)`` for a pidbox round awaiting ``expected``.

    A round with ``limit=`` returns after that many replies, whoever sent
    them, so it must also name its destination: otherwise a reply from a
    worker the console did not count ends the wait before one it did, and
    that one shows "no reply". With nobody expected: every worker, the
    whole timeout."""
    if not expected:
        return None, None
    names = list(dict.fromkeys(expected))
    return names, len(names)


# -------------------------------------------------------------------- workers
class WorkerState(str, enum.Enum):
    ONLINE = "online"
    OFFLINE = "offline"
    # Answered an inspection, but no heartbeat has been seen yet.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class WorkerStatus:
    state: WorkerState
    since: float | None = None  # offline: since when


@dataclass(frozen=True)
class PoolView:
    name: str | None          # "prefork", "threads", …
    concurrency: int | None
    processes: tuple[Any, ...]
    max_tasks_per_child: Any

    @property
    def label(self) -> str:
        """``prefork ×4``, or ``—`` when unknown."""
        if not self.name:
            return "—"
        return f"{self.name} ×{self.concurrency}" if self.concurrency else self.name


@dataclass(frozen=True)
class WorkerView:
    hostname: str
    status: WorkerStatus
    active: int | None
    processed: int | None
    counts: Mapping[str, int]
    loadavg: tuple[float, ...] | None
    last_heartbeat: float | None
    freq: float
    software: str
    seen_by: tuple[str, ...]
    pool: PoolView | None
    queues: tuple[str, ...]
    inspections: Mapping[str, InspectionEntry] = field(default_factory=dict)
    # Where ``active`` came from ("heartbeat" or "inspection", whichever is
    # fresher) and when: the count shown beside the active list agrees with it.
    active_source: str = "heartbeat"
    active_at: float | None = None

    @property
    def online(self) -> bool:
        return self.status.state is WorkerState.ONLINE

    def inspection(self, kind: str) -> InspectionEntry | None:
        return self.inspections.get(kind)

    def reply(self, kind: str) -> Any:
        entry = self.inspections.get(kind)
        return entry.reply if entry is not None else None

    @property
    def registered(self) -> list[tuple[str, dict[str, str]]]:
        reply = self.reply("registered")
        return [parse_registered(e) for e in reply] if isinstance(reply, list) else []

    @property
    def stats(self) -> dict[str, Any]:
        reply = self.reply("stats")
        return reply if isinstance(reply, dict) else {}

    @property
    def extension(self) -> Any:
        """The companion extension's report in the last ``stats`` reply (an
        ``insight.Extension``), or None: not installed, or not inspected."""
        from .insight import extension_of  # insight reads views: imported late

        return extension_of(self.reply("stats"))


# Asked of `registered` so the limits set from the console can be read back.
REGISTERED_ITEMS = ("rate_limit", "soft_time_limit", "time_limit")
_ENTRY = re.compile(r"^(?P<name>\S+)(?:\s+\[(?P<info>.*)\])?$")


def parse_registered(entry: object) -> tuple[str, dict[str, str]]:
    """``"tasks.add [rate_limit=10/s time_limit=30]"`` → name and limits."""
    match = _ENTRY.match(str(entry).strip())
    if match is None:
        return str(entry), {}
    limits = {}
    for item in (match.group("info") or "").split():
        key, sep, value = item.partition("=")
        if sep:
            limits[key] = value
    return match.group("name"), limits


def pool_name(implementation: object) -> str | None:
    """``celery.concurrency.prefork:TaskPool`` -> ``prefork``."""
    if not isinstance(implementation, str):
        return None
    module = implementation.split(":", 1)[0]
    return module.rsplit(".", 1)[-1]


def pool_view(stats: object) -> PoolView | None:
    """The pool described by a ``stats`` reply."""
    if not isinstance(stats, dict) or not isinstance(stats.get("pool"), dict):
        return None
    pool = stats["pool"]
    concurrency = pool.get("max-concurrency")
    processes = pool.get("processes")
    if isinstance(processes, list) and processes:
        # Celery's max-concurrency is the size the pool started with: after
        # two grows a worker read "prefork ×2" beside three processes. The
        # processes it lists are the pool as it is now.
        concurrency = len(processes)
    return PoolView(
        name=pool_name(pool.get("implementation")),
        concurrency=concurrency if isinstance(concurrency, int) else None,
        processes=tuple(processes) if isinstance(processes, list) else (),
        max_tasks_per_child=pool.get("max-tasks-per-child"))


def queue_names(active_queues: object) -> tuple[str, ...]:
    """The queue names in one worker's ``active_queues`` reply, sorted."""
    if not isinstance(active_queues, list):
        return ()
    return tuple(sorted({q["name"] for q in active_queues
                         if isinstance(q, dict) and isinstance(q.get("name"), str)
                         and q["name"]}))


# --------------------------------------------------------------------- queues
@dataclass(frozen=True)
class QueueView:
    name: str
    messages: int | None
    consumers: int | None
    exists: bool | None
    error: str | None
    probed_at: float | None
    sources: tuple[str, ...]
    history: tuple[tuple[float, int], ...] = ()
    consumed_by: tuple[str, ...] = ()

    @property
    def net_rate(self) -> float | None:
        return net_rate(self.history)

    @property
    def trend(self) -> str:
        return trend(self.history)

    @property
    def consumer_count(self) -> int | None:
        """The broker's count, or the workers known to consume it (Redis
        and the filesystem transport cannot count consumers)."""
        if self.consumers is None and self.consumed_by:
            return len(self.consumed_by)
        return self.consumers

    @property
    def unattended(self) -> bool:
        """Messages waiting and nobody reading them."""
        return bool(self.messages) and not self.consumer_count


SPARK = "▁▂▃▄▅▆▇█"


def trend(history: Iterable[tuple[float, int]], points: int = 12) -> str:
    values = [m for _, m in list(history)[-points:]]
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1
    return "".join(SPARK[int((v - low) / span * (len(SPARK) - 1))] for v in values)


def net_rate(history: Iterable[tuple[float, int]], seconds: float = 30.0) -> float | None:
    """Messages per second added (positive) or drained (negative)."""
    points = list(history)
    if len(points) < 2:
        return None
    end_t, end_m = points[-1]
    start = next(((t, m) for t, m in points if end_t - t <= seconds), points[0])
    if end_t - start[0] <= 0:
        return None
    return (end_m - start[1]) / (end_t - start[0])


# -------------------------------------------------------------------- actions
class ResultKind(str, enum.Enum):
    """What happened to one target of an action."""

    OK = "ok"
    ERROR = "error"           # the target (or the broker) refused it
    NO_REPLY = "no reply"     # sent; no answer within the timeout
    UNKNOWN = "unknown"       # sent, then the connection dropped
    NOT_SENT = "not sent"     # never left: the broker could not be reached


@dataclass(frozen=True)
class TargetResult:
    kind: ResultKind
    text: str = ""
    count: int | None = None  # purge: messages removed

    @property
    def ok(self) -> bool:
        return self.kind is ResultKind.OK

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value, "text": self.text}
        if self.count is not None:
            out["count"] = self.count
        return out


class OutcomeStatus(str, enum.Enum):
    OK = "ok"
    PARTIAL = "partial"
    ERROR = "error"
    UNKNOWN = "unknown"
    REFUSED = "refused"


# ---------------------------------------------------------------- connection
@dataclass(frozen=True)
class ConnectionView:
    state: str  # connecting | connected | reconnecting | stopped
    since: float
    error: str | None
    attempts: int
    last_event_at: float | None


@dataclass(frozen=True)
class IntakeView:
    """How far event intake is behind, as the header says it."""

    # Seconds between the newest applied event's timestamp and its arrival
    # (None: no reading in the last INTAKE_FRESH_SECONDS).
    behind: float | None = None
    # Events waiting in the console's own RabbitMQ event queue (None: not
    # RabbitMQ, or no fresh reading).
    waiting: int | None = None
    # Times the event connection dropped after events flowed: what was
    # published meanwhile is lost.
    disconnects: int = 0
    # Messages kombu's generic decode read (not plain JSON).
    fallback: int = 0


@dataclass(frozen=True)
class HeaderView:
    """What the header and the status line show, read in one step."""

    connection: ConnectionView
    online: int
    total: int
    tasks_per_s: float
    last_action: Any  # the newest Outcome, or None
    intake: IntakeView = IntakeView()
    # Tasks STARTED past their threshold, and tasks whose worker went away.
    stuck: int = 0
    lost: int = 0


# ---------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class TaskView:
    """A copy of one task's fields, for detail screens and dialogs."""

    uuid: str
    name: str | None
    state: str
    worker: str | None
    client: str | None
    queue: str | None
    routing_key: str | None
    args: Any
    kwargs: Any
    result: Any
    exception: Any
    traceback: Any
    retries: Any
    eta: Any
    expires: Any
    parent_id: str | None
    root_id: str | None
    runtime: Any
    terminated: Any
    signum: Any
    expired: Any
    worker_lost: bool
    timeline: tuple[tuple[str, float], ...]  # (event, timestamp), oldest first
    # What this console did that no event confirmed yet ("revoke sent",
    # "purged"); None once the worker's own event arrives.
    console_action: str | None = None
    # STARTED longer than its type's threshold (core/triage.py).
    stuck: bool = False


@dataclass(frozen=True)
class EventTail:
    """The events received since a reader last looked."""

    total: int
    malformed: int
    internal_errors: int
    entries: tuple[Mapping[str, Any], ...]
