"""Real brokers, real workers: a chord's workflow tree, and a real `celery
beat` whose runs show and whose stop shows as late."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from brokers import companion_app, running_beat, running_worker, stop_process_group, wait_until
from console.core.beat import read_schedule
from console.core.capture import Capture
from console.core.connection import Target
from console.core.state import ClusterState

pytestmark = pytest.mark.broker
TASKS = "console.companion.tasks."


def walk(node):
    yield node
    for child in node.children:
        yield from walk(child)


def test_a_chords_tree_shows_every_member_and_the_callback(real_broker, tmp_path):
    app = companion_app(real_broker)
    state = ClusterState()
    with running_worker(real_broker, tmp_path, queues="default", concurrency=2) as host:
        capture = Capture(Target(app), state).start()
        try:
            assert wait_until(lambda: host in state.workers_online(), 30), state.connection
            started = app.send_task(TASKS + "fan_out", (5,), queue="default")

            def callback_done():
                return any(t.name == TASKS + "total" and t.state == "SUCCESS"
                           for t in state.tasks_snapshot())

            assert wait_until(callback_done, 60), [
                (t.name, t.state) for t in state.tasks_snapshot()]
        finally:
            capture.stop()
    members = [t for t in state.tasks_snapshot() if t.name == TASKS + "add"]
    callback = next(t for t in state.tasks_snapshot() if t.name == TASKS + "total")
    assert len(members) == 5
    # Opened from any member, the tree is the whole workflow from its root.
    view = state.workflow_view(members[2].uuid)
    assert view is not None and view.root.uuid == started.id
    assert view.root.name == TASKS + "fan_out" and view.hidden == 0
    under_root = {n.uuid for n in view.root.children}
    assert {m.uuid for m in members} <= under_root
    shown = {n.uuid: n for n in walk(view.root)}
    assert shown[callback.uuid].state == "SUCCESS"
    # The callback hangs under whatever sent it (chord_unlock, or the last
    # member with a backend that counts the header itself), never lost.
    assert callback.uuid not in under_root or view.root.uuid == callback.parent_id
    assert {n.state for n in shown.values()} == {"SUCCESS"}


def console_status(broker, *args, timeout=90):
    return subprocess.run(
        [sys.executable, "-m", "console", "-A", "console.companion", "status", *args],
        capture_output=True, text=True, env=broker.env(), timeout=timeout)


def test_a_real_beat_shows_last_runs_then_late_once_stopped(real_broker, tmp_path):
    app = companion_app(real_broker)
    schedule = read_schedule(app)
    by_task = {e.name: e for e in schedule.entries}
    assert by_task["ping-every-2s"].interval == 2.0
    state = ClusterState()
    state.watch_task_names(e.task for e in schedule.entries)
    fast = ("ping-every-2s", "rollup-every-5s")

    def entries():
        view = state.beat_view(schedule, state.clock())
        return {e.name: e for e in view.entries}

    with running_worker(real_broker, tmp_path, queues="default") as host:
        capture = Capture(Target(app), state).start()
        try:
            assert wait_until(lambda: host in state.workers_online(), 30), state.connection
            beat = running_beat(real_broker, tmp_path)
            process = beat.__enter__()
            try:
                assert wait_until(lambda: all(entries()[n].runs >= 2 for n in fast), 60), \
                    entries()
                now = entries()
                assert {now[n].late for n in fast} == {False}
                assert now["ping-every-2s"].last_uuid is not None
                assert state.task(now["ping-every-2s"].last_uuid).name == TASKS + "beat_ping"
                # `console status --json` reports the same, from its own watch.
                result = console_status(real_broker, "--json", "--wait", "6")
                assert result.returncode == 0, result.stderr
                beat_report = json.loads(result.stdout)["beat"]
                reported = {e["name"]: e for e in beat_report["entries"]}
                assert reported["ping-every-2s"]["last_seen"] is not None
                assert reported["ping-every-2s"]["late"] is False
                # Not late: not judged yet, or judged ok when a minute began
                # during the test and beat sent its run.
                assert reported["digest-every-minute"]["late"] in (None, False)
                assert beat_report["readable"] is True
            finally:
                stop_process_group(process)
                beat.__exit__(None, None, None)
            # Beat stopped: each fast entry goes late after two intervals.
            assert wait_until(lambda: all(entries()[n].late for n in fast), 30), entries()
            assert entries()["digest-every-minute"].late in (None, False)
        finally:
            capture.stop()
