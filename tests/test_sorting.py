"""The stepped sort (core/sorting.py): whatever the steps, its result is
``sorted(rows, key=key, reverse=reverse)`` (equal keys in the rows' order),
and the rows shown after the first step are the first rows of that order."""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter

from hypothesis import given, settings
from hypothesis import strategies as st

from console.core.filters import Selection, TaskFilter
from console.core.sorting import SortPass


@dataclass(eq=False)  # identity: which row, not an equal one
class Row:
    key: object
    n: int


KEY = attrgetter("key")
keys = st.one_of(
    st.lists(st.text(alphabet="abc", max_size=3)),           # ties, common prefixes
    st.lists(st.integers(min_value=-3, max_value=3)),         # few values: many ties
    st.lists(st.floats(allow_nan=False, width=32)),
)


@settings(max_examples=400, deadline=None)
@given(keys, st.booleans(), st.integers(min_value=1, max_value=9),
       st.integers(min_value=1, max_value=12))
def test_the_stepped_sort_is_the_stable_sort_and_its_first_rows_come_first(
        values, reverse, step, head):
    rows = [Row(v, i) for i, v in enumerate(values)]
    expected = sorted(rows, key=KEY, reverse=reverse)
    sort = SortPass(rows, KEY, reverse, head=head)
    rows.reverse()  # the caller's list changes: the pass keeps its copy
    first = sort.step(step)
    shown = list(sort.found)
    assert shown == expected[:len(shown)]
    if len(values) > step:  # not done in one step: the first rows shown
        assert not first
        # As many as asked for, unless the sample's bound fell among the
        # very first: then fewer, still the first ones.
        assert 1 <= len(shown) <= head
    else:
        assert first and shown == expected
    steps = 1
    while not sort.step(step):
        steps += 1
        assert 0.0 <= sort.progress < 1.0
        assert steps < 10 * (len(values) + 2)
    assert sort.found == expected
    assert sort.progress == 1.0 and sort.total == len(values)


def test_the_first_rows_of_a_big_sort_are_found_without_sorting_the_rest():
    rows = [Row(f"{(i * 7919) % 100_003:06d}", i) for i in range(100_003)]
    rows += [Row("000000", -1), Row("000000", -2)]  # ties with the smallest
    expected = sorted(rows, key=KEY)
    sort = SortPass(rows, KEY, False, head=50)
    assert not sort.step(10_000)
    assert sort.found == expected[:50]
    assert [r.n for r in sort.found[:3]] == [0, -1, -2]  # ties in the rows' order
    assert sort.stage == "sorting" and 0 < sort.progress < 1
    assert sort.finish() == expected


def test_a_filter_runs_first_a_step_at_a_time_then_its_result_is_sorted():
    from console.core.records import TaskRecord

    tasks = []
    for i in range(300):
        task = TaskRecord(f"id-{(i * 37) % 300:03d}")
        task.name = "add" if i % 3 else "mul"
        tasks.append(task)
    chosen = TaskFilter.parse("name:add")
    sort = SortPass(Selection(chosen, tasks), attrgetter("uuid"), True, head=5)
    assert sort.stage == "filtering, then sorting" and sort.total is None
    while sort.stage != "sorting":
        assert not sort.found  # nothing sorted to show yet
        assert not sort.step(40)
    # The step that ends the filter shows the sort's first rows too.
    assert sort.total == 200 and len(sort.found) == 5
    expected = sorted((t for t in tasks if t.name == "add"),
                      key=attrgetter("uuid"), reverse=True)
    assert sort.finish() == expected
