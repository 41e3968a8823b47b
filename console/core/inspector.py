"""Remote-control inspections (pidbox), with early return and no overlap.

``limit=`` is set to the number of live workers we know, so a round returns
as soon as every one of them answered instead of always waiting the full
timeout, which is what ``celery inspect`` and Flower do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal

from kombu import Connection

from .connection import Target
from .state import ClusterState
from .views import REGISTERED_ITEMS, pidbox_scope

INSPECT_KINDS = ("stats", "active_queues", "registered", "active",
                 "reserved", "scheduled", "revoked", "conf")


@dataclass
class RoundResult:
    kind: str
    replies: dict[str, Any] = field(default_factory=dict)
    expected: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    skipped: bool = False


class Inspector:
    def __init__(self, target: Target, state: ClusterState,
                 timeout: float = 1.0):
        self.target = target
        self.app = target.app
        self.state = state
        self.timeout = timeout
        # One lock per kind: never two rounds of one kind in flight.
        self._in_flight = {kind: threading.Lock()
                           for kind in INSPECT_KINDS + ("ping",)}

    def ping(self, connection: Connection | None = None) -> RoundResult:
        """Find workers without knowing any: waits the whole timeout."""
        return self._round("ping", expected=[], limit=None,
                           connection=connection)

    def run(self, kinds: Iterable[str] = INSPECT_KINDS, destination: list[str] | None = None,
            connection: Connection | None = None) -> list[RoundResult]:
        expected = list(destination or self.state.workers_online())
        # Ask exactly these: with limit= set, a reply from a worker we did
        # not count would end the round before one we did replied.
        scope, limit = pidbox_scope(expected)
        results: list[RoundResult] = []
        with self._connection(connection) as conn:
            for kind in kinds:
                results.append(self._round(
                    kind, expected=expected, limit=limit,
                    destination=scope, connection=conn))
        return results

    def _connection(self, connection: Connection | None) -> AbstractContextManager[Any]:
        if connection is not None:
            return _Borrowed(connection)
        return self.target.connection_for_write(connect_timeout=self.timeout * 4)

    def _round(self, kind: str, expected: list[str], limit: int | None,
               destination: list[str] | None = None,
               connection: Connection | None = None) -> RoundResult:
        result = RoundResult(kind=kind, expected=expected)
        lock = self._in_flight[kind]
        if not lock.acquire(blocking=False):
            result.skipped = True
            return result
        started = time.monotonic()
        try:
            inspect = self.app.control.inspect(
                destination=destination, timeout=self.timeout, limit=limit,
                connection=connection)
            method = getattr(inspect, kind)
            # `registered` names the limits it should report (rate, time).
            arguments = REGISTERED_ITEMS if kind == "registered" else ()
            result.replies = method(*arguments) or {}
        except Exception as exc:
            result.error = self.target.scrub(f"{type(exc).__name__}: {exc}")
        finally:
            lock.release()
            result.seconds = time.monotonic() - started
        if expected:
            # Only the workers asked: a reply from anyone else is not theirs.
            result.replies = {h: r for h, r in result.replies.items() if h in expected}
        result.missing = [h for h in expected if h not in result.replies]
        self.state.record_inspection(
            kind, result.replies, expected,
            error=result.error or f"no reply within {self.timeout:g} s")
        return result


class _Borrowed:
    """A context manager over a connection we must not close."""

    def __init__(self, connection: Connection):
        self.connection = connection

    def __enter__(self) -> Connection:
        return self.connection

    def __exit__(self, *exc: object) -> Literal[False]:
        return False
