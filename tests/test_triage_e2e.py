"""Stuck tasks on a real worker (RabbitMQ and Redis): a task sleeping past
a low threshold is flagged by the capture thread's periodic sweep, and
unflagged when it finishes."""

from __future__ import annotations

import pytest

from brokers import companion_app, running_worker, wait_until
from console.core.capture import Capture
from console.core.connection import Target
from console.core.filters import TaskFilter
from console.core.state import ClusterState

pytestmark = pytest.mark.broker

SLOW = "console.companion.tasks.slow"


def test_a_task_running_past_its_threshold_is_stuck_then_not(real_broker, tmp_path):
    app = companion_app(real_broker)
    # Threshold: max(1 s, 3 × the type's runtime p99); a first run of 0.1 s
    # makes the p99 known (0.3 s), so the floor decides.
    state = ClusterState(stuck_floor=1.0, stuck_factor=3.0)
    capture = Capture(Target(app), state).start()
    try:
        with running_worker(real_broker, tmp_path, queues="slow") as hostname:
            assert wait_until(lambda: hostname in state.workers_online(), 20)
            first = app.send_task(SLOW, (0.1,), queue="slow")
            assert wait_until(lambda: _state(state, first.id) == "SUCCESS", 20)
            threshold = state.triage.threshold(SLOW)
            assert threshold == 1.0
            sleeper = app.send_task(SLOW, (6.0,), queue="slow")
            assert wait_until(lambda: _state(state, sleeper.id) == "STARTED", 20)
            task = state.task(sleeper.id)
            assert not task.stuck  # just started: under its threshold
            # Read the record's flag only: set by the capture thread's sweep,
            # not by a read of the model.
            assert wait_until(lambda: task.stuck, 10), "never flagged stuck"
            assert _state(state, sleeper.id) == "STARTED"
            (stuck,) = state.stuck_views(worker=hostname)
            assert stuck.uuid == sleeper.id and stuck.running_for > threshold
            assert [t.uuid for t in TaskFilter.parse("is:stuck").select(
                state.tasks_snapshot())] == [sleeper.id]
            assert state.header_view(state.clock()).stuck == 1
            types = {v.name: v for v in state.task_type_views()}
            assert types[SLOW].stuck == 1 and types[SLOW].in_flight == 1
            assert wait_until(lambda: _state(state, sleeper.id) == "SUCCESS", 20)
            assert not state.task(sleeper.id).stuck
            assert state.stuck_views() == [] and state.header_view(state.clock()).stuck == 0
            view = {v.name: v for v in state.task_type_views()}[SLOW]
            assert view.succeeded == 2 and view.runtime is not None
            assert view.runtime.highest >= 6.0
            # The companion sends task-sent events: the queue wait is known.
            assert view.wait is not None and view.wait.samples == 2
    finally:
        capture.stop()


def _state(state: ClusterState, uuid: str):
    task = state.task(uuid)
    return task.state if task else None


def test_status_json_has_per_type_figures_groups_and_counts(real_broker, tmp_path):
    import json
    import subprocess
    import sys
    import threading

    app = companion_app(real_broker)
    with running_worker(real_broker, tmp_path, queues="default") as hostname:
        stop = threading.Event()

        def load() -> None:  # tasks all through the status run's --wait
            while not stop.is_set():
                app.send_task("console.companion.tasks.add", (1, 2), queue="default")
                app.send_task("console.companion.tasks.always_fails", queue="default")
                stop.wait(0.2)

        sender = threading.Thread(target=load, daemon=True)
        sender.start()
        try:
            result = subprocess.run(
                [sys.executable, "-m", "console", "-A", "console.companion", "status",
                 "--json", "--wait", "6"],
                capture_output=True, text=True, env=real_broker.env(), timeout=90)
        finally:
            stop.set()
            sender.join(5)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert hostname in {w["hostname"] for w in report["workers"]}
    add = report["task_types"]["console.companion.tasks.add"]
    assert add["succeeded"] > 0 and add["runtime"]["p99"] >= add["runtime"]["p50"] > 0
    assert add["queue_wait"]["samples"] > 0 and add["start_delay"]["samples"] > 0
    failing = report["task_types"]["console.companion.tasks.always_fails"]
    assert failing["failed"] > 0 and failing["failure_ratio"] == 1.0
    (group,) = [g for g in report["failure_groups"]
                if "console.companion.tasks.always_fails" in g["names"]]
    assert group["type"] == "RuntimeError" and group["count"] == failing["failed"]
    assert group["workers"] == [hostname]
    assert report["stuck"] == 0 and report["lost"] == 0
    plain = subprocess.run(
        [sys.executable, "-m", "console", "-A", "console.companion", "status", "--wait", "1"],
        capture_output=True, text=True, env=real_broker.env(), timeout=90)
    assert "Stuck 0" in plain.stdout and "Lost 0" in plain.stdout
