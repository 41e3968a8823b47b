"""Queue surgery on the real brokers: the flood removed, everything else kept
byte for byte, moves that conserve every message — checked on the broker
with reads that do not use the console's code, and by a real worker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from brokers import (
    TOUCHED_QUEUES,
    broker_depth,
    companion_app,
    filesystem_env,
    running_worker,
    wait_until,
)
from console.core.actions import Actions, InvalidInput, ReadOnlyError
from console.core.audit import AuditLog
from console.core.connection import Target
from console.core.state import ClusterState
from console.core.surgery import Surgeon

pytestmark = pytest.mark.broker

T = "console.companion.tasks."
FLOOD = T + "render_report"
KEPT = {T + "add": 300, T + "crunch": 100, T + "flaky": 100}
SEP = "\x06\x16"


def publish(app, queue: str, flood: int, kept: dict[str, int], every: int = 101,
            priorities: bool = False) -> dict[str, str]:
    """Celery messages by the real send_task path: the flood with the kept
    ones spread through it (one every ``every``). Returns kept id -> name."""
    TOUCHED_QUEUES.update({queue, queue + ".quarantine"})
    plan = [name for name, n in kept.items() for _ in range(n)]
    ids: dict[str, str] = {}
    args = {T + "add": lambda i: (i, 1), T + "crunch": lambda i: (1,),
            T + "flaky": lambda i: (i, 0)}
    total = flood + len(plan)
    flooded = 0
    with app.producer_or_acquire() as producer:
        for i in range(total):
            k = i - flooded
            if k < len(plan) and (i % every == every - 1 or flooded >= flood):
                name = plan[k]
                result = app.send_task(name, args=args[name](k), queue=queue,
                                       producer=producer,
                                       priority=(k % 10) if priorities else None)
                ids[result.id] = name
            else:
                app.send_task(FLOOD, args=(flooded, 3), queue=queue, producer=producer)
                flooded += 1
    return ids


# ------------------------------------------------ independent broker reads
def redis_raw(broker, queue: str) -> dict[str, list[bytes]]:
    """Every element of the queue and its priority sub-lists, by key."""
    import redis

    client = redis.Redis.from_url(broker.url)
    keys = [queue] + [f"{queue}{SEP}{p}" for p in (3, 6, 9)]
    return {key: client.lrange(key, 0, -1) for key in keys}


def amqp_raw(broker, queue: str) -> list[tuple[bytes, dict]]:
    """Every message, in order, read with py-amqp and handed back by
    closing the channel (nothing acknowledged)."""
    import amqp
    from urllib.parse import urlparse

    url = urlparse(broker.url)
    conn = amqp.Connection(f"{url.hostname}:{url.port}", userid="guest",
                           password="guest", virtual_host=url.path[1:] or "/")
    conn.connect()
    try:
        channel = conn.channel()
        total = channel.queue_declare(queue, passive=True).message_count
        got: list = []
        channel.basic_qos(0, 0, False)
        channel.basic_consume(queue, callback=got.append, no_ack=False)
        while len(got) < total:
            conn.drain_events(timeout=10)
        channel.close()
        # py-amqp hands a body with a content encoding back as text.
        return [(m.body.encode(m.properties.get("content_encoding") or "utf-8")
                 if isinstance(m.body, str) else bytes(m.body), dict(m.properties))
                for m in got]
    finally:
        conn.close()


def messages(broker, queue: str) -> list[tuple[str, str, object]]:
    """(task id, task name, the exact stored form) in the order workers get
    them (Redis: each sub-list right to left, sub-lists in step order)."""
    out = []
    if broker.kind == "redis":
        for key, items in redis_raw(broker, queue).items():
            for raw in reversed(items):
                headers = json.loads(raw)["headers"]
                out.append((headers["id"], headers["task"], (key, raw)))
        return out
    for body, properties in amqp_raw(broker, queue):
        headers = properties["application_headers"]
        stored = (body, {k: v for k, v in properties.items()})
        out.append((headers["id"], headers["task"], stored))
    return out


def wait_depth(broker, app, queue, n, timeout=30):
    assert wait_until(lambda: broker_depth(broker, app, queue) == n, timeout), \
        f"{queue}: the broker holds {broker_depth(broker, app, queue)}, not {n}"


@pytest.fixture
def acts(real_broker, tmp_path):
    app = companion_app(real_broker)
    return Actions(Target(app), ClusterState(),
                   AuditLog(tmp_path / "audit.jsonl", real_broker.url)), app


# --------------------------------------------------------------------- flood
# 50,500 messages published, read back whole twice and moved on a real broker:
# about a minute alone, over the 180 s default on a loaded 2-core machine.
@pytest.mark.timeout(480)
def test_the_flood_goes_and_everything_else_stays_byte_for_byte(real_broker, acts,
                                                                tmp_path):
    actions, app = acts
    queue = "surgery-flood"
    kept_ids = publish(app, queue, 50_000, KEPT)
    wait_depth(real_broker, app, queue, 50_500, 90)
    before = messages(real_broker, queue)
    assert len(before) == 50_500

    # Peek groups exactly: the whole queue on Redis, its window on RabbitMQ.
    peek = Surgeon(actions.target).peek(queue, held=False)
    assert peek.error is None
    window = before if real_broker.kind == "redis" else before[:10_000]
    expected: dict[str, int] = {}
    for _, name, _ in window:
        expected[name] = expected.get(name, 0) + 1
    assert {g.name: g.count for g in peek.groups} == expected
    assert peek.counted == len(window) and peek.exact == (real_broker.kind == "redis")
    assert [m.id for m in peek.messages] == [i for i, _, _ in before[:1000]]
    # ... and on RabbitMQ the read left the count and the order as they were.
    after_peek = messages(real_broker, queue)
    assert [i for i, _, _ in after_peek] == [i for i, _, _ in before]

    outcome = actions.purge_matching(queue, f"task:{FLOOD}")
    assert outcome.status == "ok", outcome.summary
    result = outcome.results[queue]
    assert result.count == 50_000
    assert "50,000 removed, 500 kept" in result.text
    wait_depth(real_broker, app, queue, 500)
    survivors = messages(real_broker, queue)
    kept_before = [(i, n, stored) for i, n, stored in before if i in kept_ids]
    assert [i for i, _, _ in survivors] == [i for i, _, _ in kept_before]
    if real_broker.kind == "redis":
        # The very bytes, in the same sub-list.
        assert [s for _, _, s in survivors] == [s for _, _, s in kept_before]
    else:
        # Body, headers and every property (priority included) unchanged.
        assert [s for _, _, s in survivors] == [s for _, _, s in kept_before]
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [a["phase"] for a in audit] == ["attempt", "outcome"]
    assert audit[0]["action"] == "purge_matching" and audit[0]["arguments"]["match"] == \
        f"task:{FLOOD}"

    # Move all to quarantine and back in two steps: every message conserved.
    moved = actions.move(queue, queue + ".quarantine")
    assert moved.status == "ok", moved.summary
    wait_depth(real_broker, app, queue, 0)
    wait_depth(real_broker, app, queue + ".quarantine", 500)
    back = actions.move(queue + ".quarantine", queue, f"task:{T}add")
    assert back.status == "ok" and back.results[queue + ".quarantine"].count == 300
    rest = actions.move(queue + ".quarantine", queue)
    assert rest.results[queue + ".quarantine"].count == 200
    wait_depth(real_broker, app, queue, 500)
    wait_depth(real_broker, app, queue + ".quarantine", 0)
    home = messages(real_broker, queue)
    assert sorted(i for i, _, _ in home) == sorted(kept_ids)
    if real_broker.kind == "redis":
        assert sorted(s[1] for _, _, s in home) == sorted(s[1] for _, _, s in kept_before)
    else:
        assert sorted((s[0], json.dumps(s[1], sort_keys=True, default=str))
                      for _, _, s in home) == \
            sorted((s[0], json.dumps(s[1], sort_keys=True, default=str))
                   for _, _, s in kept_before)

    # A real worker then runs every one of the 500.
    with running_worker(real_broker, tmp_path, queues=queue, concurrency=2):
        assert wait_until(lambda: all(app.AsyncResult(i).state == "SUCCESS"
                                      for i in kept_ids), 90), \
            f"{sum(app.AsyncResult(i).state != 'SUCCESS' for i in kept_ids)} did not run"
    assert app.AsyncResult(next(i for i, n in kept_ids.items()
                                if n == T + "add")).get(timeout=5) >= 1


def test_redis_priority_sub_lists_keep_their_messages(redis_broker, tmp_path):
    app = companion_app(redis_broker)
    app.conf.task_queue_max_priority = 10
    actions = Actions(Target(app), ClusterState(),
                      AuditLog(tmp_path / "audit.jsonl", redis_broker.url))
    queue = "surgery-priority"
    kept_ids = publish(app, queue, 3_000, {T + "add": 200}, every=15, priorities=True)
    before = redis_raw(redis_broker, queue)
    assert sum(1 for items in before.values() if items) >= 3  # spread over sub-lists
    peek = Surgeon(actions.target).peek(queue, held=False)
    assert peek.exact and {g.name: g.count for g in peek.groups} == {FLOOD: 3_000,
                                                                       T + "add": 200}
    outcome = actions.purge_matching(queue, f"task:{FLOOD}")
    assert outcome.status == "ok", outcome.summary
    after = redis_raw(redis_broker, queue)
    for key, items in before.items():
        kept = [raw for raw in items if json.loads(raw)["headers"]["id"] in kept_ids]
        assert after[key] == kept, key


def test_filesystem_transport_too(tmp_path):
    broker = filesystem_env(tmp_path / "fs")
    app = companion_app(broker)
    actions = Actions(Target(app), ClusterState(),
                      AuditLog(tmp_path / "audit.jsonl", broker.url))
    queue = "default"
    kept_ids = publish(app, queue, 200, {T + "add": 20}, every=10)
    peek = Surgeon(actions.target).peek(queue, held=False)
    assert {g.name: g.count for g in peek.groups} == {FLOOD: 200, T + "add": 20}
    assert actions.purge_matching(queue, f"task:{FLOOD}").results[queue].count == 200
    assert actions.move(queue, "emails").results[queue].count == 20
    peek = Surgeon(actions.target).peek("emails", held=False)
    assert sorted(m.id for m in peek.messages) == sorted(kept_ids)


# ------------------------------------------------------------- the rules
def test_refusals_before_anything_is_sent(real_broker, acts, tmp_path):
    actions, app = acts
    queue = "surgery-rules"
    publish(app, queue, 20, {T + "add": 2}, every=5)
    with pytest.raises(InvalidInput, match="nothing to match"):
        actions.purge_matching(queue, "  ")
    with pytest.raises(InvalidInput, match="did you mean"):
        actions.purge_matching(queue, "nmae:x")
    with pytest.raises(InvalidInput, match="destination is the source"):
        actions.move(queue, queue)
    missing = actions.purge_matching("surgery-no-such-queue", "task:x")
    assert missing.status == "error" and "no such queue" in missing.summary
    read_only = Actions(actions.target, ClusterState(),
                        AuditLog(tmp_path / "ro.jsonl", real_broker.url), read_only=True)
    with pytest.raises(ReadOnlyError):
        read_only.purge_matching(queue, f"task:{FLOOD}")
    with pytest.raises(ReadOnlyError):
        read_only.move(queue, queue + ".quarantine")
    assert broker_depth(real_broker, app, queue) == 22
    refused = json.loads((tmp_path / "ro.jsonl").read_text().splitlines()[0])
    assert refused["phase"] == "refused"


def test_cli_peek_purge_match_and_move(real_broker, tmp_path):
    app = companion_app(real_broker)
    queue = "surgery-cli"
    kept_ids = publish(app, queue, 400, {T + "add": 40}, every=11)
    wait_depth(real_broker, app, queue, 440)
    base = [sys.executable, "-m", "console"]
    env = {**real_broker.env(), "CELERY_BROKER_URL": real_broker.url}
    audit = ["--audit-log", str(tmp_path / "audit.jsonl")]

    def run(*args):
        return subprocess.run([*base, *args], env=env, capture_output=True, text=True,
                              timeout=60)

    peek = run("peek", queue, "--json", "--limit", "5")
    assert peek.returncode == 0, peek.stderr
    report = json.loads(peek.stdout)
    assert {g["name"]: g["count"] for g in report["groups"]} == {FLOOD: 400, T + "add": 40}
    assert len(report["messages"]) == 5 and "guest:guest" not in peek.stdout
    refused = run("purge", queue, "--match", f"task:{FLOOD}")  # no terminal, no --yes
    assert refused.returncode == 1 and "Pass --yes" in refused.stderr
    assert broker_depth(real_broker, app, queue) == 440
    done = run("purge", queue, "--match", f"task:{FLOOD}", "--yes", *audit)
    assert done.returncode == 0, done.stderr
    assert "400 match" in done.stdout and "400 removed, 40 kept" in done.stdout
    wait_depth(real_broker, app, queue, 40)
    moved = run("move", queue, "--yes", *audit)
    assert moved.returncode == 0, moved.stderr
    assert f"40 moved to {queue}.quarantine" in moved.stdout
    wait_depth(real_broker, app, queue + ".quarantine", 40)
    back = run("move", queue + ".quarantine", "--yes", *audit)  # default: back home
    assert back.returncode == 0 and f"40 moved to {queue}," in back.stdout
    wait_depth(real_broker, app, queue, 40)
    assert sorted(i for i, _, _ in messages(real_broker, queue)) == sorted(kept_ids)
    unknown = run("purge", "surgery-nope", "--match", "task:x", "--yes")
    assert unknown.returncode == 1 and "no such queue" in unknown.stderr
    assert "Traceback" not in unknown.stderr
