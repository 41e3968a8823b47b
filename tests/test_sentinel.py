"""Redis behind a real Sentinel the test starts (a master, a replica, one
sentinel, on free ports): the console sees a worker and its queue depths
through sentinel://, and after a Sentinel failover to the replica, capture,
depths and purge resume on the new master."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from brokers import BrokerEnv, companion_app, running_worker, wait_until
from console.core.actions import Actions
from console.core.audit import AuditLog
from console.core.connection import Target
from console.core.failover import PrimaryMoved, check_primary
from console.core.monitor import Monitor
from console.core.state import ClusterState
from console.core.surgery import Surgeon
from servers import SentinelSet

pytestmark = [pytest.mark.broker, pytest.mark.slow]
TASKS = "console.companion.tasks."


@pytest.fixture
def sentinels(tmp_path):
    made = SentinelSet(tmp_path / "sentinel")
    yield made
    made.close()


def depth(state: ClusterState, name: str):
    view = state.queue_view(name)
    return view.messages if view is not None else None


def test_console_through_sentinel_follows_a_failover(sentinels, tmp_path):
    env = BrokerEnv("redis", f"sentinel://127.0.0.1:{sentinels.port}/0", extra_env={
        "CONSOLE_BROKER_TRANSPORT_OPTIONS": json.dumps({"master_name": sentinels.MASTER})})
    app = companion_app(env)
    first_master = sentinels.master_port()
    assert first_master == sentinels.master.port
    with running_worker(env, tmp_path, queues="default") as host:
        status = subprocess.run(
            [sys.executable, "-m", "console", "-A", "console.companion", "status", "--json",
             "--wait", "3"], capture_output=True, text=True, env=env.env(), timeout=90)
        assert status.returncode == 0, status.stderr
        assert host in {w["hostname"] for w in json.loads(status.stdout)["workers"]}
        with app.producer_or_acquire() as producer:
            for i in range(25):
                app.send_task(TASKS + "add", (i, i), queue="backlog", producer=producer)
        target = Target(app)
        state = ClusterState()
        monitor = Monitor(target, state, inspect_interval=1.0, probe_interval=1.0).start()
        try:
            assert wait_until(lambda: host in state.workers_online(), 30)
            assert wait_until(lambda: depth(state, "backlog") == 25, 30)
            assert Surgeon(target).peek("backlog", held=False).counted == 25
            # A subscription of our own, idle on the master: check_primary
            # is quiet now and says so once the master moved.
            idle = target.connection_for_read()
            idle_channel = idle.channel()
            idle_channel.subclient.subscribe("console-test")
            check_primary(idle_channel)
            # Failover: the replica becomes the master.
            connected_since = state.connection.since
            sentinels.failover()
            assert wait_until(lambda: sentinels.master_port() == sentinels.replica.port, 60)
            # Until the sentinel has turned the old master into a replica it
            # still takes writes that the failover then drops (Sentinel's
            # own window, not the console's): send nothing before that.
            assert wait_until(lambda: sentinels.role(sentinels.master) == "slave", 60)
            with pytest.raises(PrimaryMoved, match="is no longer the master"):
                check_primary(idle_channel)
            idle.release()
            # The capture leaves the demoted master (which keeps its clients)
            # and comes back through the sentinel to the new one.
            assert wait_until(lambda: state.connection.state == "connected"
                              and state.connection.since > connected_since, 30)
            events_then = state.counters.events
            # Capture resumes: a task sent now is seen from start to end.
            result = app.send_task(TASKS + "add", (2, 3), queue="default")
            assert wait_until(lambda: state.task(result.id) is not None
                              and state.task(result.id).state == "SUCCESS", 60), \
                (state.task(result.id), state.connection, state.counters.events,
                 (tmp_path / "sentinel" / "sentinel.log").read_text()[-2000:])
            assert state.counters.events > events_then
            assert host in state.workers_online()
            # Depths and purge on the new master. What the old master held
            # reaches the new one only if Redis replicated it before the
            # failover (it did not always here): that is Redis's part, so the
            # backlog is sent again, now, through the sentinel.
            with app.producer_or_acquire() as producer:
                for i in range(25):
                    app.send_task(TASKS + "add", (i, i), queue="backlog", producer=producer)
            assert wait_until(lambda: (depth(state, "backlog") or 0) >= 25
                              and state.queue_view("backlog").error is None, 60), \
                (state.queue_view("backlog"), sentinels.master_port(), sentinels.replica.port)
            actions = Actions(target, state, AuditLog(tmp_path / "audit.jsonl", env.url))
            outcome = actions.purge(["backlog"])
            # 50 when Redis had replicated the first 25, else the 25 sent now.
            assert outcome.status.value == "ok" and outcome.results["backlog"].count in (25, 50)
            assert wait_until(lambda: depth(state, "backlog") == 0, 30)
        finally:
            monitor.stop(timeout=2.0)
