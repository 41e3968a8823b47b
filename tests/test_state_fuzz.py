"""Hypothesis throws bad event streams at the model: nothing raises,
counters stay consistent, memory stays bounded."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.core.records import MAX_TRACEBACK_CHARS, MAX_VALUE_CHARS
from console.core.state import ClusterState

TYPES = ["task-sent", "task-received", "task-started", "task-succeeded", "task-failed",
         "task-retried", "task-revoked", "task-rejected", "task-custom", "worker-online",
         "worker-heartbeat", "worker-offline", "worker-weird", "bogus", "", "task-"]
UUIDS = [f"u{i}" for i in range(12)]
HOSTS = ["a@h", "b@h", "c@h"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=20), st.binary(max_size=20))
values = st.one_of(scalars, st.lists(scalars, max_size=3),
                   st.dictionaries(st.text(max_size=5), scalars, max_size=3),
                   st.just("x" * 50_000))

event = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(st.sampled_from(TYPES), scalars),
        "uuid": st.one_of(st.sampled_from(UUIDS), scalars),
        "hostname": st.one_of(st.sampled_from(HOSTS), scalars),
        "timestamp": st.one_of(st.floats(0, 2e9), scalars),
        "name": values, "args": values, "kwargs": values, "result": values,
        "exception": values, "traceback": values, "runtime": values,
        "retries": values, "freq": values, "loadavg": values, "active": values,
        "processed": values, "parent_id": values, "clock": values,
    })
junk = st.one_of(scalars, st.lists(scalars, max_size=3))
streams = st.lists(st.one_of(event, event, event, junk), max_size=60)


def check_consistent(state: ClusterState, max_tasks: int) -> None:
    held = state.task_count()
    assert held <= max_tasks
    assert sum(state.held_by_state.values()) == held
    assert all(n >= 0 for n in state.held_by_state.values())
    assert len(state._created) == held
    for task in state.tasks_snapshot():
        for field in ("args", "kwargs", "result", "exception"):
            value = getattr(task, field)
            assert not isinstance(value, str) or len(value) <= MAX_VALUE_CHARS + 40
        assert not isinstance(task.traceback, str) or \
            len(task.traceback) <= MAX_TRACEBACK_CHARS + 40
    assert len(state.events) <= state.events.maxlen


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(streams, st.integers(min_value=1, max_value=8))
def test_any_stream_keeps_the_model_consistent(stream, max_tasks):
    state = ClusterState(max_tasks=max_tasks, clock=lambda: 1000.0)
    for item in stream:
        state.apply(copy.deepcopy(item))
        # Duplicates are normal on the wire: apply some twice.
        if isinstance(item, dict) and item.get("uuid") == "u1":
            state.apply(copy.deepcopy(item))
    check_consistent(state, max_tasks)
    # The readers the screens use work on whatever came in.
    state.tasks_newest_first()
    state.recent_tasks(5)
    state.workers_online()
    state.tasks_per_second()


@settings(max_examples=200, deadline=None)
@given(st.permutations(["task-sent", "task-received", "task-started", "task-retried",
                        "task-started", "task-succeeded", "task-failed", "task-revoked"]),
       st.integers(min_value=3, max_value=8))
def test_any_order_ends_where_celerys_state_ends(order, length):
    from celery.events.state import State

    theirs, ours = State(), ClusterState(clock=lambda: 1.0)
    for i, kind in enumerate(order[:length]):
        event = {"type": kind, "uuid": "t", "hostname": "a@h", "timestamp": float(i),
                 "local_received": float(i), "clock": i, "name": f"n{i}",
                 "args": f"({i},)", "retries": i}
        theirs.event(copy.deepcopy(event))
        ours.apply(copy.deepcopy(event))
    mine, celerys = ours.task("t"), theirs.tasks["t"]
    for field in ("state", "name", "args", "retries", "timestamp"):
        assert getattr(mine, field) == getattr(celerys, field), field
    assert sum(ours.held_by_state.values()) == 1
