"""TLS brokers the tests start themselves: Redis (rediss://) and a RabbitMQ
node of their own (amqps://), with the app's broker_use_ssl (CA, client
certificate, verify mode) honoured for events, inspections, depths, purge and
a revoke; a wrong CA is one clear line and exit 69."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from brokers import BrokerEnv, companion_app, running_worker, wait_until
from console.core.actions import Actions
from console.core.audit import AuditLog
from console.core.broker import QueueProbe
from console.core.connection import Target
from console.core.monitor import Monitor
from console.core.state import ClusterState
from console.core.surgery import Surgeon
from servers import make_certs, rabbitmq_tls_node, redis_server

pytestmark = [pytest.mark.broker, pytest.mark.slow]
TASKS = "console.companion.tasks."


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module", params=["redis", "rabbitmq"])
def tls_broker(request, certs, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"tls-{request.param}")
    if request.param == "redis":
        server = redis_server(folder, tls=certs)
        url = f"rediss://127.0.0.1:{server.port}/0"
    else:
        server = rabbitmq_tls_node(folder, certs)
        url = f"amqps://guest:guest@127.0.0.1:{server.port}//"
    yield request.param, url
    server.close()


def env_for(kind: str, url: str, certs, ca=None) -> BrokerEnv:
    return BrokerEnv(kind, url, extra_env={
        "CONSOLE_BROKER_SSL_CA": str(ca or certs.ca),
        "CONSOLE_BROKER_SSL_CERT": str(certs.client_cert),
        "CONSOLE_BROKER_SSL_KEY": str(certs.client_key)})


def console(*args, env: BrokerEnv, timeout=90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console", "-A", "console.companion", *args],
                          capture_output=True, text=True, env=env.env(), timeout=timeout)


def test_tls_broker_status_purge_and_revoke(tls_broker, certs, tmp_path):
    kind, url = tls_broker
    env = env_for(kind, url, certs)
    app = companion_app(env)
    assert app.conf.broker_use_ssl  # the app's own settings, as a real app has them
    with running_worker(env, tmp_path, queues="default") as host:
        # status: events and an inspection round over TLS.
        result = console("status", "--json", "--wait", "3", env=env)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        worker = {w["hostname"]: w for w in report["workers"]}[host]
        assert worker["status"] == "online" and worker["replied"]
        if kind == "redis":
            # -b alone: Redis takes the TLS settings in the URL's query.
            query = (f"?ssl_cert_reqs=required&ssl_ca_certs={certs.ca}"
                     f"&ssl_certfile={certs.client_cert}&ssl_keyfile={certs.client_key}")
            bare = subprocess.run(
                [sys.executable, "-m", "console", "-b", url + query, "status", "--json",
                 "--wait", "3"], capture_output=True, text=True, timeout=90,
                env={k: v for k, v in env.env().items() if k != "CELERY_BROKER_URL"})
            assert bare.returncode == 0, bare.stderr
            assert host in {w["hostname"] for w in json.loads(bare.stdout)["workers"]}
        # Depths and purge over TLS.
        with app.producer_or_acquire() as producer:
            for i in range(40):
                app.send_task(TASKS + "add", (i, i), queue="backlog", producer=producer)
        target = Target(app)
        assert wait_until(lambda: QueueProbe(target).probe(["backlog"])["backlog"].messages
                          == 40, 30)
        peek = Surgeon(target).peek("backlog", held=False)
        assert peek.error is None and peek.counted == 40
        purged = console("purge", "backlog", "--yes", "--audit-log",
                         str(tmp_path / "audit.jsonl"), env=env)
        assert purged.returncode == 0, purged.stderr
        assert "backlog: purged 40" in purged.stdout
        assert QueueProbe(target).probe(["backlog"])["backlog"].messages == 0
        # A revoke from the console's core reaches the worker.
        state = ClusterState()
        monitor = Monitor(target, state, inspect_interval=1.0, probe_interval=1.0).start()
        try:
            assert wait_until(lambda: host in state.workers_online(), 30)
            task_id = str(uuid.uuid4())
            actions = Actions(target, state, AuditLog(tmp_path / "audit.jsonl", url))
            outcome = actions.revoke([task_id])
            assert outcome.status.value == "ok", outcome.summary
            revoked = app.control.inspect(destination=[host], timeout=3).revoked() or {}
            assert task_id in revoked.get(host, [])
        finally:
            monitor.stop(timeout=2.0)


def test_the_client_certificate_is_required_and_taken_from_broker_use_ssl(tls_broker, certs):
    kind, url = tls_broker
    env = env_for(kind, url, certs)
    del env.extra_env["CONSOLE_BROKER_SSL_CERT"], env.extra_env["CONSOLE_BROKER_SSL_KEY"]
    result = console("status", "--wait", "0", env=env)
    assert result.returncode == 69 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "TLS to the broker" in result.stderr and "_ssl.c" not in result.stderr


def test_a_wrong_ca_is_one_line_and_exit_69(tls_broker, certs):
    kind, url = tls_broker
    result = console("status", "--wait", "0", env=env_for(kind, url, certs, ca=certs.wrong_ca))
    assert result.returncode == 69, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "TLS to the broker" in lines[0] and "certificate verify failed" in lines[0]
    assert "broker_use_ssl" in lines[0]
    if kind == "rabbitmq":
        assert "guest:guest" not in result.stderr
