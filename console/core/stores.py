"""The model's smaller stores: inspection replies, queue depths, and the
actions tried this session. Mixins of ``ClusterState``, which owns the lock.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .records import WorkerRecord
from .views import (
    InspectionEntry, OutcomeStatus, QueueView, TargetResult, Versions, queue_names,
)

MAX_QUEUE_HISTORIES = 1_000
QUEUE_HISTORY_POINTS = 300
RERUN_LINKS = 10_000
ACTION_LOG = 1_000


class InspectionStore:
    lock: threading.RLock
    versions: Versions
    clock: Callable[[], float]

    def _init_inspections(self) -> None:
        # Remote-control replies per worker and kind.
        self.inspections: dict[str, dict[str, InspectionEntry]] = {}

    if TYPE_CHECKING:  # Provided by WorkerRegistry.
        def _worker_for(self, hostname: str, now: float) -> WorkerRecord | None:
            ...

    def record_inspection(self, kind: str, replies: Mapping[str, Any],
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
                self.inspections.setdefault(hostname, {})[kind] = InspectionEntry(
                    now, None if failed else reply,
                    str(reply["error"]) if failed else None)
            for hostname in expected:
                if hostname not in replies:
                    kinds = self.inspections.setdefault(hostname, {})
                    last = kinds.get(kind)
                    # Keep the last good reply (its time says how old it
                    # is); record the miss beside it.
                    kinds[kind] = InspectionEntry(
                        last.at if last and last.reply is not None else now,
                        last.reply if last else None, error or "no reply")
            self.versions.inspect += 1

    def inspection(self, hostname: str, kind: str) -> InspectionEntry | None:
        with self.lock:
            return self.inspections.get(hostname, {}).get(kind)

    def consumed_queues(self) -> dict[str, tuple[str, ...]]:
        """Each worker's queues, from its last ``active_queues`` reply."""
        with self.lock:
            return {host: queue_names(kinds["active_queues"].reply)
                    for host, kinds in self.inspections.items()
                    if "active_queues" in kinds}


class QueueStore:
    lock: threading.RLock
    versions: Versions
    clock: Callable[[], float]

    def _init_queues(self) -> None:
        self.queues: dict[str, dict[str, Any]] = {}
        # Depth history per queue, for sparklines and in/out rates.
        self.queue_history: dict[str, deque[tuple[float, int]]] = {}

    if TYPE_CHECKING:  # Provided by InspectionStore.
        def consumed_queues(self) -> dict[str, tuple[str, ...]]:
            ...

    def record_queues(self, depths: Mapping[str, Mapping[str, Any]]) -> None:
        now = self.clock()
        with self.lock:
            self.queues = {name: dict(depth) for name, depth in depths.items()}
            for name, depth in depths.items():
                if isinstance(depth.get("messages"), int):
                    history = self.queue_history.get(name)
                    if history is None:
                        if len(self.queue_history) >= MAX_QUEUE_HISTORIES:
                            continue  # bounded, like everything here
                        history = self.queue_history[name] = deque(
                            maxlen=QUEUE_HISTORY_POINTS)
                    history.append((now, depth["messages"]))
            self.versions.queues += 1

    def queue_views(self) -> list[QueueView]:
        """Every queue of the last probe, by name."""
        with self.lock:
            consumed = self.consumed_queues()
            return [self._queue_view(name, queue, consumed)
                    for name, queue in sorted(self.queues.items())]

    def queue_view(self, name: str) -> QueueView:
        """One queue; a queue never probed is a view with nothing known."""
        with self.lock:
            return self._queue_view(name, self.queues.get(name) or {},
                                    self.consumed_queues())

    def queue_names(self) -> list[str]:
        with self.lock:
            return sorted(self.queues)

    def _queue_view(self, name: str, queue: Mapping[str, Any],
                    consumed: Mapping[str, tuple[str, ...]]) -> QueueView:
        messages = queue.get("messages")
        consumers = queue.get("consumers")
        exists = queue.get("exists")
        error = queue.get("error")
        probed = queue.get("probed_at")
        return QueueView(
            name=name,
            messages=messages if isinstance(messages, int) else None,
            consumers=consumers if isinstance(consumers, int) else None,
            exists=exists if isinstance(exists, bool) else None,
            error=None if error is None else str(error),
            probed_at=probed if isinstance(probed, (int, float)) else None,
            sources=tuple(str(s) for s in queue.get("sources") or ()),
            history=tuple(self.queue_history.get(name, ())),
            consumed_by=tuple(sorted(h for h, names in consumed.items() if name in names)))


@dataclass(frozen=True)
class ActionView:
    """One action as it ended: what the Action log and status line show."""

    action: str
    targets: tuple[str, ...]
    arguments: Mapping[str, Any]
    results: Mapping[str, TargetResult]
    status: OutcomeStatus
    summary: str
    at: float
    audit_id: str | None = None
    # Its place in this session's log, from 0: a key that stays the same
    # while newer entries arrive and older ones drop off the bounded log.
    seq: int = -1


class ActionStore:
    lock: threading.RLock
    versions: Versions

    def _init_actions(self) -> None:
        # Every action tried this session, newest last (the Action log).
        self.actions: deque[ActionView] = deque(maxlen=ACTION_LOG)
        self._action_seq = 0
        # Re-runs sent this session, both ways: new id -> original, and
        # original -> its re-runs (bounded like the Action log, oldest out).
        self._rerun_of: dict[str, str] = {}
        self._reruns: dict[str, list[str]] = {}

    def record_rerun(self, original: str, new: str) -> None:
        with self.lock:
            self._rerun_of[new] = original
            self._reruns.setdefault(original, []).append(new)
            while len(self._rerun_of) > RERUN_LINKS:
                old_new, old_original = next(iter(self._rerun_of.items()))
                del self._rerun_of[old_new]
                kept = [n for n in self._reruns.get(old_original, ()) if n != old_new]
                if kept:
                    self._reruns[old_original] = kept
                else:
                    self._reruns.pop(old_original, None)
            self.versions.actions += 1

    def rerun_links(self, uuid: str) -> tuple[str | None, tuple[str, ...]]:
        """(the task this one re-ran, the re-runs of this one)."""
        with self.lock:
            return self._rerun_of.get(uuid), tuple(self._reruns.get(uuid, ()))

    def record_action(self, action: ActionView) -> None:
        with self.lock:
            self.actions.append(replace(action, seq=self._action_seq))
            self._action_seq += 1
            self.versions.actions += 1

    def action_views(self) -> list[ActionView]:
        """Newest first."""
        with self.lock:
            return list(reversed(self.actions))

    def last_action(self) -> ActionView | None:
        with self.lock:
            return self.actions[-1] if self.actions else None
