"""The task half of the model: held tasks, first-seen order, eviction log.

A mixin of ``ClusterState`` (which owns the lock and the counters): the
per-event path stays one object's attribute reads, as fast as before the
model was split along its seams.
"""

from __future__ import annotations

import heapq
import re
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Container, Iterable
from itertools import islice
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from .records import (
    EVENT_TO_STATE, MAX_TRACEBACK_CHARS, RANK, READY_STATES, RECEIVED_MERGE_FIELDS,
    RING_VALUE_CHARS, TASK_EVENT_FIELDS, TIMELINE, UNKNOWN_RANK, TaskHistory, TaskRecord,
    WorkerRecord, clip,
)
from .views import TaskView, Versions
from .workflow import MAX_CHILDREN, MAX_NODES, WorkflowView, build_workflow

if TYPE_CHECKING:
    from .rates import RateWindow
    from .triage import Triage

# Creation numbers of the last evicted tasks, so a first-seen view can catch
# up by the changes (O(changes)) rather than copy every task held (O(n)). A
# reader further behind than this rebuilds from scratch.
EVICTION_LOG = 16_384
# Event types, uuids and hostnames are keys: refused when longer than this.
MAX_ID_CHARS = 255
_CUSTOM_STATE = re.compile(r"^[A-Z0-9_.-]{1,32}$")
# States in which no worker holds the task: not yet received (PENDING), sent
# back to the broker to run again (RETRY), or finished.
NOT_HELD_BY_WORKER = frozenset({"PENDING", "RETRY"}) | READY_STATES

# Fields whose filter terms are served by an index (filters.py): field ->
# key -> [canonical key, {task: None} in the order tasks took that key, or
# None, count of tasks].
INDEXED = ("state", "name", "worker", "queue")
# The key of a value that is not text (any JSON a hostile producer sends):
# those tasks are always candidates, checked by the filter itself.
OTHER = ("\0other",)
# A key held by more than this share of max_tasks keeps only its count: a
# filter matching that many tests each row by key (filters.py) and never
# reads the members, which would cost a dict entry per task (SUCCESS, the
# one task name of a cluster, ...). Smaller stores keep every member.
MEMBERS_SHARE = 4
MEMBERS_ALWAYS = 4_096


class FieldIndex(dict[Any, list[Any]]):
    """One field's index; ``limit``: members kept up to this many a key."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit


def index_key(value: object) -> object:
    """A task's key in the name or worker index: the text, None (not
    indexed: an empty value matches no filter term), or OTHER."""
    if type(value) is str:
        return value
    return None if value is None else OTHER


def queue_key(queue: object, routing_key: object) -> object:
    """Both, as the queue: filter looks in both."""
    if queue is None and routing_key is None:
        return None
    if (queue is None or type(queue) is str) and (
            routing_key is None or type(routing_key) is str):
        return (queue, routing_key)
    return OTHER


class TaskStore:
    """Held tasks, least recently updated evicted first; failures kept in
    their own share of ``max_tasks``."""

    # Owned by ClusterState.
    lock: threading.RLock
    versions: Versions
    clock: Callable[[], float]
    counters: Any
    held_by_state: dict[str, int]
    state_rates: dict[str, RateWindow]
    _periodic: dict[str, Any]
    triage: Triage
    # Set by each task event: every value of it was a short scalar.
    event_plain: bool

    def _init_tasks(self, max_tasks: int, max_failures: int | None) -> None:
        if max_tasks < 1:
            raise ValueError("max_tasks must be at least 1")
        self.max_tasks = max_tasks
        # Failures get their own share so a flood of successes cannot push
        # an incident out; they still count toward max_tasks.
        self.max_failures = (max(1, max_tasks // 10)
                             if max_failures is None else max_failures)
        self._tasks: OrderedDict[str, TaskRecord] = OrderedDict()
        self._failures: OrderedDict[str, TaskRecord] = OrderedDict()
        # First-seen order, for the default Tasks view (newest first): dict
        # insertion and deletion are O(1) and order is kept.
        self._created: dict[str, TaskRecord] = {}
        self._next_seq = 0
        self._evictions = 0
        self._evicted_seqs: deque[int] = deque(maxlen=EVICTION_LOG)
        limit = max(MEMBERS_ALWAYS, max_tasks // MEMBERS_SHARE)
        self._index: dict[str, FieldIndex] = {name: FieldIndex(limit) for name in INDEXED}

    if TYPE_CHECKING:  # Provided by WorkerRegistry.
        def _worker_for(self, hostname: str, now: float) -> WorkerRecord | None:
            ...

        def _heartbeat(self, worker: WorkerRecord, now: float) -> None:
            ...

        def _saw_periodic(self, name: object, uuid: str, now: float) -> None:
            ...  # Provided by BeatWatch.

    # ------------------------------------------------------------------ intake
    def _task_event(self, subject: str, event: dict[str, Any], now: float) -> bool:
        uuid = event.get("uuid")
        if not isinstance(uuid, str) or not uuid or len(uuid) > MAX_ID_CHARS:
            # Ids are keys, held as long as the task: they are not clipped,
            # so an oversized one is refused (Celery's are 36 characters).
            self.counters.malformed += 1
            return True
        hostname = event.get("hostname")
        if not isinstance(hostname, str) or len(hostname) > MAX_ID_CHARS:
            hostname = None
        task = self._touch_task(uuid)
        old_state = task.state
        old_name, old_worker = task.name, task.worker
        old_queue, old_key = task.queue, task.routing_key
        history = task.history
        if history is None and (subject == "retried" or (
                subject in _RESENT and event.get("parent_id") == uuid)):
            # A retry: from here on, keep the events in order (records.py).
            history = task.history = TaskHistory(task)
        if history is not None:
            history.add(subject, event.get("timestamp"))

        if self._periodic and subject in _RESENT:
            # The beat schedule's health signal (core/beat.py): O(1).
            self._saw_periodic(event.get("name"), uuid, now)
        if subject == "sent":
            task.client = hostname
        elif hostname:
            # A worker reports on the task again (a redelivery, or the
            # worker was only silent): it is no longer lost, and what the
            # console did to it is now the worker's word, not ours.
            task.worker_lost = False
            if task.console_action is not None:
                task.console_action = None
            worker = self._worker_for(hostname, now)
            task.worker = hostname
            if worker is not None:
                # Task events prove the worker alive, as in Celery's State.
                worker.seen_by.add("events")
                self._heartbeat(worker, now)
                worker.counts[subject] = worker.counts.get(subject, 0) + 1
                self.versions.workers += 1

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
                and RANK(state, UNKNOWN_RANK) > RANK(task.state, UNKNOWN_RANK)):
            # This event logically happened before the current state: keep
            # the state, take its fields (only some, for RECEIVED), as Celery.
            if state == "RECEIVED":
                plain = self._copy_fields(task, event, RECEIVED_MERGE_FIELDS)
            else:
                # Celery copies every field here, the event's timestamp too.
                plain = self._copy_fields(task, event, TASK_EVENT_FIELDS)
                if "timestamp" in event:
                    task.timestamp = timestamp
        else:
            plain = self._copy_fields(task, event, TASK_EVENT_FIELDS)
            task.state = state
            task.timestamp = timestamp
        task.updated = now
        if task.state != old_state:
            self._state_changed(task, old_state)
        # Names and hosts: one string per value (the index's), not the copy
        # each event brings.
        name = task.name
        if name is not old_name:
            task.name = (old_name if type(name) is str and name == old_name else
                         _reindex(self._index["name"], task, index_key(old_name),
                                  index_key(name), name))
        host = task.worker
        if host is not old_worker:
            task.worker = (old_worker if type(host) is str and host == old_worker else
                           _reindex(self._index["worker"], task, index_key(old_worker),
                                    index_key(host), host))
        if task.queue != old_queue or task.routing_key != old_key:
            _reindex(self._index["queue"], task, queue_key(old_queue, old_key),
                     queue_key(task.queue, task.routing_key), None)
        if state in self.state_rates and state == task.state:
            self.state_rates[state].add(now)
        self.triage.task_event(task, subject, old_name, old_state, now)
        self.versions.tasks += 1
        self.event_plain = plain
        return subject in EVENT_TO_STATE

    @staticmethod
    def _copy_fields(task: TaskRecord, event: dict[str, Any],
                     names: Container[str]) -> bool:
        """Copy the event's values of ``names`` to the task, clipped. True
        when every value of the event is a short scalar (the ring may then
        keep the event as it came: ``ClusterState._ring_entry``).

        Over the event's keys (about a dozen) with a hash lookup each, not
        over the twenty names with a lookup in the event each, and one pass
        for both answers: these loops were a fifth of the intake's time."""
        plain = True
        for key, value in event.items():
            kind = type(value)
            if (kind is float or kind is int or value is None
                    or kind is str and len(value) <= RING_VALUE_CHARS):
                if key in names:
                    setattr(task, key, value)
                continue
            plain = False
            if key in names:
                if kind is str and len(value) <= 512:
                    pass  # within every limit below: clip() would keep it
                elif key == "traceback":
                    value = clip(value, MAX_TRACEBACK_CHARS)
                elif TASK_EVENT_FIELDS.get(key):
                    value = clip(value)
                elif isinstance(value, (str, bytes)) and len(value) > 512:
                    value = clip(value, 512)
                setattr(task, key, value)
        return plain

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
        _reindex(self._index["state"], task, None, "PENDING", None)
        self._evict(keep=uuid)
        return task

    def _state_changed(self, task: TaskRecord, old: str) -> None:
        held = self.held_by_state
        held[old] = held.get(old, 1) - 1
        held[task.state] = held.get(task.state, 0) + 1
        task.state = _reindex(self._index["state"], task, old, task.state, task.state)
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
            self._unindex(task)
            self.triage.evicted(task)
            self._evictions += 1
            self._evicted_seqs.append(task.seq)
            self.held_by_state[task.state] -= 1
            self.counters.evicted += 1

    def _unindex(self, task: TaskRecord) -> None:
        index = self._index
        _reindex(index["state"], task, task.state, None, None)
        _reindex(index["name"], task, index_key(task.name), None, None)
        _reindex(index["worker"], task, index_key(task.worker), None, None)
        _reindex(index["queue"], task, queue_key(task.queue, task.routing_key), None, None)

    def index_sizes(self, field: str, match: Callable[[Any], bool]) -> tuple[
            int, bool, bool, list[Any]]:
        """For a filter term on an indexed ``field``: how many held tasks
        have a key ``match`` accepts (or a value that is not text: OTHER,
        which the filter checks itself), whether some are OTHER, whether
        ``index_tasks`` can list them (every such key keeps its members),
        and the keys that matched. O(distinct keys)."""
        with self.lock:
            index = self._index[field]
            keys = [k for k in index if k is not OTHER and match(k)]
            entries = [index[k] for k in keys]
            other = index.get(OTHER)
            if other is not None:
                entries.append(other)
            count = sum(entry[2] for entry in entries)
            listed = all(entry[1] is not None for entry in entries)
            return count, other is not None, listed, keys

    def index_tasks(self, field: str, keys: Iterable[Any]) -> list[TaskRecord] | None:
        """The tasks under these keys (and OTHER), newest first seen first;
        None when one of them keeps only its count. O(result): the members
        keep the order tasks took their key, nearly first-seen order, which
        the sort runs through in about one pass."""
        with self.lock:
            index = self._index[field]
            out: list[TaskRecord] = []
            for key in (*keys, OTHER):
                entry = index.get(key)
                if entry is not None:
                    if entry[1] is None:
                        return None
                    out.extend(entry[1])
        out.sort(key=_SEQ, reverse=True)  # a key in C: twice as fast
        return out

    def _flag_lost_tasks(self, hostname: str) -> int:
        """Flag the unfinished tasks ``hostname`` held. ``state`` keeps
        Celery's value (the flag is separate), so final states still match
        Celery's State; the task's next event clears the flag."""
        flagged = 0
        for task in self._created.values():
            if (task.worker == hostname and not task.worker_lost
                    and task.state not in NOT_HELD_BY_WORKER):
                task.worker_lost = True
                self.triage.flagged_lost(task)
                flagged += 1
        if flagged:
            self.counters.worker_lost += flagged
            self.versions.tasks += 1
        return flagged

    # --------------------------------------------------------------- reading
    def task(self, uuid: str) -> TaskRecord | None:
        with self.lock:
            return self._tasks.get(uuid) or self._failures.get(uuid)

    def task_view(self, uuid: str) -> TaskView | None:
        """A frozen copy of one task, or None when it is not held."""
        with self.lock:
            task = self._tasks.get(uuid) or self._failures.get(uuid)
            return None if task is None else task_view(task)

    def task_views(self, uuids: Iterable[str]) -> list[TaskView]:
        """The ones still held, in the order given."""
        with self.lock:
            found = (self._tasks.get(u) or self._failures.get(u) for u in uuids)
            return [task_view(t) for t in found if t is not None]

    def children_views(self, uuid: str, limit: int) -> list[TaskView]:
        """Tasks whose parent is ``uuid``: a scan, done only on demand."""
        with self.lock:
            found = (t for t in self._created.values()
                     if t.parent_id == uuid and t.uuid != uuid)
            return [task_view(t) for t in islice(found, limit)]

    def workflow_view(self, uuid: str, max_children: int = MAX_CHILDREN,
                      max_nodes: int = MAX_NODES) -> WorkflowView | None:
        """The workflow ``uuid`` belongs to, from its root (core/workflow.py):
        one scan of the tasks held, done only on demand (task detail)."""
        with self.lock:
            task = self._tasks.get(uuid) or self._failures.get(uuid)
            if task is None:
                return None
            return build_workflow(task, self._created.values(), self._created,
                                  max_children=max_children, max_nodes=max_nodes)

    def task_count(self) -> int:
        with self.lock:
            return len(self._tasks) + len(self._failures)

    def held_counts(self) -> dict[str, int]:
        with self.lock:
            return dict(self.held_by_state)

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

    def first_seen_changes(self, seq: int, evictions: int) -> tuple[
            list[TaskRecord], list[int] | None, int, int]:
        """How the first-seen order changed since a reader saw creation
        number ``seq`` and ``evictions`` evictions: ``(new, gone, seq,
        evictions)`` with the tasks first seen since, newest first, and the
        creation numbers of the tasks evicted since (in any order; some of
        tasks first seen and evicted since, never in ``new``). O(changes). With
        ``seq`` < 0, or a reader further behind than the eviction log,
        ``gone`` is None and ``new`` is every task held, newest first."""
        with self.lock:
            now_seq, now_evictions = self._next_seq - 1, self._evictions
            behind = self._evictions - evictions
            if seq < 0 or behind > len(self._evicted_seqs):
                rows = list(self._created.values())
                rows.reverse()
                return rows, None, now_seq, now_evictions
            new = []
            for task in reversed(self._created.values()):
                if task.seq <= seq:
                    break
                new.append(task)
            gone = list(islice(reversed(self._evicted_seqs), behind))
            return new, gone, now_seq, now_evictions

    def children_of(self, uuid: str) -> list[TaskRecord]:
        """Tasks whose parent is ``uuid``: a scan, done only on demand."""
        with self.lock:
            return [t for t in self._created.values()
                    if t.parent_id == uuid and t.uuid != uuid]

    def recent_tasks(self, limit: int,
                     match: Callable[[TaskRecord], bool] | None = None) -> list[TaskRecord]:
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

    def tasks_created(self) -> int:
        """How many tasks were ever seen (held or evicted): a reader compares
        two readings to count what arrived in between."""
        return self._next_seq

    def mark_console_action(self, uuids: Iterable[str], note: str) -> int:
        """Show at once what an action did to these tasks (``revoke sent``)
        until a worker's event about them arrives. Returns how many are held."""
        marked = 0
        with self.lock:
            for uuid in uuids:
                task = self._created.get(uuid)
                if task is not None and task.state not in READY_STATES:
                    task.console_action = note
                    marked += 1
            if marked:
                self.versions.tasks += 1
        return marked

    def mark_purged(self, queues: Iterable[str], before: float) -> int:
        """Tasks still PENDING in a queue that was purged (their sent event
        arrived here before the purge, no worker received them): they will
        never run. ``before`` and the comparison are this machine's clock,
        never the sender's. O(tasks held), once per purge."""
        names = set(queues)
        marked = 0
        with self.lock:
            for task in self._created.values():
                if task.state != "PENDING" or task.received is not None:
                    continue
                if task.queue not in names and task.routing_key not in names:
                    continue
                seen = task.updated
                if seen is None or seen > before:
                    continue
                task.console_action = "purged"
                marked += 1
            if marked:
                self.versions.tasks += 1
        return marked

    def lost_tasks(self) -> list[TaskRecord]:
        with self.lock:
            return [t for t in self._created.values() if t.worker_lost]


_RESENT = frozenset({"sent", "received"})


def _reindex(index: FieldIndex, task: TaskRecord, old: object, new: object,
             value: Any) -> Any:
    """Move ``task`` from key ``old`` to key ``new`` (None: not indexed) and
    return ``value``, or the equal text the index already holds (one string
    for a name or host, not one per task)."""
    if old is not None:
        entry = index.get(old)
        if entry is not None:
            entry[2] -= 1
            if not entry[2]:
                del index[old]
            elif entry[1] is not None:
                entry[1].pop(task, None)
    if new is None:
        return value
    entry = index.get(new)
    if entry is None:
        entry = index[new] = [new, {}, 0]
    entry[2] += 1
    members = entry[1]
    if members is not None:
        if entry[2] > index.limit:
            entry[1] = None  # counted from now on, never listed (see FieldIndex)
        else:
            members[task] = None
    return entry[0] if value is not None and new is not OTHER else value


_SEQ = attrgetter("seq")


def task_view(task: TaskRecord) -> TaskView:
    history = task.history
    if history is not None:
        stamps = list(history.events)
        parent = history.parent
    else:
        stamps = [(name, getattr(task, name)) for name in TIMELINE
                  if _is_number(getattr(task, name))]
        stamps.sort(key=lambda item: item[1])
        # A retry names the task as its own parent: it has none of its own.
        parent = task.parent_id if task.parent_id != task.uuid else None
    return TaskView(
        uuid=task.uuid, name=task.name, state=task.state, worker=task.worker,
        client=task.client, queue=task.queue, routing_key=task.routing_key,
        args=task.args, kwargs=task.kwargs, result=task.result,
        exception=task.exception, traceback=task.traceback, retries=task.retries,
        eta=task.eta, expires=task.expires, parent_id=parent,
        root_id=task.root_id, runtime=task.runtime, terminated=task.terminated,
        signum=task.signum, expired=task.expired, worker_lost=bool(task.worker_lost),
        timeline=tuple(stamps), console_action=task.console_action,
        stuck=bool(task.stuck))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _updated(task: TaskRecord) -> float:
    return task.updated or 0.0
