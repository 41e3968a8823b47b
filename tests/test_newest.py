"""The Tasks screen's first-seen view, kept up to date by the model's
changes, always equals a fresh copy of the model's order."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.core.newest import NewestFirst, Reversed, TaskRows
from console.core.state import ClusterState

UUIDS = [f"u{i}" for i in range(30)]
KINDS = ["task-sent", "task-received", "task-started", "task-succeeded", "task-failed",
         "task-retried"]

events = st.builds(lambda kind, uuid: {"type": kind, "uuid": uuid, "hostname": "a@h"},
                   st.sampled_from(KINDS), st.sampled_from(UUIDS))
# Runs of events with a look at the view between them.
batches = st.lists(st.lists(events, max_size=25), max_size=12)


@settings(max_examples=300, deadline=None)
@given(batches, st.integers(1, 12), st.integers(0, 4), st.integers(1, 40))
def test_view_equals_the_models_order_after_any_changes(batches, max_tasks, max_failures,
                                                        log_size):
    state = ClusterState(max_tasks=max_tasks, max_failures=max_failures)
    # A short eviction log makes readers fall behind it, and rebuild.
    state._evicted_seqs = deque(maxlen=log_size)
    view = NewestFirst(state)
    for batch in batches:
        state.apply_many(batch)
        rows = view.update()
        assert rows == state.tasks_newest_first()
        for i, task in enumerate(rows):
            assert rows.index(task) == i
        oldest = Reversed(rows)
        assert list(oldest) == rows[::-1] and oldest == rows[::-1]
        for i, task in enumerate(oldest):
            assert oldest[i] is task and oldest.index(task) == i


def test_view_list_changes_in_place_and_only_on_update():
    state = ClusterState(max_tasks=3)
    view = NewestFirst(state)
    rows = view.update()
    state.apply_many({"type": "task-received", "uuid": f"t{i}", "hostname": "a@h"}
                     for i in range(5))
    assert rows == []
    assert view.update() is rows and [t.uuid for t in rows] == ["t4", "t3", "t2"]


def test_rows_refuse_a_task_they_do_not_hold():
    state = ClusterState()
    state.apply({"type": "task-received", "uuid": "held", "hostname": "a@h"})
    state.apply({"type": "task-received", "uuid": "other", "hostname": "a@h"})
    rows = TaskRows([state.task("held")])
    with pytest.raises(ValueError):
        rows.index(state.task("other"))
    with pytest.raises(ValueError):
        Reversed(rows).index(state.task("other"))
    with pytest.raises(IndexError):
        Reversed(rows)[1]
