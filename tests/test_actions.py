"""Remote-control actions against real workers, each effect checked on the
worker, not only in the reply."""

from __future__ import annotations

import json
import stat
import time

import pytest

from brokers import companion_app, running_worker, wait_until
from console.core.actions import Actions, InvalidInput, ReadOnlyError
from console.core.views import ResultKind, TargetResult
from console.core.audit import AuditLog
from console.core.capture import Capture
from console.core.connection import Target
from console.core.inspector import Inspector
from console.core.records import shown_exception
from console.core.state import ClusterState

pytestmark = pytest.mark.broker
TASKS = "console.companion.tasks."




@pytest.fixture
def cluster(real_broker, tmp_path):
    """One prefork worker (2 processes) watched by a capture; actions on it."""
    app = companion_app(real_broker)
    state = ClusterState()
    audit_path = tmp_path / "audit.jsonl"
    actions = Actions(Target(app), state, AuditLog(audit_path, real_broker.url), timeout=3.0)
    capture = Capture(Target(app), state).start()
    with running_worker(real_broker, tmp_path, queues="default,slow", concurrency=2) as host:
        assert wait_until(lambda: host in state.workers_online(), 20)
        yield app, state, actions, host, audit_path
    capture.stop()


def processes(app, host) -> list[int] | None:
    """The worker's pool processes from `inspect stats`, or None when it did
    not answer within the round (busy forking a child, on a loaded machine):
    a predicate waiting on it tries again."""
    reply = (app.control.inspect(destination=[host], timeout=3).stats() or {}).get(host)
    return None if reply is None else reply["pool"]["processes"]


def answered_processes(app, host) -> list[int]:
    found: list[list[int]] = []
    assert wait_until(lambda: found.append(processes(app, host)) or found[-1] is not None,
                      15), f"{host} did not answer inspect stats in 15 s"
    return found[-1]


def test_revoked_countdown_task_never_starts(cluster):
    app, state, actions, host, _ = cluster
    waiting = app.send_task(TASKS + "add", (1, 2), queue="default", countdown=3)
    assert wait_until(lambda: state.task(waiting.id) and state.task(waiting.id).received, 15)
    outcome = actions.revoke([waiting.id])
    assert outcome.status == "ok" and waiting.id in outcome.results[host].text
    assert outcome.results[host].kind is ResultKind.OK
    revoked = app.control.inspect(destination=[host], timeout=3).revoked() or {}
    assert waiting.id in revoked.get(host, [])
    assert wait_until(lambda: state.task(waiting.id).state == "REVOKED", 15)
    time.sleep(1)
    assert state.task(waiting.id).started is None  # no task-started, ever


def test_terminate_stops_a_running_task_and_replaces_its_process(cluster):
    app, state, actions, host, _ = cluster
    before = set(answered_processes(app, host))
    running = app.send_task(TASKS + "long_running", (60,), queue="slow")
    assert wait_until(lambda: state.task(running.id) and state.task(running.id).state == "STARTED", 15)
    outcome = actions.revoke([running.id], terminate=True, signal="SIGTERM")
    assert outcome.status == "ok", outcome.summary
    assert wait_until(lambda: state.task(running.id).state == "REVOKED", 15)
    assert wait_until(lambda: set(processes(app, host) or before) != before, 15)


def test_rate_limit_shows_on_the_worker_and_slows_the_task(cluster):
    app, state, actions, host, _ = cluster
    outcome = actions.rate_limit(TASKS + "add", "60/m", destination=[host])
    assert outcome.status == "ok", outcome.summary
    info = app.control.inspect(destination=[host], timeout=3).registered("rate_limit") or {}
    assert any("rate_limit=60/m" in entry for entry in info[host] if entry.startswith(TASKS + "add"))
    results = [app.send_task(TASKS + "add", (i, i), queue="default") for i in range(4)]
    assert wait_until(lambda: all(state.task(r.id) and state.task(r.id).state == "SUCCESS"
                                  for r in results), 30)
    starts = sorted(state.task(r.id).started for r in results)
    assert starts[-1] - starts[0] >= 2.0  # 4 tasks at 1/s take about 3 s
    # Removing it is explicit, and the summary names the old and new value.
    with pytest.raises(InvalidInput, match="nothing to do"):
        actions.rate_limit(TASKS + "add", "", destination=[host])
    removed = actions.rate_limit(TASKS + "add", "none", destination=[host], previous="60/m")
    assert removed.status == "ok" and "60/m → no limit" in removed.summary, removed.summary
    assert state.actions[-1].summary == removed.summary  # the Action log says it too
    info = app.control.inspect(destination=[host], timeout=3).registered("rate_limit") or {}
    assert not any("rate_limit=" in entry for entry in info[host]
                   if entry.startswith(TASKS + "add "))


def test_time_limit_makes_an_overlong_task_fail(cluster):
    app, state, actions, host, _ = cluster
    # Without a pool restart Celery keeps the old limit (it builds request
    # classes once): apply_now follows up with one.
    outcome = actions.time_limit(TASKS + "slow", soft=None, hard=1, destination=[host],
                                 apply_now=True)
    assert outcome.status == "ok", outcome.summary
    assert "pool restarted" in outcome.summary
    assert [a.action for a in list(state.actions)[-2:]] == ["time_limit", "pool_restart"]
    time.sleep(1)  # let the restarted pool come up
    slow = app.send_task(TASKS + "slow", (5,), queue="slow")
    assert wait_until(lambda: state.task(slow.id) and state.task(slow.id).state == "FAILURE", 20), \
        (state.task(slow.id), outcome.results)
    failed = state.task(slow.id)
    assert "TimeLimitExceeded" in shown_exception(failed.exception, failed.traceback)


def test_pool_grow_and_shrink_change_the_process_count(cluster):
    app, state, actions, host, _ = cluster
    assert len(answered_processes(app, host)) == 2
    assert actions.pool_grow(1, destination=[host]).status == "ok"
    assert wait_until(lambda: len(processes(app, host) or ()) == 3, 15)
    assert actions.pool_shrink(2, destination=[host]).status == "ok"
    assert wait_until(lambda: len(processes(app, host) or ()) == 1, 15)


def test_add_and_cancel_consumer_change_active_queues(cluster):
    app, state, actions, host, _ = cluster

    def consumed():
        queues = app.control.inspect(destination=[host], timeout=3).active_queues() or {}
        return {q["name"] for q in queues.get(host, [])}

    assert actions.add_consumer("emails", destination=[host]).status == "ok"
    assert wait_until(lambda: "emails" in consumed(), 10)
    assert actions.cancel_consumer("emails", destination=[host]).status == "ok"
    assert wait_until(lambda: "emails" not in consumed(), 10)


def test_pool_restart_and_shutdown(cluster):
    app, state, actions, host, _ = cluster
    outcome = actions.pool_restart(destination=[host])
    assert outcome.status == "ok", outcome.summary
    outcome = actions.shutdown([host])
    assert outcome.status == "ok"
    assert wait_until(lambda: host not in state.workers_online(), 20)


def test_inspection_round_asks_the_live_workers_and_gets_every_reply(cluster):
    app, state, actions, host, _ = cluster
    result = Inspector(Target(app), state, timeout=5.0).run(("stats",))[0]
    # limit= and destination= are the live workers, so the round ends with
    # the last reply (its speed is in the benchmarks table, not asserted here).
    assert result.expected == [host] and result.replies.keys() == {host}
    assert result.missing == [] and result.error is None


def test_errors_and_silence_are_reported_per_worker(cluster):
    app, state, actions, host, _ = cluster
    outcome = actions.autoscale(4, 1, destination=[host])  # not started with --autoscale
    assert outcome.status == "error" and outcome.results[host].kind is ResultKind.ERROR
    silent = actions.pool_grow(1, destination=["nobody@nowhere"])
    assert silent.results == {"nobody@nowhere": TargetResult(ResultKind.NO_REPLY, "no reply within 3 s")}
    assert "no reply from nobody@nowhere" in silent.summary


def test_invalid_input_is_refused_before_sending(cluster):
    app, state, actions, host, audit_path = cluster
    lines_before = audit_path.read_text().count("\n") if audit_path.exists() else 0
    for call in (lambda: actions.rate_limit(TASKS + "add", "abc"),
                 lambda: actions.rate_limit(TASKS + "add", ""),
                 lambda: actions.pool_grow(""),
                 lambda: actions.revoke(["x"], terminate=True, signal="SIGFOO"),
                 lambda: actions.pool_grow(-1), lambda: actions.pool_shrink("many"),
                 lambda: actions.time_limit(TASKS + "add", soft=5, hard=2),
                 lambda: actions.add_consumer("has space"),
                 lambda: actions.add_consumer("q" * 10_000)):
        with pytest.raises(InvalidInput):
            call()
    lines_after = audit_path.read_text().count("\n") if audit_path.exists() else 0
    assert lines_after == lines_before  # nothing was attempted


def test_read_only_refuses_every_action_in_core(real_broker, tmp_path):
    app = companion_app(real_broker)
    audit_path = tmp_path / "audit.jsonl"
    actions = Actions(Target(app), ClusterState(), AuditLog(audit_path, real_broker.url),
                      read_only=True)
    for call in (lambda: actions.revoke(["a"]), lambda: actions.revoke(["a"], terminate=True),
                 lambda: actions.rate_limit("t", "1/s"), lambda: actions.time_limit("t", 1, 2),
                 lambda: actions.pool_grow(1), lambda: actions.pool_shrink(1),
                 lambda: actions.autoscale(2, 1), lambda: actions.add_consumer("q"),
                 lambda: actions.cancel_consumer("q"), lambda: actions.pool_restart(),
                 lambda: actions.shutdown(["w@h"]), lambda: actions.purge(["q"])):
        with pytest.raises(ReadOnlyError):
            call()
    lines = [json.loads(l) for l in audit_path.read_text().splitlines()]
    assert len(lines) == 12 and {l["phase"] for l in lines} == {"refused"}


def test_audit_log_has_each_attempt_and_outcome(cluster):
    app, state, actions, host, audit_path = cluster
    actions.pool_grow(1, destination=[host])
    actions.pool_shrink(1, destination=[host])
    lines = [json.loads(l) for l in audit_path.read_text().splitlines()]
    assert [(l["action"], l["phase"]) for l in lines] == [
        ("pool_grow", "attempt"), ("pool_grow", "outcome"),
        ("pool_shrink", "attempt"), ("pool_shrink", "outcome")]
    assert lines[1]["outcome"][host]["kind"] == "ok" and lines[0]["targets"] == [host]
    assert all(l["user"] and l["host"] for l in lines)
    assert stat.S_IMODE(audit_path.stat().st_mode) == 0o600
    assert "guest:guest" not in audit_path.read_text()
