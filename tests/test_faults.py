"""Broker faults: the console's connection is cut (through a TCP proxy the
test controls) during event capture, an inspection round, a queue probe, a
control action and a purge — on RabbitMQ and on Redis. The shared broker
services and the workers (which connect directly) are never touched.

Event capture alone cut and restored is `test_monitoring.py::
test_connection_cut_and_restored`; here the whole Monitor rides through an
outage and each round is cut at a chosen moment.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from brokers import broker_depth, companion_app, fill_queue, running_worker, wait_until
from console.core.actions import Actions
from console.core.views import ResultKind, TargetResult
from console.core.audit import AuditLog
from console.core.broker import QueueProbe
from console.core.capture import BACKOFF_CAP, backoff_delay
from console.core.connection import Target
from console.core.inspector import Inspector
from console.core.monitor import Monitor
from console.core.state import ClusterState
from proxy import TcpProxy

TASKS = "console.companion.tasks."
GHOST = "ghost@nowhere"  # never answers: keeps a round waiting to be cut


@pytest.fixture
def cut_off(real_broker):
    """(broker, proxy, target through the proxy, direct app)."""
    broker = real_broker
    port = 5672 if broker.kind == "rabbitmq" else 6379
    proxy = TcpProxy(port).start()
    proxied = broker.url.replace(f":{port}/", f":{proxy.port}/")
    target = Target(companion_app(broker), url=proxied)
    direct = companion_app(broker)
    try:
        yield broker, proxy, target, direct
    finally:
        proxy.close()


def read_audit(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_reconnect_delay_is_capped_so_recovery_fits_in_5_s():
    """The schedule, not a stopwatch: after any number of failed attempts the
    next try comes at most BACKOFF_CAP (4 s) later, so a broker that returns
    is seen again within 5 s. Jitter keeps many consoles apart."""
    import random

    rng = random.Random(1)
    delays = [backoff_delay(attempt, rng) for attempt in range(200)]
    assert max(delays) <= BACKOFF_CAP <= 4.0
    assert delays[0] < 1.0  # the first retry is quick
    assert len({round(d, 3) for d in delays[20:]}) > 100  # jittered


@pytest.mark.broker
def test_monitor_rides_through_an_outage(cut_off, tmp_path):
    """Capture, inspections and probes all lose the broker at once: nothing
    crashes or hangs, the model says disconnected, queues read as errors
    (never 0 or missing), and everything re-syncs by itself afterwards."""
    broker, proxy, target, direct = cut_off
    fill_queue(broker, direct, "reports", 7)
    state = ClusterState()
    monitor = Monitor(target, state, inspect_interval=2.0, probe_interval=0.5)
    with running_worker(broker, tmp_path, queues="default,emails") as hostname:
        monitor.start()
        try:
            assert wait_until(lambda: hostname in state.workers_online(), 20), state.connection
            assert wait_until(lambda: state.inspection(hostname, "stats") is not None
                              and state.inspection(hostname, "stats").reply is not None, 20)
            assert wait_until(lambda: (state.queues.get("reports") or {}).get("messages") == 7, 20)

            proxy.cut()
            assert wait_until(lambda: state.connection.state == "reconnecting", 10), \
                state.connection
            assert state.connection.error
            # Probes during the outage report an error, never a depth.
            assert wait_until(lambda: (state.queues.get("reports") or {}).get("error"), 15), \
                state.queues.get("reports")
            outage = state.queues["reports"]
            assert outage["messages"] is None and outage["exists"] is None
            threads = [monitor.capture._thread, monitor.inspect_poller._thread,
                       monitor.probe_poller._thread]
            assert all(t.is_alive() for t in threads)

            cut_at = time.time()
            proxy.restore()
            assert wait_until(lambda: state.connection.state == "connected", 20), \
                state.connection
            # Re-synced: heartbeats, a fresh inspection round, fresh depths.
            assert wait_until(lambda: hostname in state.workers_online(), 20)
            assert wait_until(lambda: state.inspection(hostname, "stats").at > cut_at
                              and state.inspection(hostname, "stats").error is None, 20), \
                state.inspection(hostname, "stats")
            assert wait_until(lambda: (state.queues.get("reports") or {}).get("messages") == 7
                              and not state.queues["reports"]["error"], 20)
            done = direct.send_task(TASKS + "add", (1, 2), queue="default")
            assert wait_until(lambda: state.task(done.id) is not None
                              and state.task(done.id).state == "SUCCESS", 20)
        finally:
            monitor.stop()
        # Stop is bounded even with threads mid-round (a hang guard).
        assert wait_until(lambda: not monitor.capture._thread.is_alive(), 10)


@pytest.mark.broker
def test_inspection_round_cut_midway(cut_off, tmp_path):
    broker, proxy, target, direct = cut_off
    state = ClusterState()
    inspector = Inspector(target, state, timeout=4.0)
    with running_worker(broker, tmp_path) as hostname:
        # The worker answers at once; the ghost keeps the round waiting.
        timer = threading.Timer(1.5, proxy.cut)
        timer.start()
        done: list = []
        thread = threading.Thread(target=lambda: done.extend(
            inspector.run(("stats",), destination=[hostname, GHOST])), daemon=True)
        thread.start()
        thread.join(30)
        timer.join()
        assert not thread.is_alive(), "an inspection round hung on a cut connection"
        [result] = done
        assert result.error, result  # the cut is reported, not swallowed
        entry = state.inspection(GHOST, "stats")
        assert entry.reply is None and entry.error  # the miss is recorded with its reason
        proxy.restore()
        # The next round works on a fresh connection.
        assert wait_until(lambda: inspector.run(("stats",), destination=[hostname])[0]
                          .replies.get(hostname) is not None, 20)
        assert state.inspection(hostname, "stats").reply["pid"]


class CuttingProbe(QueueProbe):
    """Cuts the proxy after connecting, just before the depths are read."""

    def __init__(self, target, proxy):
        super().__init__(target, timeout=3.0)
        self.proxy = proxy

    def _probe_with(self, conn, names):
        self.proxy.cut()
        return super()._probe_with(conn, names)


@pytest.mark.broker
def test_queue_probe_cut_midway_is_an_error_never_zero(cut_off):
    broker, proxy, target, direct = cut_off
    fill_queue(broker, direct, "reports", 5)
    finished: list = []
    thread = threading.Thread(target=lambda: finished.append(
        CuttingProbe(target, proxy).probe(["reports", "emails"])), daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "a queue probe hung on a cut connection"
    [depths] = finished
    for depth in depths.values():
        assert depth.error and depth.messages is None and depth.exists is None, depth
    proxy.restore()
    assert wait_until(lambda: QueueProbe(target).probe(["reports"])["reports"].messages == 5, 20)


@pytest.mark.broker
def test_control_action_cut_while_waiting_for_replies(cut_off, tmp_path):
    """rate_limit sent, the worker's reply in, the connection cut while the
    round still waits: that worker's ok is kept, the rest is "unknown" —
    never "ok" — in the outcome, the action log and the audit file."""
    broker, proxy, target, direct = cut_off
    state = ClusterState()
    audit_path = tmp_path / "audit.jsonl"
    actions = Actions(target, state, AuditLog(audit_path, target.broker_url), timeout=4.0)
    with running_worker(broker, tmp_path) as hostname:
        timer = threading.Timer(1.5, proxy.cut)
        timer.start()
        outcome = actions.rate_limit(TASKS + "add", "5/s", destination=[hostname, GHOST])
        timer.join()
        assert outcome.status == "unknown", outcome
        assert outcome.results[hostname] == TargetResult(ResultKind.OK, "new rate limit set successfully")
        assert outcome.results[GHOST].kind is ResultKind.UNKNOWN
        assert "outcome unknown" in outcome.summary
        assert state.actions[-1].status == "unknown"
        attempt, result = read_audit(audit_path)
        assert attempt["phase"] == "attempt" and result["phase"] == "outcome"
        assert result["id"] == attempt["id"] and result["status"] == "unknown"
        # With the broker unreachable, nothing is sent: an error that says so.
        refused = actions.rate_limit(TASKS + "add", "5/s", destination=[hostname])
        assert refused.status == "error" and refused.results[hostname].kind is ResultKind.NOT_SENT
        proxy.restore()
        again = actions.rate_limit(TASKS + "add", "6/s", destination=[hostname])
        assert again.status == "ok", again
        statuses = [r["status"] for r in read_audit(audit_path) if r["phase"] == "outcome"]
        assert statuses == ["unknown", "error", "ok"]


@pytest.mark.broker
def test_purge_cut_midway_is_unknown_never_ok(cut_off, tmp_path, monkeypatch):
    broker, proxy, target, direct = cut_off
    fill_queue(broker, direct, "reports", 9)
    fill_queue(broker, direct, "emails", 4)
    original = QueueProbe._purge_one

    def cut_then_purge(self, conn, name):
        # The connection goes as the purge is sent: on a channel that is
        # already open, inside queue_purge itself.
        open_channel = conn.channel

        def channel():
            opened = open_channel()
            purge = opened.queue_purge

            def queue_purge(queue, **kwargs):
                proxy.cut()
                return purge(queue, **kwargs)

            opened.queue_purge = queue_purge
            return opened

        conn.channel = channel
        return original(self, conn, name)

    monkeypatch.setattr(QueueProbe, "_purge_one", cut_then_purge)
    state = ClusterState()
    audit_path = tmp_path / "audit.jsonl"
    actions = Actions(target, state, AuditLog(audit_path, target.broker_url))
    outcome = actions.purge(["reports", "emails"])
    assert outcome.status == "unknown", outcome
    assert all(r.kind is ResultKind.UNKNOWN for r in outcome.results.values()), outcome.results
    assert "ok" not in outcome.summary.split(";")[0]
    audit = read_audit(audit_path)
    assert [r["phase"] for r in audit] == ["attempt", "outcome"]
    assert audit[1]["status"] == "unknown"
    assert state.actions[-1].status == "unknown"
    monkeypatch.undo()
    proxy.restore()
    # Nothing else was touched, and the broker still says what is there.
    assert broker_depth(broker, direct, "emails") == 4
    after = actions.purge(["reports"])
    assert after.status == "ok" and broker_depth(broker, direct, "reports") == 0
    assert broker_depth(broker, direct, "emails") == 4
