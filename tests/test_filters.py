"""The filter language, and its bulk form ``select`` agreeing with
``matches`` task for task, whatever the fields hold."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.core.filters import (
    ACTION_SPEC, QUEUE_SPEC, TASK_SPEC, WORKER_SPEC, FilterError, RowFilter, TaskFilter,
)
from console.core.records import TaskRecord


def task(uuid="u1", **fields) -> TaskRecord:
    record = TaskRecord(uuid)
    for name, value in fields.items():
        setattr(record, name, value)
    return record


TASKS = [
    task("aaa-1", name="app.send_email", state="SUCCESS", worker="alpha@h", queue="emails",
         args="('user@example.com',)", kwargs="{}", result="'ok'"),
    task("bbb-2", name="app.add", state="FAILURE", worker="beta@h", routing_key="default",
         args="(1, 2)", result=None),
    task("ccc-3", name=None, state="PENDING", worker=None, queue=None, args=None),
    task("ddd-4", name="App.Render_Report", state="RETRY", worker="alpha@h", queue="reports",
         args="(42,)", kwargs="{'Fast': True}"),
]


@pytest.mark.parametrize("text, expected", [
    ("", ["aaa-1", "bbb-2", "ccc-3", "ddd-4"]),
    ("alpha", ["aaa-1", "ddd-4"]),                  # free text: the worker
    ("AAA", ["aaa-1"]),                             # the uuid, any case
    ("render_report", ["ddd-4"]),                   # the name, any case
    ("state:failure,retry", ["bbb-2", "ddd-4"]),
    ("STATE:Failure", ["bbb-2"]),                   # fields and states, any case
    ("queue:default", ["bbb-2"]),                   # queue or routing key
    ("name:app worker:alpha", ["aaa-1", "ddd-4"]),  # terms AND
    ("kwargs:fast", ["ddd-4"]),
    ("result:ok", ["aaa-1"]),
    ("'(1, 2)'", ["bbb-2"]),                        # quoted: one term
    ('"other:thing"', []),                          # quoted: text, not a field
    ("id:bbb routing_key:def", ["bbb-2"]),          # aliases
])
def test_filter_language(text, expected):
    chosen = TaskFilter.parse(text)
    assert [t.uuid for t in TASKS if chosen.matches(t)] == expected
    assert [t.uuid for t in chosen.select(TASKS)] == expected


@pytest.mark.parametrize("text, reason", [
    ("state:", "state: needs a value, e.g. state:PENDING"),
    ('name:"unclosed', "cannot read filter"),
    # A filter that would match nothing by a typo is an error naming what
    # was meant, never "0 tasks" in silence.
    ("state:failed", "no state 'failed' — did you mean FAILURE?"),
    ("state:faliure", "did you mean FAILURE?"),
    ("state:fail", "did you mean FAILURE?"),        # states match whole
    ("state:success,nope", "no state 'nope'"),
    ("status:failure", "tasks have no field status: — did you mean state:?"),
    ("other:thing", 'to search the text, quote it: "other:thing"'),
    ("state:,", "state: needs a value"),
])
def test_bad_filters_are_refused_with_the_closest_valid_value(text, reason):
    with pytest.raises(FilterError) as caught:
        TaskFilter.parse(text)
    assert reason in str(caught.value)


@pytest.mark.parametrize("spec, text, completed", [
    (TASK_SPEC, "sta", "state:"),
    (TASK_SPEC, "state:fa", "state:failure"),
    (TASK_SPEC, "state:FA", "state:FAILURE"),
    (TASK_SPEC, "name:x state:success,re", "name:x state:success,received"),
    (TASK_SPEC, "state:failure", None),              # complete already
    (TASK_SPEC, "name:emai", None),                  # an open field: nothing to offer
    (TASK_SPEC, "", None),
    (WORKER_SPEC, "status:of", "status:offline"),
    (ACTION_SPEC, "status:e", "status:error"),
])
def test_the_suggester_completes_fields_and_closed_values(spec, text, completed):
    assert spec.complete(text) == completed


def test_row_filters_read_the_same_language():
    parts = [{"worker": "alpha@h", "status": "online", "queue": "emails celery", "pool": "prefork ×2"},
             {"worker": "beta@h", "status": "offline", "queue": "reports", "pool": ""}]
    def pick(text):
        chosen = RowFilter.parse(WORKER_SPEC, text)
        return [p["worker"] for p in parts if chosen.matches(p)]
    assert pick("") == ["alpha@h", "beta@h"]
    assert pick("alpha") == ["alpha@h"]
    assert pick("status:Offline,unknown") == ["beta@h"]
    assert pick("hostname:a queue:email") == ["alpha@h"]
    assert pick("prefork") == ["alpha@h"]  # free text reads the pool too
    with pytest.raises(FilterError, match="did you mean offline"):
        pick("status:ofline")
    with pytest.raises(FilterError, match="queues have no field state: — fields: name, worker"):
        RowFilter.parse(QUEUE_SPEC, "state:x")


# Letters whose lowercase depends on context or changes length (final sigma,
# dotted I), separators, and values that are not text at all.
texts = st.text(alphabet=st.sampled_from(list("aAbΣσς'İi.:-_ \x00\t名🎉")), max_size=8)
values = st.one_of(st.none(), texts, st.integers(-3, 3), st.booleans(),
                   st.lists(texts, max_size=2))
records = st.builds(
    lambda uuid, fields: task(uuid, **fields), texts,
    st.fixed_dictionaries({}, optional={
        name: values for name in ("name", "state", "worker", "queue", "routing_key",
                                  "args", "kwargs", "result")}))
words = st.one_of(texts, st.builds("{}:{}".format, st.sampled_from(
    ["state", "name", "worker", "queue", "args", "kwargs", "result", "uuid", "STATE"]),
    texts.filter(bool)))


@settings(max_examples=400, deadline=None)
@given(st.lists(records, max_size=12), st.lists(words, min_size=1, max_size=3))
def test_select_keeps_exactly_what_matches_keeps(tasks, chosen_words):
    text = " ".join(chosen_words)
    try:
        chosen = TaskFilter.parse(text)
    except FilterError:
        return
    assert chosen.select(tasks) == [t for t in tasks if chosen.matches(t)]


def test_free_text_with_a_nul_is_not_matched_across_fields():
    record = task("x", name="ab", args="cd", worker=None)
    chosen = TaskFilter(terms=((None, "b\x00c"),))
    assert not chosen.matches(record) and chosen.select([record]) == []
