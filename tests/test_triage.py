"""Triage in the model: per type figures, failure groups, stuck and lost."""

from __future__ import annotations

import copy
import json
import math
import random
from pathlib import Path

import pytest

from console.core.failures import cause_key, normalise
from console.core.filters import TaskFilter
from console.core.histogram import HIGHEST, LOWEST, RELATIVE_ERROR, LogHistogram
from console.core.state import ClusterState

STREAM = Path(__file__).resolve().parent / "data" / "celery-5.7-events.jsonl"
QUANTILES = (0.5, 0.95, 0.99)


def exact(values: list[float], q: float) -> float:
    """Nearest-rank: the value at rank ceil(q·n)."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def within(measured: float, true: float) -> bool:
    true = min(max(true, LOWEST), HIGHEST)
    return abs(measured - true) <= RELATIVE_ERROR * true * (1 + 1e-9)


class Clock:
    def __init__(self, now: float = 1_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------- percentiles
def test_runtime_percentiles_on_the_recorded_stream_within_the_stated_error():
    events = [json.loads(line) for line in STREAM.read_text().splitlines() if line.strip()]
    state = ClusterState(clock=lambda: 1795339800.0)
    names: dict[str, str] = {}
    runtimes: dict[str, list[float]] = {}
    for event in events:
        if event.get("name"):
            names[event["uuid"]] = event["name"]
        state.apply(copy.deepcopy(event))
        if event["type"] == "task-succeeded":
            runtimes.setdefault(names[event["uuid"]], []).append(event["runtime"])
    views = {v.name: v for v in state.task_type_views()}
    assert set(runtimes) <= set(views)
    checked = 0
    for name, values in runtimes.items():
        runtime = views[name].runtime
        assert runtime is not None and runtime.samples == len(values)
        assert runtime.highest == max(values)
        for q, measured in zip(QUANTILES, (runtime.p50, runtime.p95, runtime.p99), strict=True):
            assert within(measured, exact(values, q)), (name, q, measured, exact(values, q))
            checked += 1
    assert checked >= 9


def test_runtime_percentiles_on_100k_synthetic_tasks():
    rng = random.Random(15)
    state = ClusterState(clock=lambda: 2_000.0, max_tasks=1_000)
    values: dict[str, list[float]] = {"fast": [], "wide": []}
    for i in range(100_000):
        name = "fast" if i % 2 else "wide"
        # fast: around 2 ms; wide: 1 ms to ~15 minutes, log-uniform
        runtime = rng.lognormvariate(math.log(0.002), 0.3) if name == "fast" \
            else 10 ** rng.uniform(-3, 3)
        values[name].append(runtime)
        state.apply({"type": "task-succeeded", "uuid": f"t{i}", "name": name,
                     "runtime": runtime, "timestamp": 1_000.0 + i / 100,
                     "hostname": "w@h"})
    views = {v.name: v for v in state.task_type_views()}
    for name, runtimes in values.items():
        runtime = views[name].runtime
        assert runtime is not None and runtime.samples == 50_000
        hist = _hist(runtimes)
        for q in (0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999):
            hist_value = hist.quantile(q)
            assert hist_value is not None and within(hist_value, exact(runtimes, q)), (name, q)
        for q, measured in zip(QUANTILES, (runtime.p50, runtime.p95, runtime.p99), strict=True):
            assert within(measured, exact(runtimes, q)), (name, q)
    # Held counts follow the tasks the store keeps, not every task seen.
    assert sum(v.held.get("SUCCESS", 0) for v in views.values()) == state.task_count() == 1_000


def _hist(values: list[float]) -> LogHistogram:
    hist = LogHistogram()
    for value in values:
        hist.add(value)
    return hist


def test_histogram_bounds_and_empty():
    hist = LogHistogram()
    assert hist.quantile(0.5) is None and hist.percentiles() is None
    for value in (0.0, -1.0, 1e-9, 1e9):
        hist.add(value)
    assert hist.quantile(0.01) == LOWEST
    assert hist.quantile(1.0) == HIGHEST
    assert hist.count == 4


# ---------------------------------------------------- queue wait, start delay
def lifecycle(uuid: str, name: str, sent: float | None, received: float,
              started: float, done: float, eta: str | None = None) -> list[dict]:
    events = []
    if sent is not None:
        events.append({"type": "task-sent", "uuid": uuid, "name": name, "timestamp": sent,
                       "hostname": "client@h", "eta": eta, "queue": "q"})
    events += [
        {"type": "task-received", "uuid": uuid, "name": name, "timestamp": received,
         "hostname": "w1@h", "eta": eta},
        {"type": "task-started", "uuid": uuid, "timestamp": started, "hostname": "w1@h"},
        {"type": "task-succeeded", "uuid": uuid, "timestamp": done, "hostname": "w1@h",
         "runtime": done - started},
    ]
    return events


def test_queue_wait_and_start_delay_exact_on_a_hand_built_stream():
    state = ClusterState(clock=Clock())
    stream = (
        lifecycle("a", "job", 100.0, 100.5, 100.75, 101.0)          # wait 0.5, delay 0.25
        + lifecycle("b", "job", 200.0, 202.0, 202.5, 203.0)         # wait 2.0, delay 0.5
        + lifecycle("c", "job", None, 300.0, 301.0, 302.0)          # no sent: delay 1.0 only
        + lifecycle("d", "job", 400.0, 400.1, 460.0, 461.0,         # eta: neither
                    eta="2026-01-01T00:01:00")
    )
    # e: received before its sent (two hosts' events reordered): wait 1.5, delay 0.5
    reordered = lifecycle("e", "job", 500.0, 501.5, 502.0, 502.5)
    stream += [reordered[1], reordered[0], *reordered[2:]]
    for event in stream:
        state.apply(event)
    (view,) = state.task_type_views()
    wait, delay = view.wait, view.delay
    assert wait is not None and delay is not None
    assert wait.samples == 3 and delay.samples == 4
    assert wait.mean == pytest.approx((0.5 + 2.0 + 1.5) / 3)
    assert wait.highest == pytest.approx(2.0)
    assert delay.mean == pytest.approx((0.25 + 0.5 + 1.0 + 0.5) / 4)
    assert delay.highest == pytest.approx(1.0)
    assert within(wait.p50, 1.5) and within(delay.p99, 1.0)
    assert view.succeeded == 5 and view.held == {"SUCCESS": 5}
    assert view.in_flight == 0 and view.failure_ratio == 0.0


def test_a_retry_counts_each_wait_once():
    state = ClusterState(clock=Clock())
    for event in [
        {"type": "task-sent", "uuid": "r", "name": "job", "timestamp": 10.0},
        {"type": "task-received", "uuid": "r", "name": "job", "timestamp": 11.0,
         "hostname": "w@h"},
        {"type": "task-started", "uuid": "r", "timestamp": 11.0, "hostname": "w@h"},
        {"type": "task-retried", "uuid": "r", "timestamp": 12.0, "hostname": "w@h",
         "exception": "ConnectionError('reset 1')"},
        {"type": "task-sent", "uuid": "r", "name": "job", "timestamp": 12.0,
         "parent_id": "r"},
        {"type": "task-received", "uuid": "r", "name": "job", "timestamp": 15.0,
         "hostname": "w@h", "parent_id": "r"},
    ]:
        state.apply(event)
    (view,) = state.task_type_views()
    assert view.wait is not None and view.wait.samples == 2
    assert view.wait.mean == pytest.approx((1.0 + 3.0) / 2)
    assert view.retried == 1
    (group,) = state.failure_group_views("retry")
    assert (group.exc_type, group.message, group.count) == ("ConnectionError", "reset <n>", 1)


# ------------------------------------------------------------ failure groups
def failed(uuid: str, name: str, exception: str, worker: str = "w1@h",
           traceback: str | None = None) -> list[dict]:
    return [{"type": "task-received", "uuid": uuid, "name": name, "timestamp": 1.0,
             "hostname": worker},
            {"type": "task-failed", "uuid": uuid, "timestamp": 2.0, "hostname": worker,
             "exception": exception, "traceback": traceback}]


def test_failures_group_exactly_by_type_and_normalised_message():
    clock = Clock()
    state = ClusterState(clock=clock)
    stream = [
        ("1", "fetch", "TimeoutError('Timeout after 3.2s')", "w1@h"),
        ("2", "fetch", "TimeoutError('Timeout after 9.1s')", "w2@h"),
        ("3", "sync", "TimeoutError('Timeout after 12s')", "w1@h"),
        ("4", "load", "KeyError('a')", "w1@h"),
        ("5", "load", "KeyError('b')", "w1@h"),
        ("6", "load", "ValueError()", "w1@h"),
        ("7", "load", "ValueError('user 6f1c2d3e-0b1a-4c5d-9e8f-1234567890ab not found')",
         "w1@h"),
        ("8", "load", "ValueError('user 0a1b2c3d-0b1a-4c5d-9e8f-aaaaaaaaaaaa not found')",
         "w1@h"),
        ("9", "load", "RuntimeError('bad pointer 0x7f3a2b and digest deadbeef42')", "w1@h"),
        ("10", "load", "RuntimeError('bad pointer 0x11 and digest 00ff00ff00')", "w1@h"),
        ("11", "load", 'OSError("cannot open \'/tmp/a\'")', "w1@h"),
    ]
    for i, (uuid, name, exception, worker) in enumerate(stream):
        clock.now = 1_000.0 + i
        for event in failed(uuid, name, exception, worker):
            state.apply(event)
    # A traceback's last line is read for a hard time limit, as Celery reports it.
    for uuid in ("12", "13"):
        clock.now += 1
        for event in failed(uuid, "crunch", "ExceptionWithTraceback()", traceback=(
                "Traceback (most recent call last):\n  File \"x\", line 1\n"
                f"billiard.exceptions.TimeLimitExceeded: TimeLimitExceeded({uuid},)\n")):
            state.apply(event)
    groups = {(g.exc_type, g.message): g for g in state.failure_group_views()}
    assert {key: g.count for key, g in groups.items()} == {
        ("TimeoutError", "Timeout after <n>s"): 3,
        ("KeyError", "<str>"): 2,
        ("ValueError", ""): 1,
        ("ValueError", "user <id> not found"): 2,
        ("RuntimeError", "bad pointer <hex> and digest <hex>"): 2,
        ("OSError", "cannot open <str>"): 1,
        ("billiard.exceptions.TimeLimitExceeded", "TimeLimitExceeded(<n>,)"): 2,
    }
    timeout = groups[("TimeoutError", "Timeout after <n>s")]
    assert timeout.names == ("fetch", "sync") and timeout.workers == ("w1@h", "w2@h")
    assert (timeout.first_seen, timeout.last_seen) == (1_000.0, 1_002.0)
    assert timeout.example == "3" and timeout.recent == ("3", "2", "1")
    assert timeout.example_exception == "TimeoutError('Timeout after 12s')"
    assert timeout.cause == "TimeoutError: Timeout after <n>s"
    # The most recently seen first.
    assert state.failure_group_views()[0].exc_type == "billiard.exceptions.TimeLimitExceeded"
    assert state.failure_group_views("retry") == []


def test_cause_key_forms():
    assert cause_key("KeyError: 'a'", None) == ("KeyError", "<str>")
    assert cause_key("ValueError", None) == ("ValueError", "")
    assert cause_key("Timeout after 3.2s", None) == ("", "Timeout after <n>s")
    assert cause_key(None, None) == ("", "")
    assert normalise("order 12345 at 10.5") == "order <n> at <n>"
    assert cause_key("KeyError('a')", None) != cause_key("ValueError()", None)


def test_failure_groups_are_bounded():
    from console.core.failures import GroupTable
    from console.core.records import TaskRecord

    table = GroupTable("failure", limit=10)
    for i in range(50):
        task = TaskRecord(f"u{i}")
        task.exception = f"E{chr(65 + i % 26)}{chr(65 + i // 26)}Error('x')"
        table.add(task, float(i))
    assert len(table) == 10 and table.dropped == 40 and table.total == 50


def test_per_type_failure_rate_ratio_and_last_failure():
    clock = Clock(10_000.0)
    state = ClusterState(clock=clock)
    for i in range(30):
        clock.now = 10_000.0 + i
        name = "job"
        if i % 3 == 0:
            for event in failed(f"f{i}", name, "ValueError('x')"):
                state.apply(event)
        else:
            state.apply({"type": "task-succeeded", "uuid": f"s{i}", "name": name,
                         "timestamp": 1.0, "runtime": 0.1, "hostname": "w1@h"})
    (view,) = state.task_type_views(10_040.0)
    assert (view.succeeded, view.failed) == (20, 10)
    assert view.failure_ratio == pytest.approx(10 / 30)
    assert view.last_failure_at == 10_027.0
    assert sum(view.succeeded_history) == 20 and sum(view.failed_history) == 10
    assert view.failed_per_s == pytest.approx(10 / 60)


def test_task_types_are_bounded_and_held_counts_follow_eviction():
    state = ClusterState(clock=Clock(), max_tasks=50)
    state.triage.max_types = 20
    for i in range(200):
        state.apply({"type": "task-received", "uuid": f"u{i}", "name": f"type{i % 30}",
                     "timestamp": 1.0, "hostname": "w@h"})
        if i % 2:
            state.apply({"type": "task-started", "uuid": f"u{i}", "timestamp": 2.0,
                         "hostname": "w@h"})
    views = state.task_type_views()
    assert len(views) == 20 and state.triage.types_dropped > 0
    held = {}
    for task in state.tasks_snapshot():
        if task.name in {v.name for v in views}:
            held[(task.name, task.state)] = held.get((task.name, task.state), 0) + 1
    assert {(v.name, s): n for v in views for s, n in v.held.items() if n} == held
    assert len(state.triage.running) == state.held_counts()["STARTED"]


# --------------------------------------------------------- stuck, lost, is:
def test_stuck_after_max_of_floor_and_k_times_p99_and_unflagged_when_done():
    clock = Clock(1_000.0)
    state = ClusterState(clock=clock, stuck_floor=5.0, stuck_factor=3.0)
    for i in range(100):  # runtimes up to 4 s: p99 ≈ 3.96, threshold ≈ 11.9 s
        state.apply({"type": "task-succeeded", "uuid": f"ok{i}", "name": "slow",
                     "runtime": 0.04 * (i + 1), "timestamp": 1.0, "hostname": "w1@h"})
    state.apply({"type": "task-started", "uuid": "long", "name": "slow", "timestamp": 2.0,
                 "hostname": "w1@h"})
    state.apply({"type": "task-started", "uuid": "other", "name": "quick", "timestamp": 2.0,
                 "hostname": "w2@h"})
    threshold = state.triage.threshold("slow")
    assert within(threshold / 3.0, 3.96)
    assert state.triage.threshold("quick") == 5.0
    clock.now = 1_006.0  # past the floor, not past slow's threshold
    assert [v.uuid for v in state.stuck_views()] == ["other"]
    clock.now = 1_000.0 + threshold + 0.5
    assert [v.uuid for v in state.stuck_views()] == ["long", "other"] or \
        sorted(v.uuid for v in state.stuck_views()) == ["long", "other"]
    assert [v.uuid for v in state.stuck_views(worker="w1@h")] == ["long"]
    assert state.triage_counts().stuck == 2 and state.header_view(clock.now).stuck == 2
    rows = TaskFilter.parse("is:stuck").select(state.tasks_snapshot())
    assert sorted(t.uuid for t in rows) == ["long", "other"]
    assert state.task_view("long").stuck
    views = {v.name: v for v in state.task_type_views()}
    assert views["slow"].stuck == 1 and views["slow"].in_flight == 1
    state.apply({"type": "task-succeeded", "uuid": "long", "runtime": 13.0, "timestamp": 3.0,
                 "hostname": "w1@h"})
    assert [v.uuid for v in state.stuck_views()] == ["other"]
    assert not state.task("long").stuck
    assert TaskFilter.parse("is:stuck").select(state.tasks_snapshot())[0].uuid == "other"


def test_the_periodic_sweep_flags_without_a_read():
    clock = Clock(1_000.0)
    state = ClusterState(clock=clock, stuck_floor=1.0)
    state.set_connection("connected")
    state.apply({"type": "task-started", "uuid": "t", "name": "x", "timestamp": 1.0,
                 "hostname": "w@h"})
    clock.now = 1_002.0
    before = state.versions.tasks
    state.sweep_workers()
    assert state.task("t").stuck and state.versions.tasks > before


def test_is_lost_and_is_failed_and_the_header_counts():
    clock = Clock(1_000.0)
    state = ClusterState(clock=clock)
    state.set_connection("connected")
    state.apply({"type": "worker-heartbeat", "hostname": "w@h", "freq": 2.0,
                 "timestamp": 1.0})
    state.apply({"type": "task-started", "uuid": "run", "name": "x", "timestamp": 1.0,
                 "hostname": "w@h"})
    for event in failed("bad", "x", "ValueError('no')"):
        state.apply(event)
    clock.now = 1_010.0
    assert state.sweep_workers() == ["w@h"]
    tasks = state.tasks_snapshot()
    assert [t.uuid for t in TaskFilter.parse("is:lost").select(tasks)] == ["run"]
    assert [t.uuid for t in TaskFilter.parse("is:failed").select(tasks)] == ["bad"]
    assert sorted(t.uuid for t in TaskFilter.parse("is:lost,failed").select(tasks)) == [
        "bad", "run"]
    assert TaskFilter.parse("is:lost").matches(state.task("run"))
    header = state.header_view(clock.now)
    assert (header.lost, header.stuck) == (1, 0)
    assert state.triage_counts().failed == 1
    # Its worker's next word about it clears the flag, and the count.
    state.apply({"type": "task-succeeded", "uuid": "run", "timestamp": 2.0, "hostname": "w@h",
                 "runtime": 1.0})
    assert state.header_view(clock.now).lost == 0


def test_is_filter_refuses_unknown_values():
    from console.core.filters import FilterError

    with pytest.raises(FilterError, match="stuck"):
        TaskFilter.parse("is:stuk")


def test_a_task_failed_twice_is_one_failure_and_extra_workers_count_once():
    """Celery reports a hard time limit with two task-failed events: one
    failure, in the group and the type. Workers past the first few are
    counted once each, however often they fail."""
    clock = Clock()
    state = ClusterState(clock=clock)
    for i in range(50):
        clock.now = 1_000.0 + i
        for event in failed(f"t{i}", "crunch", "ExceptionWithTraceback()",
                            worker=f"w{i % 10}@h"):
            state.apply(event)
        state.apply({"type": "task-failed", "uuid": f"t{i}", "timestamp": 3.0,
                     "hostname": f"w{i % 10}@h", "exception": "ExceptionWithTraceback()"})
    [group] = state.failure_group_views()
    assert group.count == 50
    assert len(group.workers) + group.more_workers == 10
    [crunch] = [t for t in state.task_type_views(clock.now) if t.name == "crunch"]
    assert crunch.failed == 50
