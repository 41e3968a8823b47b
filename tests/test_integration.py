"""Real brokers, real workers: status and capture on every transport."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from brokers import companion_app, running_worker, wait_until
from console.core.capture import Capture
from console.core.connection import Target
from console.core.state import ClusterState

pytestmark = pytest.mark.broker


def console_status(broker, *args, timeout=90):
    return subprocess.run(
        [sys.executable, "-m", "console", "-A", "console.companion", "status", *args],
        capture_output=True, text=True, env=broker.env(), timeout=timeout)




def test_status_json_lists_the_worker_and_its_queues(broker, tmp_path):
    with running_worker(broker, tmp_path, queues="default,emails") as hostname:
        result = console_status(broker, "--json", "--wait", "5")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    workers = {w["hostname"]: w for w in report["workers"]}
    assert hostname in workers, report
    worker = workers[hostname]
    assert worker["status"] == "online"
    assert worker["queues"] == ["default", "emails"]
    assert worker["pool"] == "prefork" and worker["concurrency"] == 1
    queues = {q["name"]: q for q in report["queues"]}
    assert queues["default"]["exists"] is True and queues["default"]["messages"] == 0
    assert f"worker:{hostname}" in queues["emails"]["sources"]
    assert "guest:guest" not in result.stdout


def test_status_without_workers_exits_69(broker):
    result = console_status(broker, "--wait", "1", "--timeout", "0.5")
    assert result.returncode == 69, (result.stdout, result.stderr)
    assert "No worker answered" in result.stderr
    assert "Traceback" not in result.stderr


def test_captured_tasks_reach_their_final_state(broker, tmp_path):
    app = companion_app(broker)

    state = ClusterState()
    with running_worker(broker, tmp_path, queues="default,emails") as hostname:
        capture = Capture(Target(app), state).start()
        try:
            assert wait_until(lambda: hostname in state.workers_online(), 20), \
                state.connection
            ok = app.send_task("console.companion.tasks.add", (2, 3), queue="default")
            bad = app.send_task("console.companion.tasks.always_fails", queue="default")
            assert wait_until(lambda: (state.task(ok.id) is not None
                                       and state.task(ok.id).state == "SUCCESS"
                                       and state.task(bad.id) is not None
                                       and state.task(bad.id).state == "FAILURE"), 20), (
                state.task(ok.id), state.task(bad.id), state.counters,
                (tmp_path / f"{hostname.split('@')[0]}.log").read_text()[-2000:])
        finally:
            capture.stop()
    done = state.task(ok.id)
    assert done.worker == hostname and done.result == "5"
    assert "RuntimeError" in state.task(bad.id).exception
    assert "Traceback" in state.task(bad.id).traceback
    assert state.connection.state == "stopped"
