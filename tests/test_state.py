"""The model against Celery's own State, and its bounds."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from celery.events.state import State

from console.core.state import ClusterState

# A real stream recorded from two celery 5.7 workers (see data/README.md).
STREAM = Path(__file__).resolve().parent / "data" / "celery-5.7-events.jsonl"
FIELDS = ("state", "name", "args", "kwargs", "result", "exception", "retries",
          "runtime", "eta", "expires", "parent_id", "root_id", "received",
          "started", "succeeded", "failed", "retried", "revoked", "sent")


def load_stream() -> list[dict]:
    return [json.loads(line) for line in STREAM.read_text().splitlines() if line.strip()]


def replay(events, **kwargs) -> ClusterState:
    state = ClusterState(clock=lambda: 1795339800.0, **kwargs)
    for event in events:
        state.apply(copy.deepcopy(event))
    return state


def test_final_states_equal_celerys_on_the_real_stream():
    events = load_stream()
    celery_state = State()
    for event in events:
        celery_state.event(copy.deepcopy(event))
    ours = replay(events)
    assert ours.task_count() == len(celery_state.tasks) == 402
    for uuid, theirs in celery_state.tasks.items():
        mine = ours.task(uuid)
        for field in FIELDS:
            assert getattr(mine, field) == getattr(theirs, field, None), (uuid, field)
        assert mine.worker == (theirs.worker.hostname if theirs.worker else None)
    assert ours.held_by_state["SUCCESS"] == 370
    assert ours.held_by_state["FAILURE"] == 25
    assert ours.held_by_state["REVOKED"] == 5
    assert sum(ours.held_by_state.values()) == ours.task_count()


def test_out_of_order_events_end_in_the_later_state():
    events = [e for e in load_stream() if e.get("type", "").startswith("task-")]
    by_task: dict[str, list] = {}
    for event in events:
        by_task.setdefault(event["uuid"], []).append(event)
    shuffled = [e for evs in by_task.values() for e in reversed(evs)]
    celery_state = State()
    for event in shuffled:
        celery_state.event(copy.deepcopy(event))
    ours = replay(shuffled)
    for uuid, theirs in celery_state.tasks.items():
        for field in FIELDS:
            assert getattr(ours.task(uuid), field) == getattr(theirs, field, None), (uuid, field)


def test_worker_offline_and_heartbeat_expiry():
    now = [1000.0]
    state = ClusterState(clock=lambda: now[0])
    state.apply({"type": "worker-online", "hostname": "a@h", "freq": 2.0,
                 "timestamp": 1000.0})
    assert state.workers_online() == ["a@h"]
    now[0] = 1003.9  # within 200% of a 2 s heartbeat
    assert state.workers_online() == ["a@h"]
    now[0] = 1004.1
    assert state.workers_online() == []
    state.apply({"type": "worker-heartbeat", "hostname": "a@h", "freq": 2.0})
    assert state.workers_online() == ["a@h"]
    state.apply({"type": "worker-offline", "hostname": "a@h"})
    assert state.workers_online() == []
    assert state.workers["a@h"].offline_since == 1004.1


def test_bounded_store_keeps_failures_apart():
    state = ClusterState(max_tasks=100, max_failures=10, clock=lambda: 1.0)
    for i in range(20):
        state.apply({"type": "task-failed", "uuid": f"f{i}", "hostname": "w@h",
                     "exception": "boom"})
    for i in range(1000):
        state.apply({"type": "task-succeeded", "uuid": f"s{i}", "hostname": "w@h"})
    assert state.task_count() == 100
    failures = [f"f{i}" for i in range(20) if state.task(f"f{i}")]
    # A flood of successes evicts old successes, not the last 10 failures.
    assert failures == [f"f{i}" for i in range(10, 20)]
    assert state.task("s999") is not None and state.task("s0") is None
    assert sum(state.held_by_state.values()) == 100


def test_bad_events_are_counted_not_raised():
    state = ClusterState(clock=lambda: 1.0)
    for event in (None, 42, "x", [], {}, {"type": None}, {"type": "task-received"},
                  {"type": "task-received", "uuid": 7},
                  {"type": "worker-heartbeat", "hostname": ["x"]},
                  {"type": "task-succeeded", "uuid": "u", "runtime": "fast"}):
        state.apply(event)
    assert state.counters.malformed >= 8
    assert state.task("u").state == "SUCCESS"


def test_oversized_values_are_clipped():
    state = ClusterState(clock=lambda: 1.0)
    state.apply({"type": "task-received", "uuid": "big", "hostname": "w@h",
                 "name": "t", "args": "x" * 1_000_000})
    assert len(state.task("big").args) < 5000
    assert len(state.events[-1]["args"]) < 300


def test_rates_count_tasks_per_second():
    now = [100.0]
    state = ClusterState(clock=lambda: now[0])
    for second in range(100, 110):
        now[0] = second + 0.5
        for i in range(3):
            state.apply({"type": "task-succeeded", "uuid": f"{second}-{i}",
                         "hostname": "w@h"})
    now[0] = 110.2
    assert state.tasks_per_second(span=10) == pytest.approx(3.0)
    assert state.events_per_second(span=10) == pytest.approx(3.0)


def test_a_new_task_never_evicts_itself():
    state = ClusterState(max_tasks=1, clock=lambda: 1.0)
    state.apply({"type": "task-failed", "uuid": "f", "hostname": "w@h"})
    state.apply({"type": "task-received", "uuid": "n", "hostname": "w@h"})
    state.apply({"type": "task-started", "uuid": "n", "hostname": "w@h"})
    assert state.task_count() == 1 and state.task("n").state == "STARTED"
    assert state.held_by_state["STARTED"] == 1
    assert all(v >= 0 for v in state.held_by_state.values())
    assert sum(state.held_by_state.values()) == 1


def test_a_new_task_record_has_every_slot_set():
    """TaskRecord.__init__ names its slots one by one (faster than a loop
    over __slots__): a slot added and not set there would raise on first
    read."""
    from console.core.records import TaskRecord

    task = TaskRecord("an-id")
    values = task.as_dict()
    assert set(values) == set(TaskRecord.__slots__)
    assert values["uuid"] == "an-id" and values["state"] == "PENDING"
    assert values["clock"] == 0 and values["worker_lost"] is False
    assert values["stuck"] is False
    others = {k: v for k, v in values.items()
              if k not in ("uuid", "state", "clock", "worker_lost", "stuck")}
    assert others == dict.fromkeys(others)


def test_the_event_ring_keeps_only_short_scalar_fields_of_an_unusual_event():
    """A usual Celery event is kept in the ring as it came; one with a key
    Celery never sends, a long or non-scalar value, or no arrival stamp is
    copied down to the ring's fields, clipped, stamped."""
    state = ClusterState(clock=lambda: 5.0)
    usual = {"type": "task-received", "uuid": "a", "hostname": "w@h", "name": "t",
             "args": "(1,)", "timestamp": 1.0, "local_received": 2.0, "pid": 7}
    state.apply(usual)
    assert state.events[-1] == usual
    odd = {"type": "task-received", "uuid": "b", "hostname": "w@h", "name": "t",
           "timestamp": 1.0, "local_received": 2.0, "x" * 10_000: "y" * 10_000}
    state.apply(odd)
    assert set(state.events[-1]) == {"type", "uuid", "hostname", "name", "timestamp",
                                     "local_received"}
    state.apply({"type": "task-started", "uuid": "b", "hostname": "w@h",
                 "timestamp": 1.0, "args": ["a", "list"]})
    entry = state.events[-1]
    assert entry["args"] == "['a', 'list']" and entry["local_received"] == 5.0
    tail = state.event_tail(0, 10)
    assert [e["uuid"] for e in tail.entries] == ["a", "b", "b"]
