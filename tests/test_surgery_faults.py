"""Queue surgery under faults, on RabbitMQ and Redis: the console SIGKILLed in
the middle of a selective purge and of a move, the same with a real worker
consuming the queue meanwhile, and the console's broker connection cut
mid-way (through a TCP proxy). Messages are real Celery messages sent by
``app.send_task``; the console is the real CLI in a subprocess; every effect
is read back on the broker itself, with plain redis-py (LRANGE of the queue
and its priority sub-lists in one MULTI) or py-amqp (consume without
acknowledging, then close the channel: everything goes back).

The guarantee (console/core/surgery.py): every message is always on the
broker. A crash may duplicate on RabbitMQ, never on Redis, and never loses
one. The duplicate bound asserted on RabbitMQ is ``surgery.BATCH``: a
duplicate is a copy confirmed or in flight whose original was still
unacknowledged when the console died, and the pass's consumer prefetch
(``basic_qos(0, BATCH)``) caps those originals at BATCH. When the console
lives to say so (a cut connection), the duplicates are also bounded by the
"up to N may be duplicated" it reports.

Each scenario kills (or cuts) once the operation is seen progressing on the
broker and checks afterwards that it really was mid-way; if the operation
finished first it is run again with twice as many messages rather than
passing on a finished operation.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest

import brokers
from brokers import broker_depth, companion_app, running_worker, wait_until
from console.core.surgery import BATCH, QUARANTINE
from proxy import TcpProxy

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parent.parent
TASKS = "console.companion.tasks."
SEP = "\x06\x16"  # kombu's Redis priority sub-list separator
PRIORITIES = (3, 6, 9)

KILL_QUEUE, WORKER_QUEUE, CUT_QUEUE = "faults-flood", "faults-worker", "faults-cut"
brokers.TOUCHED_QUEUES.update(q + s for q in (KILL_QUEUE, WORKER_QUEUE, CUT_QUEUE)
                              for s in ("", QUARANTINE))

KEEP_N = 300
# Messages of the flood on the first try, then twice as many each retry. On
# this machine a Redis pass takes ~130 ms per 2,000-message batch and a
# RabbitMQ pass 0.2 s (purge) to 3.5 s (move) for 8,000: wide enough to be
# caught between the first batch and the last.
FLOOD_SIZES = (8_000, 16_000, 32_000)

SUCCEEDED = re.compile(r"Task ([\w.]+)\[([0-9a-f-]{36})\] succeeded in")
DUPLICATES = re.compile(r"up to ([\d,]+) may be duplicated")


# ------------------------------------------------------------- publishing
@dataclass
class Sent:
    flood: list[str]
    keep: list[str]

    @property
    def total(self) -> int:
        return len(self.flood) + len(self.keep)


def publishing_app(broker):
    app = companion_app(broker)
    # The same messages, without one task-sent event each: halves the time
    # the real send_task path takes (~2,800 messages/s here instead of ~1,200).
    app.conf.task_send_sent_event = False
    return app


def publish(broker, app, queue: str, flood_n: int, flood_task: str, keep_task: str,
            flood_args=lambda i: (i,), keep_args=lambda i: (i,)) -> Sent:
    """``flood_n`` of ``flood_task`` with KEEP_N of ``keep_task`` spread
    evenly among them, by the real path, one producer."""
    brokers.TOUCHED_QUEUES.update({queue, queue + QUARANTINE})
    # Declared here, as send_task would: the producer's pooled connection
    # (kombu pools are per URL, shared by every app) remembers declaring it
    # before a flush deleted it, and would not again.
    with app.connection_for_write() as conn:
        app.amqp.queues[queue].bind(conn.default_channel).declare()
    every = flood_n // KEEP_N
    sent = Sent([], [])
    with app.producer_or_acquire() as producer:
        for i in range(flood_n):
            sent.flood.append(app.send_task(flood_task, args=flood_args(i), queue=queue,
                                            producer=producer).id)
            if i % every == every // 2 and len(sent.keep) < KEEP_N:
                sent.keep.append(app.send_task(keep_task, args=keep_args(i), queue=queue,
                                               producer=producer).id)
    assert len(sent.keep) == KEEP_N
    assert len(set(sent.flood) | set(sent.keep)) == sent.total
    assert wait_until(lambda: broker_depth(broker, app, queue) == sent.total, 60), \
        f"{queue}: the broker holds {broker_depth(broker, app, queue)}, not {sent.total}"
    return sent


# ------------------------------------------------------- reading the broker
@dataclass
class Tally:
    """Every message of some queues, read on the broker: task id -> copies,
    per place ("faults-flood", "faults-flood.quarantine", "unacked")."""

    where: dict[str, Counter] = field(default_factory=dict)
    foreign: list[bytes] = field(default_factory=list)  # not a Celery task message
    raw_keep: list[bytes] = field(default_factory=list)  # Redis: kept bytes, head first

    def add(self, place: str, task_id: str | None) -> None:
        self.where.setdefault(place, Counter())[task_id] += 1

    def at(self, place: str) -> Counter:
        return self.where.get(place, Counter())

    @property
    def copies(self) -> Counter:
        total: Counter = Counter()
        for counts in self.where.values():
            total.update(counts)
        return total


def redis_tally(broker, queues: list[str], keep: set[str] | None = None) -> Tally:
    """LRANGE of each queue and its priority sub-lists, plus the kombu
    ``unacked`` hash (messages a worker took and has not acknowledged: still
    on the broker), in one MULTI."""
    import redis

    client = redis.Redis.from_url(broker.url)
    keys = [(q, k) for q in queues for k in [q] + [f"{q}{SEP}{p}" for p in PRIORITIES]]
    with client.pipeline(transaction=True) as pipe:
        for _, key in keys:
            pipe.lrange(key, 0, -1)
        pipe.hvals("unacked")
        *lists, unacked = pipe.execute()
    tally = Tally()
    for (queue, _), items in zip(keys, lists, strict=True):
        for raw in reversed(items):  # the right end is the next a worker gets
            task_id = _redis_id(raw)
            if task_id is None:
                tally.foreign.append(raw)
            tally.add(queue, task_id)
            if keep is not None and task_id in keep:
                tally.raw_keep.append(raw)
    for value in unacked:
        envelope, _exchange, routing_key = json.loads(value)
        if routing_key in queues:
            tally.add("unacked", _redis_id(json.dumps(envelope)))
    return tally


def _redis_id(raw) -> str | None:
    try:
        return json.loads(raw)["headers"]["id"]
    except (ValueError, KeyError, TypeError):
        return None


def rabbit_state(broker, queues: list[str]) -> tuple[int, tuple]:
    """(consumers on the queues, their message counts), asked passively."""
    from kombu import Connection

    consumers, counts = 0, []
    with Connection(broker.url) as conn:
        for queue in queues:
            channel = conn.connection.channel()
            try:
                _, count, attached = channel.queue_declare(queue, passive=True)
            except conn.channel_errors:
                counts.append(None)  # no such queue (the error closed the channel)
                continue
            _close(channel)
            consumers += attached
            counts.append(count)
    return consumers, tuple(counts)


def rabbit_settled(broker, queues: list[str]) -> bool:
    """No consumer left on the queues and their counts still for a moment:
    a dead console's or worker's unacknowledged messages are all back."""
    seen: list[tuple] = []

    def still() -> bool:
        consumers, counts = rabbit_state(broker, queues)
        seen.append(counts)
        return consumers == 0 and len(seen) > 1 and seen[-1] == seen[-2]

    return wait_until(still, 30, interval=0.1)


def rabbit_tally(broker, queues: list[str]) -> Tally:
    """Every message of each queue, consumed without acknowledgement on a
    connection of our own (a basic.get each would be the same, only slower),
    then all handed back by closing the channel."""
    from kombu import Connection

    assert rabbit_settled(broker, queues), \
        f"the queues do not settle: {rabbit_state(broker, queues)}"
    tally = Tally()
    with Connection(broker.url) as conn:
        raw_conn = conn.connection
        for queue in queues:
            channel = raw_conn.channel()
            try:
                _, count, _ = channel.queue_declare(queue, passive=True)
            except conn.channel_errors:
                continue
            got: list = []
            try:
                channel.basic_qos(0, 0, False)
                channel.basic_consume(queue, callback=got.append, no_ack=False)
                deadline = time.monotonic() + 30
                while len(got) < count and time.monotonic() < deadline:
                    try:
                        raw_conn.drain_events(timeout=1)
                    except TimeoutError:
                        pass
                assert len(got) == count, f"{queue}: read {len(got)} of {count}"
                for message in got:
                    headers = message.properties.get("application_headers") or {}
                    task_id = headers.get("id")
                    if task_id is None:
                        tally.foreign.append(bytes(message.body))
                    tally.add(queue, task_id)
            finally:
                _close(channel)  # every message read goes back
    return tally


def _close(channel) -> None:
    try:
        channel.close()
    except Exception:
        pass


def tally(broker, queues: list[str], keep: set[str] | None = None) -> Tally:
    if broker.kind == "redis":
        return redis_tally(broker, queues, keep)
    return rabbit_tally(broker, queues)


# ------------------------------------------------------------- the console
def console(broker_url: str, operation: str, queue: str, match: str, tmp_path: Path):
    """The real CLI, in its own process; stdout and stderr to files."""
    args = (["purge", queue] if operation == "purge"
            else ["move", queue, queue + QUARANTINE])
    command = [sys.executable, "-m", "console", *args, "--match", match, "--yes",
               "-b", broker_url, "--audit-log", str(tmp_path / "audit.jsonl"),
               "--log-file", str(tmp_path / "console.log")]
    env = dict(os.environ, PYTHONUNBUFFERED="1", XDG_STATE_HOME=str(tmp_path / "state"))
    env.pop("CONSOLE_DEBUG", None)
    with open(tmp_path / "stdout.txt", "wb") as out, \
            open(tmp_path / "stderr.txt", "wb") as err:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err)


def audit_phases(tmp_path: Path) -> list[dict]:
    path = tmp_path / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def progressed(broker, app, operation: str, queue: str, flood_n: int):
    """A predicate: the operation has visibly done part of its work on the
    broker. Taken once the audit attempt is written, i.e. after the dry run
    (which on RabbitMQ holds up to 10,000 messages itself and gives them back).

    Redis: a move shows its first batch in the destination, a removal a drop
    of half a batch at once. RabbitMQ: a quarter of the flood in the
    destination, or the source down by the pass's prefetch (BATCH, taken at
    once) plus a quarter of the flood (acknowledged)."""
    start = broker_depth(broker, app, queue) or 0
    if operation == "move":
        need = 1 if broker.kind == "redis" else flood_n // 4
        return lambda: (broker_depth(broker, app, queue + QUARANTINE) or 0) >= need
    drop = BATCH // 2 if broker.kind == "redis" else BATCH + flood_n // 4
    return lambda: (broker_depth(broker, app, queue) or 0) <= start - drop


def interrupt(process, tmp_path: Path, watch, act) -> bool:
    """Once the operation has begun (its attempt audited) and the predicate
    ``watch()`` then returns says it progressed, ``act()`` — if the process
    is still running. Returns whether it acted on a live process."""
    def ended() -> bool:
        return process.poll() is not None

    wait_until(lambda: ended() or any(r["phase"] == "attempt" for r in audit_phases(tmp_path)),
               60, interval=0.01)
    if ended():
        return False
    predicate = watch()
    wait_until(lambda: ended() or predicate(), 60, interval=0.002)
    if ended():
        return False
    act()
    return True


def sigkill(process) -> bool:
    """SIGKILL it; True when it really died of it (it had not exited)."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait(30)
    return process.returncode == -signal.SIGKILL


# ---------------------------------------------------------------- checking
@dataclass
class Check:
    """What a tally says about one operation's messages."""

    flood_left: int  # flood ids still in the source
    flood_moved: int  # flood ids in the destination
    flood_gone: int  # flood ids nowhere on the broker (and not run)
    duplicates: int  # extra copies of any id, on the broker or run


def check(sent: Sent, found: Tally, operation: str, queue: str, kind: str,
          ran: Counter | None = None) -> Check:
    """The invariants every case shares, asserted here:

    - no message is invented, none is unreadable (no tombstone left behind);
    - every kept id is on the broker (or ran on the worker), never in the
      destination;
    - every flood id is in source or destination or ran (a move), or else
      removed (a purge, which never writes to the destination);
    - Redis: no id has two copies, counting runs;
    - RabbitMQ: a purge never duplicates a removed (flood) message; the
      duplicates' bound is the caller's to assert."""
    ran = ran or Counter()
    dest = queue + QUARANTINE
    copies = found.copies + ran
    assert not found.foreign, f"{len(found.foreign)} messages that are not tasks, " \
        f"e.g. {found.foreign[0][:80]!r}"
    known = set(sent.flood) | set(sent.keep)
    invented = set(copies) - known
    assert not invented, f"ids never sent: {sorted(invented, key=str)[:5]}"
    lost_keep = [i for i in sent.keep if not copies[i]]
    assert not lost_keep, f"{len(lost_keep)} of {KEEP_N} kept messages lost, " \
        f"e.g. {lost_keep[:3]}"
    keep_moved = [i for i in sent.keep if found.at(dest)[i]]
    assert not keep_moved, f"{len(keep_moved)} non-matching messages were moved"
    gone = [i for i in sent.flood if not copies[i]]
    if operation == "move":
        assert not gone, f"a move lost {len(gone)} of {len(sent.flood)} messages, " \
            f"e.g. {gone[:3]}"
    else:
        assert not found.at(dest), "a purge wrote to the destination queue"
        assert all(copies[i] <= 1 for i in sent.flood), "a purge duplicated a removed message"
    duplicates = sum(n - 1 for n in copies.values() if n > 1)
    if kind == "redis":
        assert duplicates == 0, f"Redis: {duplicates} duplicates, e.g. " \
            f"{[i for i, n in copies.items() if n > 1][:3]}"
    return Check(flood_left=sum(1 for i in sent.flood if found.at(queue)[i]),
                 flood_moved=sum(1 for i in sent.flood if found.at(dest)[i]),
                 flood_gone=len(gone), duplicates=duplicates)


def midway(result: Check, operation: str) -> bool:
    """The operation was stopped with part of its work done and part not."""
    if operation == "move":
        return result.flood_moved > 0 and result.flood_left > 0
    return result.flood_gone > 0 and result.flood_left > 0


@dataclass
class Attempt:
    """One run of a scenario: what was sent and what the broker then held."""

    flood_n: int
    run_dir: Path
    midway: bool = False
    why: str = ""  # why it was not mid-way
    sent: Sent | None = None
    before: Tally | None = None  # the source before the operation
    found: Tally | None = None  # source and destination after it
    result: Check | None = None
    returncode: int | None = None
    ran: Counter = field(default_factory=Counter)
    during: int = 0  # tasks the worker finished while the console operated


def until_midway(tmp_path: Path, operation: str, once) -> Attempt:
    """``once(flood_n, run_dir)`` with more messages each time, until one
    run was really interrupted mid-way; never a pass on a finished one."""
    for tries, flood_n in enumerate(FLOOD_SIZES):
        run_dir = tmp_path / f"try{tries}"
        run_dir.mkdir()
        attempt = once(flood_n, run_dir)
        if attempt.midway:
            return attempt
        print(f"with {flood_n:,} messages: {attempt.why}; again with more")
    pytest.fail(f"the {operation} was never interrupted mid-way, even with "
                f"{FLOOD_SIZES[-1]:,} messages: {attempt.why}")


def not_midway(result: Check) -> str:
    return f"not mid-way: {result}"


def url_through(broker, port: int) -> str:
    real = 5672 if broker.kind == "rabbitmq" else 6379
    assert f":{real}/" in broker.url
    return broker.url.replace(f":{real}/", f":{port}/")


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("operation", ["purge", "move"])
def test_console_sigkilled_mid_operation_loses_nothing(real_broker, tmp_path, operation):
    """SIGKILL in the middle of `purge --match` / `move --match`: every kept
    message still in the source (on Redis with the same bytes in the same
    order), every flood message removed or still in source/destination —
    never lost by a move; duplicates 0 on Redis, at most BATCH on RabbitMQ.
    The audit log holds the attempt and no outcome."""
    broker = real_broker
    app = publishing_app(broker)
    queue, dest = KILL_QUEUE, KILL_QUEUE + QUARANTINE

    def once(flood_n: int, run_dir: Path) -> Attempt:
        attempt = Attempt(flood_n, run_dir)
        broker.flush()
        sent = attempt.sent = publish(broker, app, queue, flood_n, "flood.task", "keep.task")
        attempt.before = tally(broker, [queue], set(sent.keep))
        process = console(broker.url, operation, queue, "task:flood.task", run_dir)
        watch = partial(progressed, broker, app, operation, queue, flood_n)
        if not interrupt(process, run_dir, watch, lambda: None):
            process.wait(60)
            attempt.why = "it finished before it progressed visibly"
            return attempt
        killed = sigkill(process)
        found = attempt.found = tally(broker, [queue, dest], set(sent.keep))
        result = attempt.result = check(sent, found, operation, queue, broker.kind)
        attempt.midway = killed and midway(result, operation)
        attempt.why = f"killed={killed}, {not_midway(result)}"
        return attempt

    attempt = until_midway(tmp_path, operation, once)
    result = attempt.result
    if broker.kind == "redis":
        # Messages that do not match are never touched: same bytes, same order.
        assert attempt.found.raw_keep == attempt.before.raw_keep
    else:
        assert result.duplicates <= BATCH, \
            f"{result.duplicates} duplicates: more than the pass's prefetch ({BATCH})"
    phases = [r["phase"] for r in audit_phases(attempt.run_dir)]
    assert phases == ["attempt"], phases  # on disk before it acted; no outcome
    print(f"{broker.kind} {operation}: {attempt.flood_n:,}+{KEEP_N} sent, killed with "
          f"{result.flood_left:,} left, {result.flood_moved:,} moved, "
          f"{result.flood_gone:,} removed, {result.duplicates} duplicates")


@pytest.mark.parametrize("operation", ["purge", "move"])
def test_sigkilled_while_a_worker_consumes(real_broker, tmp_path, operation):
    """The same with a real companion worker consuming the source during the
    operation. Flood: console.companion.tasks.add; kept: ...crunch (both
    registered, so the worker really runs them). Afterwards the worker stops
    consuming and finishes what it holds before it is stopped, and every
    kept id either ran on it (its log) or is on the broker
    (Redis: also kombu's unacked hash); a moved flood id likewise. Redis: no
    id ran twice or ran and is still queued; RabbitMQ: duplicates (copies on
    the broker plus runs, beyond one) at most BATCH."""
    broker = real_broker
    # The worker's results in this test's folder, not the shared default.
    os.environ["CELERY_RESULT_BACKEND"] = f"file://{tmp_path}/results"
    app = publishing_app(broker)
    queue, dest = WORKER_QUEUE, WORKER_QUEUE + QUARANTINE
    flood_task, keep_task = TASKS + "add", TASKS + "crunch"

    def once(flood_n: int, run_dir: Path) -> Attempt:
        attempt = Attempt(flood_n, run_dir)
        log_dir = run_dir / "worker"
        log_dir.mkdir()
        broker.flush()
        sent = attempt.sent = publish(broker, app, queue, flood_n, flood_task, keep_task,
                                      flood_args=lambda i: (i, 1),
                                      keep_args=lambda i: (1,))
        with running_worker(broker, log_dir, queues=queue, name="wf") as hostname:
            log_path = next(log_dir.glob("*.log"))

            def succeeded() -> Counter:
                return Counter(task_id for _, task_id in
                               SUCCEEDED.findall(log_path.read_text(errors="replace")))

            assert wait_until(lambda: len(succeeded()) > 0, 30), "the worker runs nothing"
            process = console(broker.url, operation, queue, f"task:{flood_task}", run_dir)
            at_start: list[int] = []

            def watch():
                at_start.append(len(succeeded()))
                return progressed(broker, app, operation, queue, flood_n)

            acted = interrupt(process, run_dir, watch, lambda: None)
            killed = acted and sigkill(process)
            if at_start:
                attempt.during = len(succeeded()) - at_start[0]
            # The worker stops taking messages and finishes what it took, so
            # stopping it then cuts no task short (a task killed as it runs is
            # acknowledged and not run: Celery's, not the console's, loss).
            app.control.cancel_consumer(queue, destination=[hostname], reply=True,
                                        timeout=5)
            assert wait_until(lambda: worker_idle(app, hostname), 30), \
                "the worker did not finish the tasks it holds"
        if not acted:
            process.wait(60)
            attempt.why = "it finished before it progressed visibly"
            return attempt
        assert "unregistered task" not in log_path.read_text(errors="replace").lower()
        ran = attempt.ran = succeeded()
        found = attempt.found = tally(broker, [queue, dest])
        result = attempt.result = check(sent, found, operation, queue, broker.kind, ran=ran)
        attempt.midway = killed and midway(result, operation)
        attempt.why = f"killed={killed}, {not_midway(result)}"
        return attempt

    attempt = until_midway(tmp_path, operation, once)
    result, ran = attempt.result, attempt.ran
    assert attempt.during > 0, "the worker ran nothing while the console operated"
    if broker.kind == "rabbitmq":
        assert result.duplicates <= BATCH, \
            f"{result.duplicates} duplicates: more than the pass's prefetch ({BATCH})"
    ran_keep = sum(1 for i in attempt.sent.keep if ran[i])
    print(f"{broker.kind} {operation} + worker: {attempt.flood_n:,}+{KEEP_N} sent, worker "
          f"ran {sum(ran.values()):,} ({attempt.during:,} during the operation, "
          f"{ran_keep} kept ones); {result.flood_left:,} left, {result.flood_moved:,} "
          f"moved, {result.flood_gone:,} removed, {result.duplicates} duplicates")


def worker_idle(app, hostname: str) -> bool:
    """The worker runs nothing and holds nothing (reserved or prefetched)."""
    inspect = app.control.inspect(destination=[hostname], timeout=2)
    active, reserved = inspect.active() or {}, inspect.reserved() or {}
    return hostname in active and hostname in reserved \
        and not active[hostname] and not reserved[hostname]


@pytest.mark.parametrize("operation", ["purge", "move"])
def test_connection_cut_mid_operation(real_broker, tmp_path, operation):
    """The console's connection (through a TcpProxy) cut mid-way: it exits
    1 with a one-line `console:` error and no traceback, audits a non-ok
    outcome, and the broker holds every kept message (every moved one too);
    RabbitMQ duplicates are at most what it reported (and BATCH), Redis none."""
    broker = real_broker
    app = publishing_app(broker)
    queue, dest = CUT_QUEUE, CUT_QUEUE + QUARANTINE
    port = 5672 if broker.kind == "rabbitmq" else 6379

    def once(flood_n: int, run_dir: Path) -> Attempt:
        attempt = Attempt(flood_n, run_dir)
        broker.flush()
        sent = attempt.sent = publish(broker, app, queue, flood_n, "flood.task", "keep.task")
        proxy = TcpProxy(port).start()
        try:
            process = console(url_through(broker, proxy.port), operation, queue,
                              "task:flood.task", run_dir)
            watch = partial(progressed, broker, app, operation, queue, flood_n)
            acted = interrupt(process, run_dir, watch, proxy.cut)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                pytest.fail("the console did not exit within 60 s of the cut")
        finally:
            proxy.close()
        attempt.returncode = process.returncode
        if not acted:
            attempt.why = "it finished before it progressed visibly"
            return attempt
        found = attempt.found = tally(broker, [queue, dest])
        result = attempt.result = check(sent, found, operation, queue, broker.kind)
        attempt.midway = midway(result, operation)
        attempt.why = not_midway(result)
        return attempt

    attempt = until_midway(tmp_path, operation, once)
    result, run_dir = attempt.result, attempt.run_dir
    stdout = (run_dir / "stdout.txt").read_text(errors="replace")
    stderr = (run_dir / "stderr.txt").read_text(errors="replace")
    assert attempt.returncode == 1, (attempt.returncode, stdout, stderr)
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("console: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], stderr
    outcomes = [r for r in audit_phases(run_dir) if r["phase"] == "outcome"]
    assert len(outcomes) == 1 and outcomes[0]["status"] != "ok", outcomes
    reported = [int(n.replace(",", "")) for n in DUPLICATES.findall(stdout + stderr)]
    if broker.kind == "rabbitmq":
        bound = max(reported, default=0)
        assert result.duplicates <= min(bound, BATCH), \
            f"{result.duplicates} duplicates, the console reported up to {bound}: {stderr}"
    else:
        assert not reported, stderr
    print(f"{broker.kind} {operation} cut: {attempt.flood_n:,}+{KEEP_N} sent; "
          f"{result.flood_left:,} left, {result.flood_moved:,} moved, "
          f"{result.flood_gone:,} removed, {result.duplicates} duplicates "
          f"(reported {max(reported, default=0)}); stderr: {errors[0]}")
