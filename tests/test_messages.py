"""Decoding queued messages: protocol 2 and 1, every content type Celery
sends, compression, and junk — never a crash, never pickle."""

from __future__ import annotations

import base64
import json
import pickle
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.core.filters import FilterError
from console.core.messages import (
    NOT_A_TASK,
    decode,
    decode_redis,
    matches,
    parse_match,
    summarize,
)


def envelope(body: bytes, headers: dict, content_type="application/json",
             priority=0) -> bytes:
    return json.dumps({
        "body": base64.b64encode(body).decode(), "content-encoding": "utf-8",
        "content-type": content_type, "headers": headers,
        "properties": {"priority": priority, "body_encoding": "base64",
                       "delivery_tag": "t"}}).encode()


def test_protocol_2_reads_the_headers():
    headers = {"task": "reports.rebuild_all", "id": "abc", "eta": "2026-12-03T10:00:00+00:00",
               "retries": 2, "argsrepr": "('t-1', 2026)", "kwargsrepr": "{'full': True}",
               "root_id": "r", "parent_id": "p", "origin": "gen1@deploy"}
    message = decode_redis(0, envelope(b"[[], {}, {}]", headers, priority=5))
    assert (message.name, message.id, message.args, message.kwargs, message.retries,
            message.priority, message.protocol, message.error) == (
        "reports.rebuild_all", "abc", "('t-1', 2026)", "{'full': True}", 2, 5, 2, None)
    assert message.eta == "2026-12-03T10:00:00+00:00" and message.origin == "gen1@deploy"


def test_protocol_2_without_argsrepr_reads_a_json_body():
    message = decode_redis(0, envelope(json.dumps([[1, "x"], {"k": 2}, {}]).encode(),
                                       {"task": "t", "id": "1"}))
    assert message.args == "(1, 'x')" and message.kwargs == "{'k': 2}"


def test_a_pickled_body_is_never_unpickled_but_still_groups():
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled')",))

    body = pickle.dumps(((Boom(),), {}, {}))
    message = decode_redis(0, envelope(body, {"task": "t", "id": "1"},
                                       "application/x-python-serialize"))
    assert message.name == "t" and "not read by the console" in message.error


def test_protocol_1_and_compression():
    body = zlib.compress(json.dumps({"task": "old.task", "id": "9", "args": [1],
                                     "kwargs": {}, "retries": 1}).encode())
    message = decode(3, body, {"compression": "application/x-gzip"}, {},
                     "application/json", "utf-8")
    assert (message.protocol, message.name, message.id, message.args, message.retries,
            message.position) == (1, "old.task", "9", "(1,)", 1, 3)


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'{"body": 5}',
                                 b'{"body": "!!!", "properties": {"body_encoding": "base64"}}',
                                 json.dumps({"body": "e30=", "content-type": "application/json",
                                             "properties": {"body_encoding": "base64"}}).encode()])
def test_junk_is_said_not_raised(raw):
    message = decode_redis(0, raw)
    assert message.error and message.label == NOT_A_TASK


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_decode_without_raising(raw):
    message = decode_redis(0, raw)
    assert message.position == 0


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["task", "id", "eta", "retries", "argsrepr",
                                        "kwargsrepr", "compression", "root_id"]),
                       st.one_of(st.none(), st.integers(), st.text(max_size=20),
                                 st.lists(st.integers(), max_size=3))),
       st.binary(max_size=100))
def test_any_headers_decode_without_raising(headers, body):
    message = decode(0, body, headers, {"priority": "x"}, "application/json", "utf-8")
    assert isinstance(message.parts(), dict)


def test_task_matches_the_whole_name_and_name_a_part():
    messages = [decode_redis(i, envelope(b"[[], {}, {}]", {"task": name, "id": str(i),
                                                             "retries": i}))
                for i, name in enumerate(["reports.rebuild", "reports.rebuild_all",
                                          "auth.code"])]
    exact = parse_match("task:reports.rebuild")
    assert [m.name for m in messages if matches(exact, m)] == ["reports.rebuild"]
    part = parse_match("name:reports")
    assert len([m for m in messages if matches(part, m)]) == 2
    assert [m.id for m in messages if matches(parse_match("retries:1"), m)] == ["1"]
    assert all(matches(None, m) for m in messages)
    with pytest.raises(FilterError, match="did you mean"):
        parse_match("tsk:x")


def test_groups_count_share_and_eta_range():
    def one(i, name, eta=None):
        return decode_redis(i, envelope(b"[[], {}, {}]", {"task": name, "id": str(i),
                                                           "eta": eta, "argsrepr": f"({i},)"}))

    summary = summarize([one(0, "a", "2026-12-03T10:00:00+00:00"), one(1, "b"),
                         one(2, "a", "2026-12-03T09:00:00+00:00"), one(3, "a")], keep=2)
    groups = summary.sorted_groups()
    assert [(g.name, g.count, round(g.share, 2)) for g in groups] == [("a", 3, 0.75),
                                                                      ("b", 1, 0.25)]
    assert groups[0].oldest_eta.startswith("2026-12-03T09") and \
        groups[0].newest_eta.startswith("2026-12-03T10")
    assert groups[0].sample_args == "(0,)" and len(summary.kept) == 2
