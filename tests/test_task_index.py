"""The task store's indexes (state, name, worker, queue): kept per event,
and a filter served by them keeps exactly what ``matches`` keeps."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from console.core.filters import FilterError, Selection, TaskFilter
from console.core.newest import NewestFirst
from console.core.state import ClusterState
from console.core.taskstore import INDEXED, OTHER, index_key, queue_key

texts = st.text(alphabet=st.sampled_from(list("aAbΣσς'İi.:-_ 名")), max_size=5)
values = st.one_of(st.none(), texts, texts, texts, st.integers(-2, 2),
                   st.lists(texts, max_size=2))
SUBJECTS = ["sent", "received", "started", "succeeded", "failed", "retried",
            "revoked", "progress"]
events = st.fixed_dictionaries(
    {"type": st.sampled_from(SUBJECTS).map("task-{}".format),
     "uuid": st.sampled_from([f"u{n}" for n in range(12)])},
    optional={"name": values, "hostname": values, "queue": values,
              "routing_key": values, "args": values})
words = st.one_of(texts, st.builds("{}:{}".format, st.sampled_from(
    ["state", "name", "worker", "queue", "args"]), texts.filter(bool)),
    st.builds("state:{}".format, st.sampled_from(
        ["success", "failure", "pending,started", "received", "retry", "revoked"])))


def _key(field, task):
    if field == "queue":
        return queue_key(task.queue, task.routing_key)
    return index_key(getattr(task, field))


def check_index(state: ClusterState) -> None:
    """Every held task is under exactly its keys, and nothing else is."""
    held = {t.uuid: t for t in state.tasks_snapshot()}
    for field in INDEXED:
        seen = {}
        for key, (canonical, tasks, count) in state._index[field].items():
            assert canonical == key and count > 0, (field, key)
            if tasks is None:  # counted only
                seen.update((t.uuid, key) for t in held.values()
                            if _key(field, t) == key)
                continue
            assert len(tasks) == count
            for task in tasks:
                assert held.get(task.uuid) is task
                assert task.uuid not in seen
                seen[task.uuid] = key
        for uuid, task in held.items():
            if field == "queue":
                value = (task.queue, task.routing_key)
                if value == (None, None):
                    value = None
            else:
                value = getattr(task, field)
            if value is None:
                assert uuid not in seen
            elif isinstance(value, str) or field == "queue" and all(
                    v is None or isinstance(v, str) for v in value):
                assert seen[uuid] == value
            else:
                assert seen[uuid] is OTHER


@settings(max_examples=300, deadline=None)
@given(st.lists(events, max_size=40), st.lists(words, min_size=1, max_size=2),
       st.integers(3, 12), st.integers(1, 6), st.integers(1, 5))
def test_indexed_select_keeps_exactly_what_matches_keeps(stream, chosen_words, cap,
                                                         members, step):
    state = ClusterState(max_tasks=cap, max_failures=2)
    for index in state._index.values():  # some keys counted only
        index.limit = members
    newest = NewestFirst(state)
    for event in stream:
        state.apply(dict(event))
    check_index(state)
    rows = newest.update()
    try:
        chosen = TaskFilter.parse(" ".join(chosen_words), ["PROGRESS"])
    except FilterError:
        return
    expected = [t for t in rows if chosen.matches(t)]
    assert chosen.select(rows, index=state) == expected
    assert chosen.select(rows) == expected
    # Made a piece at a time, the pass keeps the same rows in the same order.
    selection = Selection(chosen, rows, index=state)
    while not selection.step(step):
        assert selection.found == expected[:len(selection.found)]
        assert 0 <= selection.progress < 1
    assert selection.found == expected and selection.progress == 1


def many(n: int, state: ClusterState) -> None:
    for i in range(n):
        uuid = f"t{i}"
        state.apply({"type": "task-received", "uuid": uuid, "hostname": f"w{i % 3}@h",
                     "name": "tasks.rare" if i % 50 == 0 else "tasks.common",
                     "timestamp": 1.0 + i})
        state.apply({"type": "task-failed" if i % 25 == 0 else "task-succeeded",
                     "uuid": uuid, "hostname": f"w{i % 3}@h", "timestamp": 2.0 + i})


def test_selective_terms_are_taken_from_the_index_and_wide_ones_tested_by_key(
        monkeypatch):
    # Keys held by more than a quarter of max_tasks keep only a count.
    monkeypatch.setattr("console.core.taskstore.MEMBERS_ALWAYS", 100)
    state = ClusterState(max_tasks=1_000)
    many(2_000, state)  # half evicted: the index follows
    check_index(state)
    rows = NewestFirst(state).update()
    assert len(rows) == 1_000
    for text in ("name:rare", "state:failure", "worker:w1 name:common",
                 "state:success worker:W2", "name:tasks", "queue:x"):
        chosen = TaskFilter.parse(text)
        expected = [t for t in rows if chosen.matches(t)]
        assert chosen.select(rows, index=state) == expected, text
    count, other, listed, keys = state.index_sizes("name", lambda k: "rare" in k)
    assert (count, other, listed, keys) == (
        sum(t.name == "tasks.rare" for t in rows), False, True, ["tasks.rare"])
    counted = {k for k, entry in state._index["name"].items() if entry[1] is None}
    assert counted == {"tasks.common"}
    assert state.index_tasks("name", ["tasks.common"]) is None
    # One string per name and host, not one per task.
    names = {id(t.name) for t in rows}
    workers = {id(t.worker) for t in rows}
    assert len(names) == 2 and len(workers) == 3


def test_two_wide_terms_in_one_pass_keep_what_matches_keeps():
    state = ClusterState(max_tasks=20_000)  # keys over 5,000 tasks: counted only
    for i in range(20_000):
        state.apply({"type": "task-received", "uuid": f"t{i}", "hostname": f"w{i % 2}@h",
                     "name": "a.add" if i % 4 else "a.x", "timestamp": 1.0})
    rows = NewestFirst(state).update()
    assert not state.index_sizes("name", lambda k: "add" in k)[2]  # not listed
    for text in ("name:add worker:w1", "worker:W0 name:A.", "name:x state:received"):
        chosen = TaskFilter.parse(text)
        assert chosen.select(rows, index=state) == [t for t in rows if chosen.matches(t)]


def thousand_held(monkeypatch) -> tuple[ClusterState, list]:
    """1,000 tasks held, keys over 100 tasks counted only (tested row by row)."""
    monkeypatch.setattr("console.core.taskstore.MEMBERS_ALWAYS", 100)
    state = ClusterState(max_tasks=1_000)
    many(1_000, state)
    return state, NewestFirst(state).update()


def test_a_wide_pass_in_steps_is_the_whole_select_and_a_narrow_one_is_done_at_once(
        monkeypatch):
    state, rows = thousand_held(monkeypatch)
    narrow = Selection(TaskFilter.parse("name:rare"), rows, index=state)
    assert narrow.done and narrow.step(1)  # the index gave it: nothing to test
    assert narrow.found == [t for t in rows if t.name == "tasks.rare"]
    for text in ("state:success", "name:common worker:w1", "common", "state:success w2"):
        chosen = TaskFilter.parse(text)
        selection = Selection(chosen, rows, index=state)
        steps = 0
        while not selection.step(64):
            steps += 1
        assert steps == 1_000 // 64, text  # every row tested, 64 at a time
        assert selection.found == chosen.select(rows, index=state), text
        assert Selection(chosen, rows, index=state).finish() == selection.found
    # No task can match: known from the index, nothing to test.
    assert Selection(TaskFilter.parse("queue:x w2"), rows, index=state).done


def test_a_pass_in_steps_keeps_a_row_whose_value_was_first_seen_after_it_began(
        monkeypatch):
    state, rows = thousand_held(monkeypatch)
    chosen = TaskFilter.parse("worker:w")  # every task: tested row by row
    selection = Selection(chosen, rows, index=state)
    selection.step(64)
    last = rows[-1]  # not tested yet; it moves to a worker never seen before
    state.apply({"type": "task-started", "uuid": last.uuid, "hostname": "w7@h",
                 "timestamp": 9e9})
    assert last.worker == "w7@h" and chosen.matches(last)
    assert selection.finish()[-1] is last
    assert selection.found == [t for t in rows if chosen.matches(t)]
