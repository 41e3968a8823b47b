"""Queues as production runs them: RabbitMQ quorum queues and classic queues
with x-max-priority (depth, purge, peek, selective removal, move), and a
Redis app with a global_keyprefix. Real brokers, real messages."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from kombu import Exchange, Queue

from brokers import TOUCHED_QUEUES, companion_app, wait_until
from console.core.actions import Actions
from console.core.audit import AuditLog
from console.core.broker import QueueProbe
from console.core.connection import Target
from console.core.state import ClusterState
from console.core.surgery import Surgeon

pytestmark = pytest.mark.broker
TASKS = "console.companion.tasks."


def declared(app, queue: Queue) -> Queue:
    """The queue in the app's config (as a real app declares it) and on the broker."""
    TOUCHED_QUEUES.add(queue.name)
    app.conf.task_queues = (*app.conf.task_queues, queue)
    app.amqp.queues[queue.name] = queue
    with app.connection_for_write() as conn:
        queue(conn.default_channel).declare()
    return queue


def send(app, queue: Queue, count: int, name: str = "add", priority=None) -> None:
    with app.producer_or_acquire() as producer:
        for i in range(count):
            app.send_task(TASKS + name, (i, i), queue=queue, producer=producer,
                          priority=priority(i) if priority else None)


def depth(target: Target, name: str) -> int | None:
    return QueueProbe(target).probe([name])[name].messages


def actions_for(target: Target, tmp_path) -> Actions:
    return Actions(target, ClusterState(), AuditLog(tmp_path / "audit.jsonl", target.broker_url))


def queue_type(vhost: str, name: str) -> str:
    out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "type"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return dict(line.split("\t")[:2] for line in out.splitlines() if "\t" in line)[name]


def test_a_quorum_queue_of_10000_messages(rabbitmq_broker, tmp_path):
    app = companion_app(rabbitmq_broker)
    vhost = rabbitmq_broker.url.rsplit("/", 1)[1]
    name = f"qq-{uuid.uuid4().hex[:6]}"
    queue = declared(app, Queue(name, Exchange(name, type="direct"), routing_key=name,
                                durable=True, queue_arguments={"x-queue-type": "quorum"}))
    assert queue_type(vhost, name) == "quorum"
    send(app, queue, 9_990, "add")
    send(app, queue, 10, "send_email")
    target = Target(app)
    assert wait_until(lambda: depth(target, name) == 10_000, 60), depth(target, name)
    # Peek: every message counted, grouped by task, then all back in place.
    peek = Surgeon(target).peek(name, limit=20, window=10_000, held=False)
    assert peek.error is None and peek.depth == 10_000 and peek.counted == 10_000
    assert {g.name: g.count for g in peek.groups} == {TASKS + "add": 9_990,
                                                       TASKS + "send_email": 10}
    assert wait_until(lambda: depth(target, name) == 10_000, 30)
    # Queue surgery: the 10 emails moved to a new queue declared like the
    # source (a quorum queue too), the rest kept.
    actions = actions_for(target, tmp_path)
    dest = name + ".hold"
    TOUCHED_QUEUES.add(dest)
    moved = actions.move(name, dest, "name:send_email")
    assert moved.status.value == "ok", moved.summary
    assert queue_type(vhost, dest) == "quorum"
    assert wait_until(lambda: depth(target, dest) == 10 and depth(target, name) == 9_990, 30)
    removed = actions.purge_matching(name, "args:(1, 1)")
    assert removed.status.value == "ok", removed.summary
    assert wait_until(lambda: depth(target, name) == 9_989, 30)
    # And the whole purge, to 0, with the exact count.
    outcome = actions.purge([name, dest])
    assert outcome.status.value == "ok", outcome.summary
    assert outcome.results[name].count == 9_989 and outcome.results[dest].count == 10
    assert depth(target, name) == 0 and depth(target, dest) == 0


def test_a_classic_queue_with_x_max_priority(rabbitmq_broker, tmp_path):
    app = companion_app(rabbitmq_broker)
    name = f"prio-{uuid.uuid4().hex[:6]}"
    queue = declared(app, Queue(name, Exchange(name, type="direct"), routing_key=name,
                                queue_arguments={"x-max-priority": 9}))
    send(app, queue, 300, priority=lambda i: i % 10)
    target = Target(app)
    assert wait_until(lambda: depth(target, name) == 300, 30)
    peek = Surgeon(target).peek(name, limit=5, held=False)
    assert peek.counted == 300 and peek.exact
    # The broker hands out the highest priority first: a peek shows it so.
    assert [m.priority for m in peek.messages] == [9] * 5
    actions = actions_for(target, tmp_path)
    dest = name + ".low"
    TOUCHED_QUEUES.add(dest)
    assert actions.move(name, dest, "name:add").status.value == "ok"
    assert wait_until(lambda: depth(target, dest) == 300 and depth(target, name) == 0, 30)
    # Declared like the source: its priorities still order it.
    again = Surgeon(target).peek(dest, limit=40, held=False)
    assert [m.priority for m in again.messages][:30] == [9] * 30
    outcome = actions.purge([dest])
    assert outcome.status.value == "ok" and outcome.results[dest].count == 300
    assert depth(target, dest) == 0


def test_redis_global_keyprefix_depths_peek_and_purge(redis_broker, tmp_path):
    import redis

    prefix = f"tenant-{uuid.uuid4().hex[:4]}:"
    app = companion_app(redis_broker)
    app.conf.broker_transport_options = {"global_keyprefix": prefix}
    name = f"pfx-{uuid.uuid4().hex[:6]}"
    queue = declared(app, Queue(name, Exchange(name, type="direct"), routing_key=name))
    send(app, queue, 120, "add")
    send(app, queue, 30, "send_email")
    client = redis.Redis.from_url(redis_broker.url)
    assert client.llen(prefix + name) == 150 and client.llen(name) == 0
    target = Target(app)
    probe = QueueProbe(target)
    assert name in probe.broker_queues()
    assert probe.probe([name])[name].messages == 150
    peek = Surgeon(target).peek(name, held=False)
    assert peek.error is None and peek.counted == 150 and peek.exact
    assert {g.name: g.count for g in peek.groups} == {TASKS + "add": 120,
                                                       TASKS + "send_email": 30}
    actions = actions_for(target, tmp_path)
    assert actions.purge_matching(name, "name:send_email").status.value == "ok"
    assert client.llen(prefix + name) == 120 and depth(target, name) == 120
    outcome = actions.purge([name])
    assert outcome.status.value == "ok" and outcome.results[name].count == 120
    assert client.llen(prefix + name) == 0 and depth(target, name) == 0
    # Another app on the same db without the prefix sees none of it.
    other = companion_app(redis_broker)
    assert QueueProbe(Target(other)).probe([name])[name].exists is False
