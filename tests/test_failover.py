"""Failover lists (``amqp://a;amqp://b``): the console follows a broker
failover as Celery does and shows which broker it is on, masked. Broker A
is a RabbitMQ node the test starts and stops; B is the machine's RabbitMQ
(a test vhost)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from brokers import BrokerEnv, companion_app, running_worker, wait_until
from console.core.connection import Target
from console.core.failover import current_broker
from console.core.monitor import Monitor
from console.core.state import ClusterState
from servers import make_certs, rabbitmq_tls_node

pytestmark = [pytest.mark.broker, pytest.mark.slow]
TASKS = "console.companion.tasks."


def test_current_broker_names_the_url_reached_and_its_place():
    from kombu import Connection

    urls = "amqp://u:pw-secret-1@a.example:5672/v;amqp://u:pw-secret-1@b.example:5673/v"
    conn = Connection(urls)
    assert current_broker(conn, urls) == "amqp://u:****@a.example:5672/v (1 of 2)"
    conn.switch(urls.split(";")[1])
    assert current_broker(conn, urls) == "amqp://u:****@b.example:5673/v (2 of 2)"
    single = "redis://:pw-secret-1@h:6379/0"
    assert current_broker(Connection(single), single) == "redis://:****@h:6379/0"


async def test_the_header_shows_the_broker_reached():
    from console.sample import sample_app
    from console.ui.widgets.status_header import StatusHeader

    app = sample_app()
    app.target.current = "amqp://ops:****@rabbit-b.internal:5672/prod (2 of 2)"
    async with app.run_test(size=(140, 36)) as pilot:
        await pilot.pause()
        text = str(app.screen.query_one(StatusHeader).render())
        assert "rabbit-b.internal" in text and "(2 of 2)" in text


def test_the_console_follows_a_rabbitmq_failover(rabbitmq_broker, tmp_path):
    backup = rabbitmq_broker
    node = rabbitmq_tls_node(tmp_path / "node-a", make_certs(tmp_path / "certs"))
    try:
        first = f"amqp://guest:guest@127.0.0.1:{node.amqp_port}//"
        urls = f"{first};{backup.url}"
        env = BrokerEnv("rabbitmq", urls)
        app = companion_app(env)
        target = Target(app)
        state = ClusterState()
        with running_worker(env, tmp_path, queues="default") as host:
            monitor = Monitor(target, state, inspect_interval=1.0, probe_interval=1.0).start()
            try:
                assert wait_until(lambda: host in state.workers_online(), 30)
                assert target.shown_url.endswith("(1 of 2)"), target.shown_url
                assert str(node.amqp_port) in target.shown_url
                since = state.connection.since
                node.close()  # broker A goes away: worker and console move to B
                assert wait_until(lambda: state.connection.state == "connected"
                                  and state.connection.since > since, 60)
                assert target.shown_url.endswith("(2 of 2)"), target.shown_url
                assert "guest:****@127.0.0.1:5672" in target.shown_url
                # The worker followed too: a task sent now is seen run there.
                result = companion_app(env).send_task(TASKS + "add", (2, 3), queue="default")
                assert wait_until(lambda: state.task(result.id) is not None
                                  and state.task(result.id).state == "SUCCESS", 60)
                assert host in state.workers_online()
            finally:
                monitor.stop(timeout=2.0)
            status = subprocess.run(
                [sys.executable, "-m", "console", "-A", "console.companion", "status",
                 "--json", "--wait", "3"], capture_output=True, text=True, env=env.env(),
                timeout=120)
            assert status.returncode == 0, status.stderr
            report = json.loads(status.stdout)
            assert report["connected_to"].endswith("(2 of 2)")
            assert host in {w["hostname"] for w in report["workers"]}
            assert "guest:guest" not in status.stdout + status.stderr
    finally:
        node.close()
