"""The event receiver thread: broker events into the cluster model.

One thread owns one broker connection. It applies events to the model under
the model's lock (never one UI message per event), broadcasts
``enable_events`` on a schedule so workers started with events off still
report, and reconnects with capped exponential backoff and jitter.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from celery import uuid as new_uuid

from .connection import Target
from .failover import check_primary, connect_retries, current_broker
from .record import Recorder
from .state import ClusterState

log = logging.getLogger(__name__)

DRAIN_TIMEOUT = 0.5
BACKOFF_BASE = 0.5
# Capped low on purpose: the console must be back within 5 s of the broker
# returning (delays are 2-4 s at the cap), and one client retrying every few
# seconds costs a broker nothing.
BACKOFF_CAP = 4.0


class _Uniform(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


def backoff_delay(attempt: int, rng: _Uniform = random) -> float:
    """Full-jitter exponential backoff: spreads reconnects of many consoles."""
    # The exponent is capped too: after ~1,000 failed reconnects (an hour or
    # two down) 2**attempt overflowed a float and killed the capture thread.
    ceiling: float = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** min(max(0, attempt), 16)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class Capture:
    """Receives events from the broker in a daemon thread."""

    def __init__(self, target: Target, state: ClusterState, *,
                 enable_events: bool = True, enable_interval: float = 5.0,
                 connect_timeout: float = 4.0):
        self.target = target
        self.app = target.app
        self.state = state
        self.enable_events = enable_events
        self.enable_interval = enable_interval
        self.connect_timeout = connect_timeout
        self.node_id = f"console-{new_uuid()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._attempt = 0
        self._events_this_connection = 0
        # `--record`: written just before the model applies (core/record.py).
        self.recorder: Recorder | None = None

    # ---------------------------------------------------------------- control
    def start(self) -> Capture:
        self._thread = threading.Thread(
            target=self._run, name="console-capture", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 1.5) -> None:
        """Ask the thread to stop; never wait longer than ``timeout``.

        The thread is a daemon, so a capture blocked inside a driver cannot
        keep the process alive after quit.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # ------------------------------------------------------------------- loop
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._capture_once()
            except Exception as exc:  # any driver error: report and retry
                if self._stop.is_set():
                    break
                self.state.set_connection("reconnecting", self.target.scrub(
                    f"{type(exc).__name__}: {exc}"))
            if self._events_this_connection:
                self._attempt = 0  # reset only once events really flowed
            delay = backoff_delay(self._attempt)
            self._attempt += 1
            self._stop.wait(delay)
        self.state.set_connection("stopped")

    def _capture_once(self) -> None:
        self._events_this_connection = 0
        with self.target.connection_for_read(
                connect_timeout=self.connect_timeout,
                heartbeat=10) as conn:
            conn.ensure_connection(max_retries=connect_retries(conn),
                                   timeout=self.connect_timeout * connect_retries(conn))
            self.target.current = current_broker(conn, self.target.broker_url)
            receiver = self.app.events.Receiver(
                conn, handlers={}, node_id=self.node_id)
            channel = conn.channel()
            queue = receiver.queue.bind(channel)
            consumer = conn.Consumer(
                queues=[queue], channel=channel, callbacks=[self._make_callback(receiver)],
                no_ack=True, accept=receiver.accept,
                on_decode_error=self._on_decode_error)
            try:
                with consumer:
                    self.state.set_connection("connected")
                    receiver.wakeup_workers(channel=channel)
                    self._drain(conn, channel)
            finally:
                self._delete_queue(queue)

    def _drain(self, conn: Any, channel: Any) -> None:
        next_enable = 0.0
        next_heartbeat = time.monotonic() + 2.0
        next_sweep = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_sweep:
                # Workers that died without a goodbye (SIGKILL) are noticed
                # here, and only while connected: our own outage is not theirs.
                self.state.sweep_workers()
                next_sweep = now + 0.5
            if self.enable_events and now >= next_enable:
                self.app.control.enable_events(connection=conn)
                self.state.note_events_enabled()
                next_enable = now + self.enable_interval
            if now >= next_heartbeat:
                # Detects a broker that went silent (half-open TCP).
                conn.heartbeat_check()
                check_primary(channel)  # Sentinel: still on the master?
                next_heartbeat = now + 2.0
            try:
                conn.drain_events(timeout=DRAIN_TIMEOUT)
            except TimeoutError:
                pass
            except (ValueError, UnicodeDecodeError):
                # A message that does not decode (some transports raise it
                # from the read itself): count it and keep consuming. Only
                # connection errors are worth a reconnect.
                self.state.count_malformed()

    def _make_callback(self, receiver: Any) -> Callable[[Any, Any], None]:
        from_message = receiver.event_from_message
        apply_many = self.state.apply_many
        state = self.state

        def decode(body: Any) -> Any:
            try:
                return from_message(body)[1]
            except Exception:  # not an event: let the model count it
                return body

        def on_message(body: Any, message: Any) -> None:
            if isinstance(body, list):  # workers batch events (celery >= 4)
                events: list[Any] = [decode(item) for item in body]
            else:
                events = [decode(body)]
            if self.recorder is not None:
                self.recorder.write(events)
            apply_many(events)
            self._events_this_connection += len(events)
            if state.connection.state != "connected":
                state.set_connection("connected")
        return on_message

    def _on_decode_error(self, message: Any, exc: BaseException) -> None:
        # Wrong content type or not JSON: count it, drop it, keep going.
        self.state.count_malformed()
        try:
            message.ack()
        except Exception as ack_error:  # no_ack consumers may refuse it
            log.debug("could not ack an undecodable message: %s", ack_error)

    def _delete_queue(self, queue: Any) -> None:
        """Remove our event queue and its binding so nothing piles up."""
        try:
            queue.delete()
        except Exception as exc:  # the connection may already be gone
            log.debug("could not delete event queue: %s", exc)
