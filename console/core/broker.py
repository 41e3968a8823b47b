"""Queue discovery and depths, straight from the broker.

Each transport answers "how many messages wait in this queue" its own way:
RabbitMQ by a passive ``queue_declare`` (no management plugin needed), Redis
by ``LLEN`` over the queue and its priority sub-queues, kombu's filesystem
transport by its message files. A queue that does not exist is reported as
missing, never as 0.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery import Celery

from .connection import Target
from .state import ClusterState
from .views import ResultKind, TargetResult

log = logging.getLogger(__name__)

# Queues Celery itself uses for events and remote control: not task queues.
BINDINGS_TTL = 30.0
_INTERNAL_PREFIXES = ("celeryev.", "celery@", "celery.pidbox")
_INTERNAL_SUFFIXES = (".celery.pidbox", ".reply.celery.pidbox")


@dataclass
class QueueDepth:
    name: str
    messages: int | None = None
    consumers: int | None = None
    exists: bool | None = None  # None: the broker could not say
    error: str | None = None
    probed_at: float = 0.0
    sources: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "messages": self.messages,
                "consumers": self.consumers, "exists": self.exists,
                "error": self.error, "sources": self.sources,
                "probed_at": self.probed_at}


def is_internal(name: str) -> bool:
    return (name.startswith(_INTERNAL_PREFIXES)
            or name.endswith(_INTERNAL_SUFFIXES) or "pidbox" in name)


def discover_queues(app: Celery, state: ClusterState | None = None,
                    extra: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Every task queue we know of, with where we learned of it."""
    found: dict[str, list[str]] = {}

    def add(name: object, source: str) -> None:
        if isinstance(name, str) and name and not is_internal(name):
            found.setdefault(name, [])
            if source not in found[name]:
                found[name].append(source)

    conf = app.conf
    for queue in conf.task_queues or ():
        add(getattr(queue, "name", queue if isinstance(queue, str) else None),
            "config")
    add(conf.task_default_queue, "default")
    if state is not None:
        for host, names in sorted(state.consumed_queues().items()):
            for name in names:
                add(name, f"worker:{host}")
    for name in extra:
        add(name, "command line")
    return found


class QueueProbe:
    """Reads queue depths; one short-lived connection per probe round."""

    def __init__(self, target: Target, timeout: float = 4.0):
        self.target = target
        self.timeout = timeout
        self._bindings_cache: tuple[float, set[str]] | None = None
        self._fresh = False

    def probe(self, names: Iterable[str]) -> dict[str, QueueDepth]:
        names = list(names)
        now = time.time()
        try:
            with self.target.connection_for_read(
                    connect_timeout=self.timeout) as conn:
                conn.ensure_connection(max_retries=1, timeout=self.timeout)
                depths = self._probe_with(conn, names)
        except Exception as exc:
            error = self.target.scrub(f"{type(exc).__name__}: {exc}")
            depths = {n: QueueDepth(n, error=error) for n in names}
        for depth in depths.values():
            depth.probed_at = now
        return depths

    def broker_queues(self) -> set[str]:
        """Task queues the broker itself knows by their bindings (Redis and
        the filesystem transport; AMQP cannot list queues without the
        management plugin)."""
        try:
            with self.target.connection_for_read(
                    connect_timeout=self.timeout) as conn:
                kind = conn.transport.driver_type
                if kind == "redis":
                    return {q for q in self._redis_bindings(conn.default_channel)
                            if not is_internal(q)}
                if kind == "filesystem":
                    return {q for q in self._fs_bindings(conn)
                            if not is_internal(q)}
        except Exception as exc:
            # The probe round reports the broker's state; this is a bonus.
            log.info("could not list the broker's queues: %s", self.target.scrub(exc))
        return set()

    # --------------------------------------------------------------- purge
    def purge(self, names: Iterable[str]) -> dict[str, TargetResult]:
        """Purge exactly these queues, each with its result: ok with the
        count removed, or an error — a queue that does not exist is an
        error here, never "0 purged"."""
        names = list(dict.fromkeys(names))
        results: dict[str, TargetResult] = {}
        connected = False
        try:
            with self.target.connection_for_write(
                    connect_timeout=self.timeout) as conn:
                conn.ensure_connection(max_retries=1, timeout=self.timeout)
                connected = True
                self._fresh = True  # existence must be current before a purge
                try:
                    depths = self._probe_with(conn, names)
                finally:
                    self._fresh = False
                for name in names:
                    depth = depths[name]
                    if depth.error:
                        results[name] = TargetResult(ResultKind.ERROR, depth.error)
                    elif depth.exists is False:
                        results[name] = TargetResult(ResultKind.ERROR, "no such queue")
                    else:
                        results[name] = self._purge_one(conn, name)
        except Exception as exc:
            error = self.target.scrub(f"{type(exc).__name__}: {exc}")
            for name in names:
                # Never connected: nothing was purged. Connected, then the
                # connection dropped: we cannot know what was.
                results.setdefault(name, TargetResult(
                    ResultKind.UNKNOWN if connected else ResultKind.NOT_SENT, error))
        return results

    def _purge_one(self, conn: Any, name: str) -> TargetResult:
        channel = conn.channel()
        try:
            # RabbitMQ: queue.purge. Redis: kombu deletes the list and every
            # priority sub-list. Filesystem: its message files.
            count = int(channel.queue_purge(name) or 0)
            return TargetResult(ResultKind.OK, f"{count:,} purged", count=count)
        except Exception as exc:
            text = self.target.scrub(f"{type(exc).__name__}: {exc}")
            if isinstance(exc, conn.connection_errors) or not conn.connected:
                # The connection went while the purge was on the wire: the
                # broker may have done it. Saying "error" would be a guess.
                return TargetResult(ResultKind.UNKNOWN, text)
            return TargetResult(ResultKind.ERROR, text)
        finally:
            _close(channel)

    def _probe_with(self, conn: Any, names: list[str]) -> dict[str, QueueDepth]:
        kind = conn.transport.driver_type
        if kind == "amqp":
            return self._amqp(conn, names)
        if kind == "redis":
            return self._redis(conn, names)
        if kind == "filesystem":
            return self._filesystem(conn, names)
        return self._generic(conn, names)

    # ---------------------------------------------------------------- AMQP
    def _amqp(self, conn: Any, names: list[str]) -> dict[str, QueueDepth]:
        depths: dict[str, QueueDepth] = {}
        channel = conn.channel()
        try:
            for name in names:
                try:
                    _, messages, consumers = channel.queue_declare(
                        queue=name, passive=True)
                    depths[name] = QueueDepth(name, messages, consumers, True)
                except conn.channel_errors as exc:
                    if getattr(exc, "code", None) == 404:
                        depths[name] = QueueDepth(name, exists=False)
                    else:
                        depths[name] = QueueDepth(name, error=self.target.scrub(exc))
                    # A failed passive declare closes the channel.
                    channel = conn.channel()
        finally:
            _close(channel)
        return depths

    # --------------------------------------------------------------- Redis
    def _redis(self, conn: Any, names: list[str]) -> dict[str, QueueDepth]:
        channel = conn.default_channel
        client = channel.client
        bound = self._redis_bindings(channel, fresh=self._fresh)
        keys_by_queue = {
            name: [channel._q_for_pri(name, pri)
                   for pri in sorted(set(channel.priority_steps))]
            for name in names}
        with client.pipeline() as pipe:
            for keys in keys_by_queue.values():
                for key in keys:
                    pipe.llen(key)
            counts = iter(pipe.execute())
        depths: dict[str, QueueDepth] = {}
        for name, keys in keys_by_queue.items():
            messages = sum(next(counts) for _ in keys)
            # An emptied Redis list no longer exists: bindings say whether
            # the queue does.
            exists = name in bound or messages > 0
            depths[name] = QueueDepth(
                name, messages if exists else None, None, exists)
        return depths

    def _redis_bindings(self, channel: Any, fresh: bool = False) -> set[str]:
        """Queues named in kombu's binding sets. SCAN walks the whole
        keyspace, so on a big production db the result is reused for
        BINDINGS_TTL seconds (purge asks for a fresh one)."""
        now = time.monotonic()
        if not fresh and self._bindings_cache and now - self._bindings_cache[0] < BINDINGS_TTL:
            return self._bindings_cache[1]
        queues = self._scan_redis_bindings(channel)
        self._bindings_cache = (now, queues)
        return queues

    @staticmethod
    def _scan_redis_bindings(channel: Any) -> set[str]:
        client = channel.client
        prefix = channel.keyprefix_queue % ""
        global_prefix = getattr(channel, "global_keyprefix", "") or ""
        queues: set[str] = set()
        for key in client.scan_iter(match=f"{global_prefix}{prefix}*", count=500):
            if isinstance(key, bytes):
                key = key.decode()
            key = key[len(global_prefix):] if global_prefix else key
            for member in client.smembers(key):
                if isinstance(member, bytes):
                    member = member.decode("utf-8", "replace")
                queues.add(member.split(channel.sep)[-1])
        return queues

    # ---------------------------------------------------------- filesystem
    def _filesystem(self, conn: Any, names: list[str]) -> dict[str, QueueDepth]:
        options = conn.transport_options
        folder = options.get("data_folder_in", "data_in")
        counts: dict[str, int] = {}
        try:
            entries = os.listdir(folder)
        except FileNotFoundError:
            entries = []
        for filename in entries:
            # Files are named "<ms>_<uuid>.<queue>.msg"; ".…part" ones are
            # still being written.
            if filename.startswith(".") or not filename.endswith(".msg"):
                continue
            queue = filename.partition(".")[2][:-4]
            counts[queue] = counts.get(queue, 0) + 1
        bound = self._fs_bindings(conn)
        depths: dict[str, QueueDepth] = {}
        for name in names:
            exists = name in bound or name in counts
            depths[name] = QueueDepth(
                name, counts.get(name, 0) if exists else None, None, exists)
        return depths

    @staticmethod
    def _fs_bindings(conn: Any) -> set[str]:
        control = Path(conn.transport_options.get("control_folder", "control"))
        queues: set[str] = set()
        for table in control.glob("*.exchange"):
            try:
                for entry in json.loads(table.read_text() or "[]"):
                    queues.add(entry[2])
            except (OSError, ValueError, IndexError, TypeError):
                continue
        return queues

    # ------------------------------------------------------------- others
    def _generic(self, conn: Any, names: list[str]) -> dict[str, QueueDepth]:
        depths: dict[str, QueueDepth] = {}
        for name in names:
            channel = conn.channel()
            try:
                _, messages, consumers = channel.queue_declare(
                    queue=name, passive=True)
                depths[name] = QueueDepth(name, messages, consumers, True)
            except Exception as exc:
                depths[name] = QueueDepth(name, error=self.target.scrub(exc))
            finally:
                channel.close()
        return depths


def _close(channel: Any) -> None:
    try:
        channel.close()
    except Exception as exc:  # the connection is already gone; nothing to keep
        log.debug("closing a channel: %s", exc)
