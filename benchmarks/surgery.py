"""Queue surgery on a real broker: a peek of 10,000 messages, and a
selective purge of 50,000 out of 100,000 interleaved Celery messages, with
the references measured in the same run: the whole-queue ``queue_purge`` of
the same 100,000 and ``celery.contrib.migrate.move`` of the 50,000 to a
queue that is then deleted (what one does without the console).

`python -m benchmarks.surgery rabbitmq|redis peek|remove|purge|migrate
[--profile FILE] [--timeout S]` prints JSON. Every case builds its own
queue and checks what is left on the broker afterwards with its own
reading (not the console's): a run that leaves anything but exactly the
``bench.keep`` messages fails instead of printing a time.

The messages are Celery's own: one ``bench.flood`` and one ``bench.keep``
are sent with ``app.send_task(..., queue=q)``, and the queue is filled with
copies of those bytes, each a distinct message (its own ``id``,
``correlation_id`` and, on Redis, ``delivery_tag``), ``bench.flood`` and
``bench.keep`` alternating from the head.

Isolation: RabbitMQ gets its own vhost (deleted after); on Redis (db 13,
``CONSOLE_BENCH_SURGERY_REDIS_DB``) every key is named after this run's
queue, and only those keys are deleted after, so sharing the db is harmless.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid as uuidlib
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from brokers import (REDIS_HOST, REDIS_PORT, BrokerEnv, companion_app,  # noqa: E402
                     rabbitmq_env, require)

from console.core.connection import Target  # noqa: E402
from console.core.messages import parse_match  # noqa: E402
from console.core.surgery import Surgeon  # noqa: E402

REDIS_DB = int(os.environ.get("CONSOLE_BENCH_SURGERY_REDIS_DB", "13"))
FLOOD, KEEP = "bench.flood", "bench.keep"
PEEKED = 10_000
TOTAL = 100_000  # half of them bench.flood
SEP = "\x06\x16"  # kombu's priority sub-list separator
SETTLE_SECONDS = 120.0  # a hang guard for "the broker reports N"


class Bench:
    """One queue of our own on one broker, its contents known."""

    def __init__(self, kind: str):
        self.kind = kind
        self.queue = f"bench.surgery.{uuidlib.uuid4().hex[:10]}"
        self.trash = self.queue + ".trash"
        if kind == "rabbitmq":
            self.broker = rabbitmq_env()
        else:
            require("redis", REDIS_HOST, REDIS_PORT)
            self.broker = BrokerEnv("redis", f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}")
        self.app = companion_app(self.broker)
        self.target = Target(self.app)
        self.order: list[str] = []  # ids, head first
        self.names: dict[str, str] = {}  # id -> task name

    # ------------------------------------------------------------ filling
    def fill(self, count: int) -> None:
        """``count`` distinct copies of two real Celery messages, alternating
        bench.flood, bench.keep from the head (the next a worker gets)."""
        self.app.send_task(FLOOD, args=(1,), kwargs={"pad": "x" * 64}, queue=self.queue)
        self.app.send_task(KEEP, args=(2,), kwargs={"pad": "x" * 64}, queue=self.queue)
        ids = [str(uuidlib.uuid4()) for _ in range(count)]
        self.order = ids
        self.names = {i: (FLOOD if n % 2 == 0 else KEEP) for n, i in enumerate(ids)}
        if self.kind == "redis":
            self._fill_redis(ids)
        else:
            self._fill_amqp(ids)
        self.wait_depth(count)

    def _client(self):
        import redis

        return redis.Redis.from_url(self.broker.url)

    def _fill_redis(self, ids: list[str]) -> None:
        client = self._client()
        templates = {}
        for raw in client.lrange(self.queue, 0, -1):  # the two originals
            envelope = json.loads(raw)
            templates[envelope["headers"]["task"]] = envelope
        assert set(templates) == {FLOOD, KEEP}, templates.keys()
        client.delete(self.queue)
        copies = []
        for task_id in ids:
            envelope = templates[self.names[task_id]]
            envelope["headers"]["id"] = envelope["headers"]["root_id"] = task_id
            envelope["properties"]["correlation_id"] = task_id
            envelope["properties"]["delivery_tag"] = str(uuidlib.uuid4())
            copies.append(json.dumps(envelope))
        # LPUSH: the first pushed ends up at the right end, the head.
        with client.pipeline(transaction=False) as pipe:
            for start in range(0, len(copies), 10_000):
                pipe.lpush(self.queue, *copies[start:start + 10_000])
            pipe.execute()

    def _fill_amqp(self, ids: list[str]) -> None:
        import amqp

        with self.app.connection_for_write() as conn:
            channel = conn.default_channel
            templates = {}
            for _ in range(2):  # the two originals, taken off the queue
                raw = channel.basic_get(self.queue, no_ack=True)
                assert raw is not None, "send_task's message did not arrive"
                templates[raw.properties["application_headers"]["task"]] = raw
            assert set(templates) == {FLOOD, KEEP}, templates.keys()
            for task_id in ids:
                raw = templates[self.names[task_id]]
                properties = dict(raw.properties)
                headers = dict(properties["application_headers"])
                headers["id"] = headers["root_id"] = task_id
                properties["application_headers"] = headers
                properties["correlation_id"] = task_id
                channel.basic_publish(amqp.Message(raw.body, **properties),
                                      exchange="", routing_key=self.queue)

    # ------------------------------------------------------------ reading
    def depth(self, queue: str | None = None) -> int:
        """What the broker itself counts (RabbitMQ: ready, not unacked)."""
        queue = queue or self.queue
        if self.kind == "redis":
            client = self._client()
            return sum(client.llen(k) for k in self._redis_keys(queue))
        with self.app.connection_for_read() as conn:
            return int(conn.default_channel.queue_declare(queue=queue, passive=True)[1])

    @staticmethod
    def _redis_keys(queue: str) -> list[str]:
        return [queue] + [f"{queue}{SEP}{p}" for p in (3, 6, 9)]

    def wait_depth(self, count: int, queue: str | None = None) -> float:
        started = time.perf_counter()
        while (depth := self.depth(queue)) != count:
            if time.perf_counter() - started > SETTLE_SECONDS:
                raise AssertionError(f"{queue or self.queue}: the broker holds "
                                     f"{depth:,}, not {count:,}")
            time.sleep(0.001)
        return time.perf_counter() - started

    def contents(self) -> list[tuple[str, str]]:
        """(id, task name) of every message, head first, read here. On
        RabbitMQ this consumes them: it is the last thing a case does."""
        out = []
        if self.kind == "redis":
            client = self._client()
            for key in self._redis_keys(self.queue):
                for raw in reversed(client.lrange(key, 0, -1)):
                    headers = json.loads(raw)["headers"]
                    out.append((headers["id"], headers["task"]))
            return out
        expected = self.depth()
        with self.app.connection_for_write() as conn:
            channel = conn.connection.channel()
            got: list = []
            channel.basic_qos(0, 1000, False)
            channel.basic_consume(self.queue, callback=got.append, no_ack=True)
            deadline = time.monotonic() + SETTLE_SECONDS
            while len(got) < expected and time.monotonic() < deadline:
                try:
                    conn.connection.drain_events(timeout=2)
                except TimeoutError:
                    break
            channel.close()
        for raw in got:
            headers = raw.properties["application_headers"]
            out.append((headers["id"], headers["task"]))
        return out

    def check(self, want: str | None) -> dict:
        """Exactly the messages that should be there: every one of them (all
        with ``want=None``, else only those of that task), none other, and
        whether they are in their original order."""
        expected = [i for i in self.order if want is None or self.names[i] == want]
        found = self.contents()
        ids = [i for i, _ in found]
        names = Counter(name for _, name in found)
        wrong = [(i, name) for i, name in found if self.names.get(i) != name]
        assert len(found) == len(expected) and set(ids) == set(expected) and not wrong, (
            f"{self.queue}: {len(found):,} left {dict(names)}, "
            f"{len(set(ids)):,} distinct, {len(set(ids) - set(expected)):,} unexpected, "
            f"{len(set(expected) - set(ids)):,} missing; expected {len(expected):,} {want}")
        return {"left": len(found), "by_name": dict(names), "in_order": ids == expected}

    # ------------------------------------------------------------ cleanup
    def close(self) -> None:
        try:
            if self.kind == "redis":
                client = self._client()
                for key in client.scan_iter(match=f"*{self.queue}*"):
                    client.delete(key)
                client.zrem("_kombu.binding_deadlines", self.queue, self.trash)
                # celery's move on Redis: what it held, keyed by delivery tag,
                # goes back on close; anything of ours left is removed.
                ours = [tag for tag, value in client.hscan_iter("unacked", count=1000)
                        if self.queue.encode() in value]
                if ours:
                    client.hdel("unacked", *ours)
                    client.zrem("unacked_index", *ours)
        finally:
            self.broker.close()


# ------------------------------------------------------------------ cases
def peek(bench: Bench) -> dict:
    bench.fill(PEEKED)
    surgeon = Surgeon(bench.target)
    started = time.perf_counter()
    result = surgeon.peek(bench.queue, window=PEEKED, held=False)
    seconds = time.perf_counter() - started
    groups = {g.name: g.count for g in result.groups}
    assert result.error is None and result.counted == PEEKED and result.exact, result
    assert groups == {FLOOD: PEEKED // 2, KEEP: PEEKED // 2}, groups
    # RabbitMQ: the peek hands the messages back by closing its channel;
    # until the broker counts them again no worker can have them.
    back = bench.wait_depth(PEEKED)
    left = bench.check(None)
    return {"seconds": seconds, "back_s": back, "counted": result.counted, **left}


def remove(bench: Bench, profile: str | None = None) -> dict:
    bench.fill(TOTAL)
    surgeon = Surgeon(bench.target)
    match = parse_match(f"task:{FLOOD}")
    profiler = None
    if profile:
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    result = surgeon.remove(bench.queue, match)
    call = time.perf_counter() - started
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    bench.wait_depth(TOTAL // 2)
    seconds = time.perf_counter() - started
    assert result.error is None and result.complete, result.as_dict()
    assert (result.examined, result.removed, result.kept, result.gone,
            result.duplicates) == (TOTAL, TOTAL // 2, TOTAL // 2, 0, 0), result.as_dict()
    left = bench.check(KEEP)
    return {"seconds": seconds, "call_s": call, "examined": result.examined,
            "removed": result.removed, **left}


def purge(bench: Bench) -> dict:
    """The whole queue: the broker's own floor for removing 100,000."""
    bench.fill(TOTAL)
    with bench.app.connection_for_write() as conn:
        channel = conn.channel()
        started = time.perf_counter()
        count = int(channel.queue_purge(bench.queue) or 0)
        bench.wait_depth(0)
        seconds = time.perf_counter() - started
        channel.close()
    assert count == TOTAL, count
    return {"seconds": seconds, "purged": count, "left": bench.depth()}


def migrate(bench: Bench, timeout: float = 1.0) -> dict:
    """Without the console: ``celery.contrib.migrate.move`` the matching
    messages to a queue of their own and delete it. It holds the rest
    unacknowledged until the connection closes, which gives them back, and
    it stops when nothing has arrived for ``timeout`` (its default, 1 s):
    that last idle wait is not counted. A run that stopped before it saw
    every message says so (``complete``) rather than time a partial job."""
    from celery.contrib.migrate import move
    from kombu import Exchange, Queue

    bench.fill(TOTAL)
    source = Queue(bench.queue, Exchange(bench.queue, type="direct"),
                   routing_key=bench.queue)
    trash = Queue(bench.trash, Exchange(bench.trash, type="direct"), routing_key=bench.trash)
    destination = (trash.exchange.name, trash.routing_key)
    seen = [0, 0.0]  # messages, when the last arrived

    def predicate(body, message):
        seen[0] += 1
        seen[1] = time.perf_counter()
        # (exchange, routing key), not the Queue: for a Queue, move() declares
        # it on the consuming channel for every message, and on RabbitMQ the
        # deliveries arriving during that round trip recurse until Python's
        # recursion limit.
        return destination if message.headers.get("task") == FLOOD else None

    started = time.perf_counter()
    with bench.app.connection_for_write() as conn:
        trash.declare(channel=conn.default_channel)
        # (The State it returns is not the one its callback counts in.)
        move(predicate, connection=conn, app=bench.app, source=[source], timeout=timeout)
        returned = time.perf_counter()
    moved = (seen[0] + 1) // 2  # alternating, flood first
    bench.wait_depth(TOTAL - moved)  # the rest, given back on close
    bench.wait_depth(moved, bench.trash)
    with bench.app.connection_for_write() as conn:
        conn.default_channel.queue_delete(bench.trash)
    idle = returned - seen[1]
    seconds = time.perf_counter() - started - idle
    out = {"seconds": seconds, "call_s": returned - started, "idle_s": idle,
           "timeout": timeout, "seen": seen[0], "moved": moved,
           "complete": seen[0] == TOTAL}
    if out["complete"]:
        out.update(bench.check(KEEP))
    return out


CASES = {"peek": peek, "remove": remove, "purge": purge, "migrate": migrate}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.surgery")
    parser.add_argument("broker", choices=("rabbitmq", "redis"))
    parser.add_argument("case", choices=tuple(CASES))
    parser.add_argument("--profile", help="remove: cProfile the Surgeon.remove call into FILE")
    parser.add_argument("--timeout", type=float, default=1.0,
                        help="migrate: move()'s idle timeout (celery's default: 1 s)")
    args = parser.parse_args()
    bench = Bench(args.broker)
    try:
        if args.case == "remove":
            out = remove(bench, args.profile)
        elif args.case == "migrate":
            out = migrate(bench, args.timeout)
        else:
            out = CASES[args.case](bench)
    finally:
        bench.close()
    print(json.dumps({"broker": args.broker, "case": args.case, **out}))


if __name__ == "__main__":
    main()
