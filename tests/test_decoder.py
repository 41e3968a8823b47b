"""The lean receive path (console/core/capture.py: EventDecoder) against
kombu's decode + Celery's ``EventReceiver.event_from_message``, on messages
shaped as the RabbitMQ (py-amqp) and Redis (kombu's virtual transport)
transports hand them to a consumer."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import amqp
import pytest
from celery import Celery
from kombu import Connection
from kombu.compression import compress
from kombu.serialization import dumps, prepare_accept_content
from kombu.transport import pyamqp
from kombu.transport.virtual import Message as VirtualMessage
from kombu.utils.json import dumps as kombu_json_dumps
from kombu.utils.json import loads as kombu_json_loads

from console.core.capture import Capture, EventDecoder, NotDecodable
from console.core.connection import Target
from console.core.state import ClusterState

STREAM = Path(__file__).resolve().parent / "data" / "celery-5.7-events.jsonl"
NOW = 1795339999.5


def load_stream() -> list[dict]:
    events = [json.loads(line) for line in STREAM.read_text().splitlines() if line.strip()]
    for event in events:  # added by the recording's receiver, not sent
        event.pop("local_received", None)
    return events


def _app() -> Celery:
    return Celery("decoder-test", set_as_current=False, broker="memory://")


def amqp_message(body, content_type="application/json", encoding="utf-8", headers=None,
                 auto_decode=True):
    """As py-amqp delivers it and kombu's pyamqp transport wraps it: py-amqp
    channels (auto_decode, on by default) turn the body into text by its
    content encoding when they can (amqp/abstract_channel.py)."""
    if not isinstance(body, bytes):
        content_type, encoding, body = dumps(body, serializer="json")
        body = body.encode() if isinstance(body, str) else body
    msg = amqp.Message(body, content_type=content_type, content_encoding=encoding,
                       application_headers=headers or {})
    msg.delivery_info = {"delivery_tag": 1, "exchange": "celeryev", "routing_key": "x"}
    if auto_decode and hasattr(msg, "content_encoding"):
        try:
            msg.body = msg.body.decode(msg.content_encoding)
        except Exception:
            pass
    return pyamqp.Message(msg, channel=None)


def amqp_raw_message(body, **kwargs):
    return amqp_message(body, auto_decode=False, **kwargs)


_CHANNEL = Connection("memory://").default_channel


def redis_message(body, content_type="application/json", encoding="utf-8", headers=None):
    """As kombu's Redis transport delivers a pub/sub event: a JSON envelope
    (read back with kombu's JSON, as the transport does) with the body in
    base64, wrapped in the virtual transport's Message."""
    if not isinstance(body, bytes):
        content_type, encoding, body = dumps(body, serializer="json")
        body = body.encode() if isinstance(body, str) else body
    envelope = {"body": _CHANNEL.encode_body(body, "base64")[0],
                "content-encoding": encoding, "content-type": content_type,
                "headers": headers or {},
                "properties": {"body_encoding": "base64", "delivery_tag": "t1",
                               "delivery_info": {"exchange": "celeryev",
                                                 "routing_key": "x"}}}
    payload = kombu_json_loads(kombu_json_dumps(envelope))
    return VirtualMessage(payload, channel=_CHANNEL)


SHAPES = {"rabbitmq": amqp_message, "rabbitmq-bytes": amqp_raw_message,
          "redis": redis_message}


def kombu_path(receiver, message) -> list:
    """What the capture did before: kombu's decode, then Celery's receiver."""
    message.accept = prepare_accept_content(receiver.accept)
    body = message.decode()
    items = body if isinstance(body, list) else [body]
    out = []
    for item in items:
        try:
            out.append(receiver.event_from_message(item, now=lambda: NOW)[1])
        except Exception:
            out.append(item)
    return out


def fresh(shape, body, **kwargs):
    return SHAPES[shape](copy.deepcopy(body), **kwargs)


def both(shape, bodies):
    receiver = _app().events.Receiver(None, handlers={})
    decoder = EventDecoder(now=lambda: NOW)
    theirs = [kombu_path(receiver, fresh(shape, b)) for b in bodies]
    ours = [decoder.decode(fresh(shape, b)) for b in bodies]
    return ours, theirs, decoder


def assert_same(ours, theirs):
    assert len(ours) == len(theirs)
    for mine, kombus in zip(ours, theirs, strict=True):
        assert mine == kombus
        for a, b in zip(mine, kombus, strict=True):  # 5 == 5.0, but not the same
            if isinstance(a, dict):
                assert {k: type(v) for k, v in a.items()} == {k: type(v) for k, v in b.items()}


@pytest.mark.parametrize("shape", SHAPES)
def test_every_event_type_decodes_as_kombus_path_one_a_message(shape):
    events = load_stream()
    types = {e["type"] for e in events}
    assert {"task-sent", "task-received", "task-started", "task-succeeded",
            "task-failed", "task-retried", "worker-heartbeat",
            "worker-online"} <= types
    ours, theirs, decoder = both(shape, events)
    assert_same(ours, theirs)
    assert {e[0]["type"] for e in ours} == types
    assert decoder.status.fast == len(events) and decoder.status.fallback == 0
    # The Lamport clock moved as Celery's receiver's did.
    assert decoder.clock > 0


@pytest.mark.parametrize("shape", SHAPES)
def test_worker_style_batches_decode_as_kombus_path(shape):
    events = load_stream()
    batches = [events[i:i + 24] for i in range(0, len(events), 24)]
    ours, theirs, decoder = both(shape, batches)
    assert_same(ours, theirs)
    assert sum(map(len, ours)) == len(events)
    assert decoder.status.fast == len(batches)


@pytest.mark.parametrize("shape", SHAPES)
def test_timestamps_localised_and_odd_events_as_celery(shape):
    base = {"type": "task-started", "uuid": "u1", "hostname": "w@h",
            "timestamp": 1795339770.5, "utcoffset": -5, "clock": 7}
    bodies = [
        base,
        {**base, "utcoffset": 5.5, "timestamp": 1795339770},  # an int stamp
        {k: v for k, v in base.items() if k != "clock"},  # no clock: forwarded
        {k: v for k, v in base.items() if k != "utcoffset"},  # not localised
        {**base, "type": "task-sent", "clock": 99},  # a client's clock ignored
        {**base, "clock": "not a clock"},  # Celery's receiver raises: kept as is
        {"no": "type"}, ["nested", "list"], 42, "text",
        {**base, "big": 2**70},  # msgspec keeps big integers exactly
    ]
    ours, theirs, _ = both(shape, bodies)
    assert_same(ours, theirs)
    assert ours[0][0]["timestamp"] == theirs[0][0]["timestamp"] != base["timestamp"]


@pytest.mark.parametrize("shape", SHAPES)
def test_compressed_and_non_json_and_tagged_bodies_take_kombus_path(shape):
    event = {"type": "task-succeeded", "uuid": "u2", "hostname": "w@h",
             "timestamp": 1795339770.5, "utcoffset": 0, "clock": 3}
    _, _, raw = dumps(event, serializer="json")
    zipped, _ = compress(raw.encode() if isinstance(raw, str) else raw, "zlib")
    nan = b'{"type": "task-succeeded", "uuid": "u3", "runtime": NaN}'
    receiver = _app().events.Receiver(None, handlers={})
    decoder = EventDecoder(now=lambda: NOW)
    make = SHAPES[shape]
    cases = [
        make(zipped, headers={"compression": "application/x-gzip"}),
        make(nan),
        # kombu's own tagged types: turned back into objects by kombu only
        make(kombu_json_dumps({**event, "eta": __import__("datetime").datetime(2026, 1, 1)})
             .encode()),
    ]
    for message in cases:
        expected = kombu_path(receiver, copy.copy(message))
        got = decoder.decode(message)
        assert len(got) == len(expected) == 1
        if got[0].get("runtime") is not None and isinstance(got[0]["runtime"], float):
            assert math.isnan(got[0]["runtime"]) and math.isnan(expected[0]["runtime"])
        else:
            assert got[0] == expected[0]
    assert decoder.status.fallback == len(cases) and decoder.status.fast == 0


@pytest.mark.parametrize("shape", SHAPES)
def test_unreadable_bodies_counted_never_raised(shape):
    make = SHAPES[shape]
    bad = [
        make(b'{"type": "task-started", "uuid": '),  # cut short
        make(b"\xff\xfe not utf-8"),
        make(b"\x80\x04K\x01.", content_type="application/x-python-serialize",
             encoding="binary"),  # pickle: not accepted
        make(b"<xml/>", content_type="application/xml"),
        make(b"x\x9c garbage", headers={"compression": "application/x-gzip"}),
    ]
    decoder = EventDecoder()
    for message in bad:
        message.accept = {"application/json"}
        with pytest.raises(NotDecodable):
            decoder.decode(message)
    assert decoder.status.fallback >= 4
    # Through the capture's own callback: counted as malformed, nothing raised.
    state = ClusterState()
    app = _app()
    capture = Capture(Target(app), state, enable_events=False)
    on_message = capture._make_callback(app.events.Receiver(None, handlers={}))
    for message in [make(b'{"type": "task-started", "uuid": '), make(b"\xff"),
                    make(b"<xml/>", content_type="application/xml")]:
        message.accept = {"application/json"}
        on_message(message)
    good = make({"type": "task-started", "uuid": "u9", "hostname": "w@h",
                 "timestamp": 1795339770.5, "utcoffset": 0, "clock": 1})
    on_message(good)
    assert state.counters.malformed == 3
    assert state.counters.events == 1 and state.task("u9").state == "STARTED"
    assert state.intake.fallback >= 3 and state.intake.fast == 1
    assert state.intake.behind is not None
