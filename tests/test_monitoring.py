"""Live monitoring against real brokers and workers: final states, workers
coming and going, and the broker connection cut and restored."""

from __future__ import annotations

import os
import signal
import time

import pytest

from brokers import companion_app, running_worker, wait_until
from console.core.capture import Capture
from console.core.connection import Target
from console.core.state import ClusterState
from proxy import TcpProxy

pytestmark = pytest.mark.broker

TASKS = "console.companion.tasks."




def final_state(state: ClusterState, uuid: str):
    task = state.task(uuid)
    return task.state if task else None


def watch(broker):
    """The companion app and a running capture into a fresh model."""
    app = companion_app(broker)
    state = ClusterState()
    return app, state, Capture(Target(app), state).start()


@pytest.fixture
def watched(broker):
    app, state, capture = watch(broker)
    yield app, state
    capture.stop()


@pytest.fixture
def watched_server(real_broker):
    app, state, capture = watch(real_broker)
    yield app, state
    capture.stop()


def test_every_final_state_arrives(broker, watched, tmp_path):
    app, state = watched
    with running_worker(broker, tmp_path, queues="default,emails,slow",
                        concurrency=2) as hostname:
        assert wait_until(lambda: hostname in state.workers_online(), 20), state.connection
        ok = app.send_task(TASKS + "add", (20, 22), queue="default")
        failed = app.send_task(TASKS + "always_fails", queue="default")
        retried = app.send_task(TASKS + "flaky", (1,), {"fail_times": 1}, queue="default")
        # The worker reports a revoked countdown task when its ETA comes due.
        waiting = app.send_task(TASKS + "add", (1, 1), queue="default", countdown=4)
        assert wait_until(lambda: final_state(state, waiting.id) == "RECEIVED", 15)
        app.control.revoke(waiting.id)
        expected = {ok.id: "SUCCESS", failed.id: "FAILURE", retried.id: "SUCCESS",
                    waiting.id: "REVOKED"}
        assert wait_until(lambda: all(final_state(state, u) == s
                                      for u, s in expected.items()), 20), \
            {u: final_state(state, u) for u in expected}
    assert state.task(ok.id).result == "42"
    assert "RuntimeError" in state.task(failed.id).exception
    assert "Traceback (most recent call last)" in state.task(failed.id).traceback
    flaky = state.task(retried.id)
    assert flaky.retried is not None and flaky.retries == 1  # went through RETRY
    revoked = state.task(waiting.id)
    assert revoked.started is None  # it never ran
    assert state.workers[hostname].counts.get("succeeded", 0) >= 2


def test_killed_worker_goes_offline_and_a_new_one_appears(real_broker, watched_server,
                                                         tmp_path):
    broker = real_broker
    app, state = watched_server
    with running_worker(broker, tmp_path, name="victim") as victim:
        assert wait_until(lambda: victim in state.workers_online(), 20)
        worker = state.workers[victim]
        pid = worker.pid
        assert pid, "worker-online events carry the worker's pid"
        os.kill(pid, signal.SIGKILL)
        # Celery's rule: offline after 2 heartbeat intervals without one.
        freq = float(worker.freq)
        assert wait_until(lambda: victim not in state.workers_online(), 4 * freq + 5)
        assert state.workers[victim].alive(time.time()) is False
        with running_worker(broker, tmp_path, name="late") as late:
            assert wait_until(lambda: late in state.workers_online(), 20)
            done = app.send_task(TASKS + "add", (2, 2), queue="default")
            assert wait_until(lambda: final_state(state, done.id) == "SUCCESS", 20)
            assert state.task(done.id).worker == late


def test_connection_cut_and_restored(real_broker, tmp_path):
    broker = real_broker
    port = 5672 if broker.kind == "rabbitmq" else 6379
    proxy = TcpProxy(port).start()
    proxied = broker.url.replace(f":{port}/", f":{proxy.port}/")
    app = companion_app(broker)
    state = ClusterState()
    # Only the console's own connections go through the proxy.
    capture = Capture(Target(companion_app(broker), url=proxied), state).start()
    try:
        with running_worker(broker, tmp_path) as hostname:
            assert wait_until(lambda: hostname in state.workers_online(), 20)
            assert state.connection.state == "connected"
            proxy.cut()
            assert wait_until(lambda: state.connection.state == "reconnecting", 15), \
                state.connection
            assert state.connection.error
            # Events flowed, then the connection dropped: counted, so the
            # header can say events were lost.
            assert state.intake.disconnects >= 1
            during = app.send_task(TASKS + "add", (3, 3), queue="default")
            proxy.restore()
            assert wait_until(lambda: state.connection.state == "connected", 20), \
                state.connection
            after = app.send_task(TASKS + "add", (4, 4), queue="default")
            assert wait_until(lambda: final_state(state, after.id) == "SUCCESS", 20)
            assert hostname in state.workers_online()
            # Events sent while we were cut off are gone (nothing replays
            # them): the task is simply not known, never shown wrongly.
            assert final_state(state, during.id) in (None, "SUCCESS")
    finally:
        capture.stop()
        proxy.close()
