"""Task and worker records held by the cluster model.

Slotted classes rather than Celery's ``Task``/``Worker``: those keep a
``__dict__``, a weakref and a WeakSet of children per task (about 4.5 KB a
task); we keep only the fields the screens show, with long values clipped.
"""

from __future__ import annotations

from collections import deque
from typing import Any

# Celery's own precedence (celery.states.PRECEDENCE): a lower index wins. A
# state that ranks below the current one "happened before" it and is merged
# instead of replacing it, which is how out-of-order events end right.
PRECEDENCE = (
    "SUCCESS", "FAILURE", None, "REVOKED", "STARTED",
    "RECEIVED", "REJECTED", "RETRY", "PENDING",
)
_PRECEDENCE_INDEX = {state: i for i, state in enumerate(PRECEDENCE)}
UNKNOWN_RANK = _PRECEDENCE_INDEX[None]
# rank(state) is RANK(state, UNKNOWN_RANK): the per-event path calls the
# bound method, with no Python call in between.
RANK = _PRECEDENCE_INDEX.get

EVENT_TO_STATE = {
    "sent": "PENDING",
    "received": "RECEIVED",
    "started": "STARTED",
    "failed": "FAILURE",
    "retried": "RETRY",
    "succeeded": "SUCCESS",
    "revoked": "REVOKED",
    "rejected": "REJECTED",
}
STATES = ("PENDING", "RECEIVED", "STARTED", "RETRY", "SUCCESS", "FAILURE",
          "REVOKED", "REJECTED")
READY_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED", "REJECTED"})

# Fields Celery keeps from a RECEIVED event that arrives after a later one.
# The events a task's timeline lists, in their usual order.
TIMELINE = ("sent", "received", "started", "retried", "succeeded", "failed",
            "revoked", "rejected")

RECEIVED_MERGE_FIELDS = frozenset({
    "name", "args", "kwargs", "parent_id", "root_id", "retries", "eta",
    "expires",
})

# Values longer than this are clipped on intake. Workers already cut
# argsrepr/resultrepr to 1 KiB; the limit protects us from other producers.
MAX_VALUE_CHARS = 4096
MAX_TRACEBACK_CHARS = 16384
# Values in the raw-event ring (ClusterState.events) are clipped to this.
RING_VALUE_CHARS = 256

# Task fields copied from an event, and whether they are free text to clip.
TASK_EVENT_FIELDS = {
    "name": False, "args": True, "kwargs": True, "result": True,
    "exception": True, "traceback": True, "retries": False, "eta": False,
    "expires": False, "parent_id": False, "root_id": False,
    "runtime": False, "exchange": False, "routing_key": False,
    "queue": False, "clock": False, "terminated": False, "signum": False,
    "expired": False,
    # Celery's own events name no group; a producer that adds one (a
    # ``task_sent``-style hook) gets its tasks named by it in the workflow.
    "group": False,
}

WORKER_EVENT_FIELDS = (
    "pid", "freq", "clock", "active", "processed", "loadavg", "sw_ident",
    "sw_ver", "sw_sys",
)

# Celery marks a worker offline when no heartbeat came for 200% of its
# announced heartbeat interval (HEARTBEAT_EXPIRE_WINDOW).
HEARTBEAT_EXPIRE_FACTOR = 2.0


def rank(state: str | None) -> int:
    return RANK(state, UNKNOWN_RANK)


def clip(value: object, limit: int = MAX_VALUE_CHARS) -> str | int | float | None:
    """Bound free-text values so one huge event cannot grow memory."""
    if isinstance(value, str):
        if len(value) > limit:
            return value[:limit] + f"… [{len(value) - limit} more chars]"
        return value
    if isinstance(value, (bytes, bytearray)):
        return clip(bytes(value[: limit * 4]).decode("utf-8", "replace"), limit)
    if value is None or isinstance(value, (int, float, bool)):
        return value
    return clip(repr(value), limit)


class TaskRecord:
    __slots__ = (
        "uuid", "name", "state", "worker", "client", "sent", "received",
        "started", "succeeded", "failed", "retried", "revoked", "rejected",
        "timestamp", "updated", "args", "kwargs", "result", "exception",
        "traceback", "retries", "eta", "expires", "parent_id", "root_id",
        "runtime", "exchange", "routing_key", "queue", "clock", "terminated",
        "signum", "expired", "group", "worker_lost",
        # What this console did to the task that no event has confirmed
        # yet: "revoke sent", "purged" (its queue was purged while it was
        # PENDING: it will never run). Cleared by the worker's next event.
        "console_action",
        # Only for a task that retried (None otherwise): its events in the
        # order they came, and the parent it had before a retry named the
        # task as its own parent (see TaskHistory).
        "history",
        # Creation number, in first-seen order: lets a reader of that order
        # find a task by bisection and catch up on changes (core/newest.py).
        "seq",
        # STARTED longer than its type's threshold (core/triage.py).
        "stuck",
    )
    uuid: str
    state: str
    # Hostnames, checked on intake (a string of at most MAX_ID_CHARS).
    worker: str | None
    client: str | None
    worker_lost: bool
    stuck: bool
    console_action: str | None
    history: TaskHistory | None
    seq: int
    # Local receive time of the last event.
    updated: float | None
    # The rest is copied from the cluster's events as sent (clipped): any JSON.
    name: Any
    sent: Any
    received: Any
    started: Any
    succeeded: Any
    failed: Any
    retried: Any
    revoked: Any
    rejected: Any
    timestamp: Any
    args: Any
    kwargs: Any
    result: Any
    exception: Any
    traceback: Any
    retries: Any
    eta: Any
    expires: Any
    parent_id: Any
    root_id: Any
    runtime: Any
    exchange: Any
    routing_key: Any
    queue: Any
    clock: Any
    terminated: Any
    signum: Any
    expired: Any
    group: Any

    def __init__(self, uuid: str):
        # Every slot by name rather than setattr() over __slots__: a new
        # task is made per task sent, and the loop was half its cost
        # (test_records checks no slot is left unset).
        self.uuid = uuid
        self.state = "PENDING"
        self.clock = 0
        self.worker_lost = self.stuck = False
        self.name = self.worker = self.client = self.sent = self.received = None
        self.started = self.succeeded = self.failed = self.retried = None
        self.revoked = self.rejected = self.timestamp = self.updated = None
        self.args = self.kwargs = self.result = self.exception = None
        self.traceback = self.retries = self.eta = self.expires = None
        self.parent_id = self.root_id = self.runtime = self.exchange = None
        self.routing_key = self.queue = self.terminated = self.signum = None
        self.expired = self.group = self.console_action = self.history = None
        self.seq = None  # type: ignore[assignment]  # set by the store at once

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self) -> str:
        return f"<TaskRecord {self.uuid} {self.name} {self.state}>"


# Per retried task; the first and the newest are kept. About 2 KB at most,
# so even a retry storm over 100k held tasks stays near 200 MB worst case.
HISTORY_EVENTS = 24


class TaskHistory:
    """The events of a task that retried, in arrival order.

    Celery keeps one timestamp per event type, so after three retries a
    task's record has one ``retried`` (the last) before its last
    ``received``; and a retry is re-sent from inside the task, so its
    messages name the task as its own parent. Celery's State keeps that
    (the model matches it field for field); the history keeps what the
    operator needs to read the task right. Made only when a task retries:
    no cost for the others."""

    __slots__ = ("parent", "events", "dropped")

    def __init__(self, task: TaskRecord):
        parent = task.parent_id
        self.parent = parent if parent != task.uuid else None
        stamps = [(name, getattr(task, name)) for name in TIMELINE
                  if isinstance(getattr(task, name), (int, float))
                  and not isinstance(getattr(task, name), bool)]
        stamps.sort(key=lambda item: item[1])
        self.events: list[tuple[str, float]] = stamps
        self.dropped = 0

    def add(self, subject: str, timestamp: object) -> None:
        if not isinstance(timestamp, (int, float)) or isinstance(timestamp, bool):
            return
        events = self.events
        if len(events) >= HISTORY_EVENTS:
            del events[1]  # keep the first (when it began); O(64)
            self.dropped += 1
        events.append((subject, float(timestamp)))


class WorkerRecord:
    __slots__ = (
        "hostname", "pid", "freq", "clock", "active", "processed", "loadavg",
        "sw_ident", "sw_ver", "sw_sys", "heartbeats", "last_heartbeat",
        "online_since", "offline_since", "counts", "seen_by", "active_at",
    )
    hostname: str
    # Copied from the worker's heartbeats as sent: any JSON.
    pid: Any
    freq: Any
    clock: Any
    active: Any
    processed: Any
    loadavg: Any
    sw_ident: Any
    sw_ver: Any
    sw_sys: Any

    def __init__(self, hostname: str):
        self.hostname = hostname
        self.pid = None
        self.freq = 60.0
        self.clock = 0
        self.active = None
        # When ``active`` was last set by a worker event (task events bump
        # last_heartbeat too, but never the count).
        self.active_at: float | None = None
        self.processed = None
        self.loadavg = None
        self.sw_ident = self.sw_ver = self.sw_sys = None
        # Local receive times of the last few heartbeats, as Celery keeps.
        self.heartbeats: deque[float] = deque(maxlen=4)
        self.last_heartbeat: float | None = None
        self.online_since: float | None = None
        self.offline_since: float | None = None
        # Task events seen from this worker, by event subject.
        self.counts: dict[str, int] = {}
        # "events", "inspect" or both: one worker whichever way we met it.
        self.seen_by: set[str] = set()

    def heartbeat_expires(self) -> float | None:
        if self.last_heartbeat is None:
            return None
        freq = float(self.freq or 60.0)
        return self.last_heartbeat + freq * HEARTBEAT_EXPIRE_FACTOR

    def alive(self, now: float) -> bool:
        expires = self.heartbeat_expires()
        return expires is not None and now < expires

    def __repr__(self) -> str:
        return f"<WorkerRecord {self.hostname}>"


def shown_exception(exception: object, traceback: object) -> object:
    """The exception to show a person. Celery reports hard time limits and
    other pool-side errors as ``ExceptionWithTraceback()``; the real one
    (``TimeLimitExceeded(1,)``) is the traceback's last line. The model keeps
    Celery's value; screens show this. Anything else is returned as it is
    (a string, or None, from Celery's workers)."""
    if (isinstance(exception, str) and exception.startswith("ExceptionWithTraceback")
            and isinstance(traceback, str) and traceback.strip()):
        return traceback.strip().rsplit("\n", 1)[-1].strip()
    return exception
