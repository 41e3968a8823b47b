"""End to end on a real broker: producer processes publish task events
through Celery's own EventDispatcher, paced or as fast as they can; the
console's Capture receives them and applies them to a ClusterState, as
`console` does.

`python -m benchmarks.e2e rabbitmq|redis [--producers N] [--seconds S]
[--batch N] [--rate R] [--producer template|dispatcher]` prints JSON:
events published, delivered to our consumer by the broker, applied by the
model, and the lag from the last publish to the last applied event.

Producers run at nice 19 (``--nice``): on the workers' own hosts they would
not take the console's CPU, and on these 2 cores, unniced, they take two
thirds of it, which measures the scheduler rather than the console.

Isolation: RabbitMQ gets its own vhost (deleted after); Redis carries events
by PUBLISH, which stores nothing, on channels named after a unique exchange
(and prefixed with the db number by kombu), so nothing is flushed; only our
own binding keys are deleted after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid as uuidlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from brokers import (REDIS_HOST, REDIS_PORT, BrokerEnv, rabbitmq_env,  # noqa: E402
                     require)

from console.core.capture import Capture  # noqa: E402
from console.core.connection import Target  # noqa: E402
from console.core.state import ClusterState  # noqa: E402

# Redis db for the benchmark. Nothing is stored in it but binding keys named
# after this run's exchange, so sharing it with a test run is harmless.
REDIS_DB = int(os.environ.get("CONSOLE_BENCH_REDIS_DB", "15"))
# After the last publish, how long to wait for the rest before calling it lost.
SETTLE_SECONDS = 30.0


def bench_app(url: str, exchange: str):
    """The companion app's settings on ``url``, with our own event exchange
    so no other consumer or producer on the broker meets these events."""
    from celery import Celery

    from console.companion import config

    app = Celery("console.companion", set_as_current=False)
    app.conf.update(config.build_config({}))
    app.conf.broker_url = url
    app.conf.event_exchange = exchange
    return app


# ---------------------------------------------------------------- producer
def produce(url: str, exchange: str, index: int, start_at: float, seconds: float,
            batch: int, nice: int, rate: float = 0.0, how: str = "template") -> dict:
    """Task lifecycles (received, started, succeeded) for ``seconds``, one
    message per event, or in lists of ``batch`` as a worker sends them; at
    most ``rate`` events/s when given (0: as fast as it can).

    ``how``: ``dispatcher`` calls ``EventDispatcher.send`` per event, as a
    worker does (about 14 µs of the producer's CPU an event); ``template``
    builds each event as a copy of one Celery's ``Event()`` made, with its
    own uuid (36 characters, as Celery's), Lamport clock and timestamp, and
    publishes the lists through the same dispatcher's ``_publish``. The
    broker and the consumer see the same messages either way; ``template``
    costs the producer about a quarter less CPU, which is the point: on
    these 2 cores the producers stand in for workers on other hosts and
    should take as little as they can of the console's CPU."""
    if how == "template" and batch > 1:
        return produce_templated(url, exchange, index, start_at, seconds, batch, nice, rate)
    os.nice(nice)
    app = bench_app(url, exchange)
    hostname = f"e2e-{index}-{uuidlib.uuid4().hex[:6]}@bench"
    published = 0
    with app.connection_for_write() as conn:
        dispatcher = app.events.Dispatcher(
            conn, hostname=hostname, enabled=True, buffer_while_offline=False,
            buffer_group=["task"] if batch > 1 else None, buffer_limit=max(batch, 1))
        send = dispatcher.send
        last = 0.0
        publish = dispatcher._publish

        def timed_publish(*args, **kwargs):
            # When the last message started out: Redis's PUBLISH returns
            # only after delivering it, possibly after we applied it.
            nonlocal last
            last = time.time()
            return publish(*args, **kwargs)

        dispatcher._publish = timed_publish
        time.sleep(max(0.0, start_at - time.time()))
        first = time.time()
        end = first + seconds
        n = 0
        while time.time() < end:
            task_id = f"{index}-{n}-{uuidlib.uuid4().hex[:12]}"
            send("task-received", uuid=task_id, name="console.companion.tasks.add",
                 args="(2, 3)", kwargs="{}", retries=0, eta=None, expires=None,
                 root_id=task_id, parent_id=None)
            send("task-started", uuid=task_id)
            send("task-succeeded", uuid=task_id, result="5", runtime=0.0004)
            published += 3
            n += 1
            if rate and n % 8 == 0:
                ahead = first + published / rate - time.time()
                if ahead > 0:
                    time.sleep(ahead)
        dispatcher.flush()
        dispatcher.close()
    return {"published": published, "first": first, "last": last}


def produce_templated(url: str, exchange: str, index: int, start_at: float,
                      seconds: float, batch: int, nice: int, rate: float) -> dict:
    os.nice(nice)
    app = bench_app(url, exchange)
    hostname = f"e2e-{index}-{uuidlib.uuid4().hex[:6]}@bench"
    published = 0
    with app.connection_for_write() as conn:
        dispatcher = app.events.Dispatcher(conn, hostname=hostname, enabled=True,
                                           buffer_while_offline=False)
        prepare = dispatcher._prepare_event
        received = prepare("task-received", {
            "uuid": "", "name": "console.companion.tasks.add", "args": "(2, 3)",
            "kwargs": "{}", "retries": 0, "eta": None, "expires": None, "root_id": "",
            "parent_id": None})
        started = prepare("task-started", {"uuid": ""})
        succeeded = prepare("task-succeeded", {"uuid": "", "result": "5", "runtime": 0.0004})
        forward = dispatcher.clock.forward
        publish, producer = dispatcher._publish, dispatcher.producer
        # Ids shaped as Celery's (a uuid4's 36 characters), unique across
        # producers and runs: a random uuid's first 24, then the counter.
        prefix = str(uuidlib.uuid4())[:24]
        time.sleep(max(0.0, start_at - time.time()))
        first = last = time.time()
        end = first + seconds
        n = 0
        events: list[dict] = []
        now = time.time
        while last < end:
            task_id = f"{prefix}{n:012x}"
            n += 1
            events.append(dict(received, uuid=task_id, root_id=task_id, clock=forward(),
                               timestamp=now()))
            events.append(dict(started, uuid=task_id, clock=forward(), timestamp=now()))
            events.append(dict(succeeded, uuid=task_id, clock=forward(), timestamp=now()))
            if len(events) >= batch:
                last = time.time()
                publish(events[:batch], producer, "task.multi")
                del events[:batch]
                published += batch
                if rate:
                    ahead = first + published / rate - time.time()
                    if ahead > 0:
                        time.sleep(ahead)
        if events:
            last = time.time()
            publish(events, producer, "task.multi")
            published += len(events)
        dispatcher.close()
    return {"published": published, "first": first, "last": last}


# ---------------------------------------------------------------- consumer
class CountingCapture(Capture):
    """The console's Capture, counting what the broker delivered to it
    before the model sees it, and when the model last applied something."""

    delivered = 0
    last_applied = 0.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ages: list[float] = []

    def _make_callback(self, receiver):
        decode = self.decoder.decode

        def counting(message):
            events = decode(message)
            self.delivered += len(events)
            return events

        self.decoder.decode = counting  # type: ignore[method-assign]
        apply = super()._make_callback(receiver)
        self.decoder.decode = decode  # type: ignore[method-assign]
        intake = self.intake

        def on_message(message):
            apply(message)
            self.last_applied = now = time.time()
            if intake.behind_at is not None and intake.behind is not None:
                # now minus the newest event's (localised) timestamp
                self.ages.append(now - (intake.behind_at - intake.behind))
        return on_message


class PeerConsumer(threading.Thread):
    """A plain ``celery.events.EventReceiver`` feeding celery's ``State``
    (``celery``) or Flower 2.2.0's ``EventsState`` (``flower``: called in the
    receiver's thread, without the hop to Tornado's IOLoop Flower makes, so
    this flatters Flower a little). Counted as the console is."""

    def __init__(self, app, model: str):
        super().__init__(name=f"e2e-{model}", daemon=True)
        self.app = app
        if model == "flower":
            from flower.events import EventsState

            self.model = EventsState(max_tasks_in_memory=100_000)
        else:
            from celery.events.state import State

            self.model = State(max_tasks_in_memory=100_000)
        self.delivered = 0
        self.last_applied = 0.0
        self.ages: list[float] = []
        self.ready = threading.Event()
        self.error: str | None = None
        self.receiver = None

    @property
    def applied(self) -> int:
        return self.delivered

    def run(self) -> None:
        event = self.model.event

        def on_event(body):
            event(body)
            self.delivered += 1
            self.last_applied = now = time.time()
            sent = body.get("timestamp")
            if isinstance(sent, float) and self.delivered % 24 == 0:
                self.ages.append(now - sent)

        try:
            with self.app.connection_for_read() as conn:
                receiver = self.receiver = self.app.events.Receiver(
                    conn, handlers={"*": on_event})
                ready = receiver.on_consume_ready

                def on_ready(*args, **kwargs):
                    ready(*args, **kwargs)
                    self.ready.set()

                receiver.on_consume_ready = on_ready
                receiver.capture(limit=None, timeout=None, wakeup=False)
        except Exception as exc:  # the peer lost its connection: counted as lost
            self.error = f"{type(exc).__name__}: {exc}"

    def stop(self) -> None:
        if self.receiver is not None:
            self.receiver.should_stop = True
        self.join(3)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def run(kind: str, producers: int, seconds: float, batch: int, nice: int,
        rate: float = 0.0, consumer: str = "console", how: str = "template") -> dict:
    """``rate``: events/s published in all (0: as fast as they can)."""
    exchange = f"celeryev.e2e.{uuidlib.uuid4().hex[:10]}"
    if kind == "rabbitmq":
        broker = rabbitmq_env()
    else:
        require("redis", REDIS_HOST, REDIS_PORT)
        broker = BrokerEnv("redis", f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}")
    app = bench_app(broker.url, exchange)
    state = ClusterState(max_tasks=100_000)
    capture: Any
    if consumer == "console":
        capture = CountingCapture(Target(app), state, enable_events=False)
        capture.start()
        connected = lambda: state.connection.state == "connected"  # noqa: E731
    else:
        capture = PeerConsumer(app, consumer)
        capture.start()
        connected = capture.ready.is_set
    children = []
    try:
        deadline = time.monotonic() + 20
        while not connected():  # queue bound: nothing missed
            if time.monotonic() > deadline:
                raise RuntimeError(f"{consumer} did not connect: {state.connection}")
            time.sleep(0.01)
        start_at = time.time() + 3.0  # every producer imported and connected
        cpu_start = time.process_time()  # this process: the consumer alone
        for index in range(producers):
            children.append(subprocess.Popen(
                [sys.executable, "-m", "benchmarks.e2e", "produce", broker.url, exchange,
                 str(index), repr(start_at), repr(seconds), str(batch), str(nice),
                 repr(rate / producers), how],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                cwd=Path(__file__).resolve().parents[1]))
        results = []
        for child in children:
            out, err = child.communicate(timeout=seconds + 120)
            if child.returncode != 0:
                raise RuntimeError(f"producer failed:\n{err[-2000:]}")
            results.append(json.loads(out.strip().splitlines()[-1]))
        published = sum(r["published"] for r in results)
        last_publish = max(r["last"] for r in results)
        first_publish = min(r["first"] for r in results)
        # Wait for the rest, until everything arrived or nothing has for a while.
        seen, quiet_since = -1, time.monotonic()
        settle = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < settle:
            applied = state.counters.events if consumer == "console" else capture.applied
            if applied >= published and capture.delivered >= published:
                break
            if applied != seen:
                seen, quiet_since = applied, time.monotonic()
            elif time.monotonic() - quiet_since > 5.0:
                break
            time.sleep(0.005)
        cpu = time.process_time() - cpu_start
        time.sleep(0.2)  # anything beyond what was published would show now
        with state.lock:
            applied, malformed = state.counters.events, state.counters.malformed
        if consumer != "console":
            applied, malformed = capture.applied, 0
        delivered = capture.delivered
        complete = applied >= published
    finally:
        capture.stop()
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
        cleanup(broker, kind, exchange)
    return {
        "broker": kind, "consumer": consumer, "rate": rate,
        "producers": producers, "batch": batch, "nice": nice, "producer": how,
        "published": published, "delivered": delivered, "applied": applied,
        "malformed": malformed,
        "dropped_by_us": delivered - applied - malformed,
        "lost_before_us": published - delivered,
        "publish_eps": published / max(1e-9, last_publish - first_publish),
        "apply_eps": applied / max(1e-9, capture.last_applied - first_publish),
        # None when not everything arrived: there is no "last" event to time.
        "lag_s": capture.last_applied - last_publish if complete else None,
        "age_p50_s": percentile(capture.ages, 0.5),
        "age_p95_s": percentile(capture.ages, 0.95),
        "age_max_s": max(capture.ages, default=None),
        # The consumer's CPU (this process; producers are other processes):
        # what it would sustain on a core of its own, whatever the load.
        "cpu_s": cpu,
        # Event connections dropped after events flowed (the header's count).
        "disconnects": state.intake.disconnects if consumer == "console" else None,
        "applied_per_cpu_s": applied / cpu if cpu > 0 else None,
    }


def cleanup(broker: BrokerEnv, kind: str, exchange: str) -> None:
    if kind == "redis":
        import redis

        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
        for key in client.scan_iter(match=f"*{exchange}*"):
            client.delete(key)
        # kombu lists expiring bindings by exchange in one shared sorted set.
        client.zrem("_kombu.binding_deadlines", exchange)
    broker.close()


def main() -> None:
    if sys.argv[1:2] == ["produce"]:
        url, exchange, index, start_at, seconds, batch, nice, rate, how = sys.argv[2:11]
        print(json.dumps(produce(url, exchange, int(index), float(start_at),
                                 float(seconds), int(batch), int(nice), float(rate), how)))
        return
    parser = argparse.ArgumentParser(prog="python -m benchmarks.e2e")
    parser.add_argument("broker", choices=("rabbitmq", "redis"))
    parser.add_argument("--producers", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="events/s published in all, paced (0: as fast as they can)")
    parser.add_argument("--consumer", choices=("console", "celery", "flower"),
                        default="console")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--producer", choices=("template", "dispatcher"), default="template",
                        help="how producers build events (see produce())")
    parser.add_argument("--batch", type=int, default=1,
                        help="events per message (a worker sends lists of up to 24)")
    parser.add_argument("--nice", type=int, default=19, help=(
        "producers' niceness. Producers run on the workers' hosts, not the "
        "console's; sharing 2 cores unniced they take two thirds of the CPU "
        "and measure the scheduler rather than the console (0 to see that)"))
    args = parser.parse_args()
    print(json.dumps(run(args.broker, args.producers, args.seconds, args.batch,
                         args.nice, args.rate, args.consumer, args.producer)))


if __name__ == "__main__":
    main()
