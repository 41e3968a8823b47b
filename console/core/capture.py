"""The event receiver thread: broker events into the cluster model.

One thread owns one broker connection. It applies events to the model under
the model's lock (never one UI message per event), broadcasts
``enable_events`` on a schedule so workers started with events off still
report, and reconnects with capped exponential backoff and jitter.

The receive path is lean (``EventDecoder``): a message whose body is plain
UTF-8 JSON, uncompressed, is decoded with msgspec straight from its bytes,
and each event gets exactly what Celery's ``EventReceiver.event_from_message``
gives it (Lamport clock, timestamp localised by ``utcoffset``,
``local_received``) without kombu's generic decode. Anything else (another
content type, compression, kombu's tagged types, a body msgspec refuses)
takes kombu's own decode, counted as a fallback; what neither can read is
counted as malformed. Nothing raises out of the decoder.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import msgspec
from celery import uuid as new_uuid
from celery.events.receiver import CLIENT_CLOCK_SKEW
from celery.utils.time import utcoffset

from .connection import Target
from .failover import check_primary, connect_retries, current_broker
from .record import Recorder
from .state import ClusterState, IntakeStatus

log = logging.getLogger(__name__)

DRAIN_TIMEOUT = 0.5
BACKOFF_BASE = 0.5
# Capped low on purpose: the console must be back within 5 s of the broker
# returning (delays are 2-4 s at the cap), and one client retrying every few
# seconds costs a broker nothing.
BACKOFF_CAP = 4.0
# How often the RabbitMQ event queue's depth is read (a passive declare).
DEPTH_INTERVAL = 1.0

# What the fast path takes; the rest goes through kombu's decode.
_JSON = "application/json"
_UTF8 = frozenset({"utf-8", "utf8", None, ""})
# kombu's JSON tags its own types ({"__type__": "datetime", ...}) and turns
# them back into objects: such a body is kombu's to decode.
_KOMBU_TAG = '"__type__"'
_KOMBU_TAG_BYTES = _KOMBU_TAG.encode()
_decode_json = msgspec.json.Decoder().decode


class NotDecodable(Exception):
    """Neither the fast path nor kombu could read the message."""


class EventDecoder:
    """Broker message -> the event dicts Celery's receiver would make.

    ``decode`` returns the events of one message (a worker's ``task.multi``
    list, or one), never raises for bad input (``NotDecodable`` for a body
    nobody can read), and keeps a Lamport clock as the receiver does.
    """

    def __init__(self, status: IntakeStatus | None = None, *,
                 now: Callable[[], float] = time.time,
                 offset: Callable[[], float] = utcoffset) -> None:
        self.status = status or IntakeStatus()
        self.clock = 0
        self._now = now
        self._offset = offset

    def body(self, message: Any) -> Any:
        """The decoded body: msgspec when the message is plain JSON, else
        kombu's ``Message.decode`` (content types, accept list, compression,
        kombu's tagged types)."""
        raw = message.body
        # py-amqp hands over text (decoded by content_encoding), Redis bytes.
        kind = type(raw)
        if (message.content_type == _JSON and message.content_encoding in _UTF8
                and not message.headers.get("compression")
                and (kind is bytes and _KOMBU_TAG_BYTES not in raw
                     or kind is str and _KOMBU_TAG not in raw)):
            try:
                body = _decode_json(raw)
            except Exception:  # NaN, huge numbers, bad UTF-8: kombu decides
                pass
            else:
                self.status.fast += 1
                return body
        self.status.fallback += 1
        try:
            return message.decode()
        except Exception as exc:
            raise NotDecodable(f"{type(exc).__name__}: {exc}") from None

    def decode(self, message: Any) -> list[Any]:
        body = self.body(message)
        items = body if isinstance(body, list) else [body]
        now = self._now()
        here = self._offset()
        out = []
        for item in items:
            try:
                out.append(self.localize(item, now, here))
            except Exception:  # not an event: the model counts it
                out.append(item)
        return out

    def localize(self, event: dict[str, Any], now: float, here: float) -> dict[str, Any]:
        """``EventReceiver.event_from_message`` on one event, in place."""
        if event["type"] == "task-sent":
            # Clients never sync, so their clock value is not used.
            clock = event["clock"] = (self.clock or 1) + CLIENT_CLOCK_SKEW
            self.clock = max(self.clock, clock) + 1
        elif "clock" in event:
            self.clock = max(self.clock, event["clock"]) + 1
        else:
            self.clock += 1
            event["clock"] = self.clock
        if "utcoffset" in event and "timestamp" in event:
            event["timestamp"] = event["timestamp"] - (event["utcoffset"] - here) * 3600
        event["local_received"] = now
        return event


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
        self.intake = state.intake
        self.decoder = EventDecoder(self.intake)
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
                if self._events_this_connection:
                    # Events flowed, then the connection dropped: whatever
                    # was published until we are back is lost. Said, counted.
                    self.intake.disconnects += 1
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
            # on_message: kombu hands over the message undecoded; the
            # decoder reads it (its fallback is kombu's own decode).
            consumer = conn.Consumer(
                queues=[queue], channel=channel, on_message=self._make_callback(receiver),
                no_ack=True, accept=receiver.accept,
                on_decode_error=self._on_decode_error)
            try:
                with consumer:
                    self.state.set_connection("connected")
                    receiver.wakeup_workers(channel=channel)
                    depth = self._depth_reader(conn, queue.name)
                    self._drain(conn, channel, depth)
            finally:
                self._delete_queue(queue)

    def _depth_reader(self, conn: Any, name: str) -> Callable[[], None] | None:
        """On RabbitMQ, a passive declare of our event queue on a channel of
        its own (a failure closes that channel, not the consuming one):
        how many events wait for us. Redis pub/sub keeps no queue."""
        if getattr(conn.transport, "driver_type", None) != "amqp":
            self.intake.waiting = None
            return None
        holder: list[Any] = []
        intake = self.intake

        def read() -> None:
            try:
                if not holder:
                    holder.append(conn.channel())
                ok = holder[0].queue_declare(queue=name, passive=True)
                intake.waiting = int(ok.message_count)
                intake.waiting_at = time.time()
            except conn.connection_errors:
                raise
            except Exception as exc:  # a channel error: reopen next time
                log.debug("could not read the event queue's depth: %s", exc)
                holder.clear()
                intake.waiting = None
        return read

    def _drain(self, conn: Any, channel: Any,
               depth: Callable[[], None] | None = None) -> None:
        next_enable = 0.0
        next_heartbeat = time.monotonic() + 2.0
        next_sweep = 0.0
        next_depth = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if depth is not None and now >= next_depth:
                depth()
                next_depth = now + DEPTH_INTERVAL
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

    def _make_callback(self, receiver: Any) -> Callable[[Any], None]:
        decode = self.decoder.decode
        apply_many = self.state.apply_many
        state = self.state
        intake = self.intake

        def on_message(message: Any) -> None:
            try:
                events = decode(message)
            except NotDecodable:
                state.count_malformed()
                return
            if self.recorder is not None:
                self.recorder.write(events)
            # The one place decoded events are handed to the model.
            apply_many(events)
            self._events_this_connection += len(events)
            newest = events[-1] if events else None
            if type(newest) is dict:
                stamp, arrived = newest.get("timestamp"), newest.get("local_received")
                if type(stamp) is float and type(arrived) is float:
                    intake.behind = max(0.0, arrived - stamp)
                    intake.behind_at = arrived
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
