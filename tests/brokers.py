"""Real brokers and real workers for integration tests.

RabbitMQ and Redis are the machine's services (see .ci/run); each test
session gets its own RabbitMQ vhost and Redis db, each test its own worker
hostnames. Outside CI a missing broker skips with how to start it; under
CI=true it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
RABBIT_HOST, RABBIT_PORT = "127.0.0.1", 5672
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# One db per test run, 1-15 (0 is everyone's default): two runs at once
# rarely meet, and a run only ever flushes its own db.
REDIS_TEST_DB = int(os.environ.get("CONSOLE_TEST_REDIS_DB") or 1 + os.getpid() % 15)

START_HINTS = {
    "rabbitmq": "start it with `rabbitmq-server -detached && rabbitmqctl await_startup`",
    "redis": "start it with `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ''`",
}


def wait_until(predicate, timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until true or ``timeout``: a hang guard, not a
    speed target."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


async def pilot_until(pilot, predicate, timeout: float) -> bool:
    """``wait_until`` for a Pilot test: the app keeps running meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await pilot.pause(0.2)
    return predicate()


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(kind: str, host: str, port: int) -> None:
    if port_open(host, port):
        return
    message = f"{kind} is not reachable at {host}:{port}: {START_HINTS[kind]}"
    if IN_CI:
        pytest.fail(message + " (CI=true: broker tests never skip)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BrokerEnv:
    """Where one kind of broker is, as the environment a worker needs."""

    def __init__(self, kind: str, url: str, extra_env: dict | None = None,
                 cleanup=None, flush=None):
        self.kind = kind
        self.url = url
        self.extra_env = extra_env or {}
        self._cleanup = cleanup
        self._flush = flush

    def env(self) -> dict:
        env = dict(os.environ)
        env["CELERY_BROKER_URL"] = self.url
        env.update(self.extra_env)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def flush(self) -> None:
        if self._flush:
            self._flush()

    def close(self) -> None:
        if self._cleanup:
            self._cleanup()

    def __repr__(self) -> str:
        return f"BrokerEnv({self.kind})"


def rabbitmq_env() -> BrokerEnv:
    require("rabbitmq", RABBIT_HOST, RABBIT_PORT)
    vhost = f"console-test-{uuid.uuid4().hex[:8]}"
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    url = f"amqp://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/{vhost}"

    def flush():
        # No listing without the management plugin: delete every queue the
        # companion declares and every one a test filled.
        from kombu import Connection

        from console.companion.config import ALL_QUEUES

        with Connection(url) as conn:
            for name in set(ALL_QUEUES) | TOUCHED_QUEUES:
                channel = conn.channel()
                try:
                    channel.queue_delete(name)
                except conn.channel_errors:
                    pass
                finally:
                    try:
                        channel.close()
                    except Exception:
                        pass

    return BrokerEnv("rabbitmq", url, flush=flush,
                     cleanup=lambda: _rabbitmqctl("delete_vhost", vhost))


def _rabbitmqctl(*args: str) -> None:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed, so no test vhost can be made")
    subprocess.run(["rabbitmqctl", "-q", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)


def redis_env() -> BrokerEnv:
    require("redis", REDIS_HOST, REDIS_PORT)
    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_TEST_DB}"

    def flush():
        import redis

        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_TEST_DB).flushdb()

    flush()
    return BrokerEnv("redis", url, cleanup=flush, flush=flush)


def filesystem_env(root: Path) -> BrokerEnv:
    from kombu.transport import filesystem

    from console.companion.config import ensure_filesystem_folders

    # kombu keeps virtual-transport bindings in one process-wide state: a
    # new root in the same process must not inherit the last one's.
    filesystem.Transport.global_state.clear()
    ensure_filesystem_folders(root)
    return BrokerEnv("filesystem", "filesystem://", extra_env={
        "CONSOLE_FS_ROOT": str(root),
        "CELERY_RESULT_BACKEND": f"file://{root}/results",
    })


def companion_app(broker: BrokerEnv):
    """A fresh app with the companion's settings, pointed at ``broker``.

    Fresh per broker: Celery caches producer pools on the app, so one app
    object cannot be moved between brokers. Tasks are sent by name.
    """
    from celery import Celery

    from console.companion import config

    # Celery's Settings read CELERY_BROKER_URL before broker_url.
    os.environ["CELERY_BROKER_URL"] = broker.url
    app = Celery("console.companion", set_as_current=False)
    app.conf.update(config.build_config(broker.env()))
    app.conf.broker_url = broker.url
    return app


@contextmanager
def running_worker(broker: BrokerEnv, log_dir: Path, queues: str = "default,emails",
                   name: str = "w", concurrency: int = 1, pool: str = "prefork",
                   extra_args: tuple[str, ...] = ()):
    """A real `celery worker` of the companion app; yields its hostname."""
    hostname = f"{name}-{uuid.uuid4().hex[:6]}@test"
    # The hostname may hold anything a test needs ("w[/b]"): not the file name.
    log_path = log_dir / (re.sub(r"[^\w.-]", "_", hostname.split("@")[0]) + ".log")
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "console.companion", "worker",
             "-P", pool, "-c", str(concurrency), "-Q", queues,
             "--hostname", hostname, "-l", "INFO", "--without-mingle",
             "--without-gossip", *extra_args],
            env=broker.env(), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_worker(broker, hostname, process, log_path)
        yield hostname
    finally:
        stop_process_group(process)


@contextmanager
def running_beat(broker: BrokerEnv, log_dir: Path):
    """A real `celery beat` of the companion app (its fast schedule,
    config.BEAT_SCHEDULE); yields the process, stopped on exit."""
    log_path = log_dir / f"beat-{uuid.uuid4().hex[:6]}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "console.companion", "beat",
             "-s", str(log_dir / f"{log_path.stem}-schedule"), "--pidfile=", "-l", "INFO"],
            env=broker.env(), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        if not wait_until(lambda: process.poll() is not None
                          or "beat: Starting" in log_path.read_text(errors="replace"), 45):
            raise AssertionError("beat did not start in 45 s:\n"
                                 + log_path.read_text(errors="replace")[-3000:])
        if process.poll() is not None:
            raise AssertionError(f"beat exited with {process.returncode}:\n"
                                 + log_path.read_text(errors="replace")[-3000:])
        yield process
    finally:
        stop_process_group(process)


def wait_for_worker(broker: BrokerEnv, hostname: str, process, log_path: Path,
                    timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"worker {hostname} exited with {process.returncode}:\n"
                + log_path.read_text(errors="replace")[-3000:])
        if "ready." in log_path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise AssertionError(f"worker {hostname} not ready in {timeout} s:\n"
                         + log_path.read_text(errors="replace")[-3000:])


def stop_process_group(process, grace: float = 3.0) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGQUIT)
        except ProcessLookupError:
            pass
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        pass


# ----------------------------------------------------------------- queues
TOUCHED_QUEUES: set[str] = set()


def fill_queue(broker: BrokerEnv, app, name: str, count: int, priority: int = 0) -> None:
    """Put ``count`` real kombu messages on ``name``, fast."""
    from kombu import Exchange, Queue

    TOUCHED_QUEUES.add(name)
    before = broker_depth(broker, app, name) or 0
    queue = Queue(name, Exchange(name, type="direct"), routing_key=name)
    with app.connection_for_write() as conn:
        producer = conn.Producer(serializer="json")
        first = min(count, 1 if broker.kind == "redis" else count)
        for i in range(first):
            producer.publish({"n": i, "pad": "x" * 64}, exchange=queue.exchange,
                             routing_key=name, declare=[queue], priority=priority)
        if broker.kind == "redis" and count > 1:
            # kombu's Redis publish makes a new client per command (~1k/s):
            # copy the real message body with one pipelined LPUSH instead.
            channel = conn.default_channel
            key = channel._q_for_pri(name, priority)
            client = channel.client
            body = client.lrange(key, 0, 0)[0]
            with client.pipeline(transaction=False) as pipe:
                for start in range(0, count - 1, 10_000):
                    pipe.lpush(key, *([body] * min(10_000, count - 1 - start)))
                pipe.execute()
    # AMQP publishes without confirms are still in flight when publish()
    # returns: the queue is filled when the broker itself counts them.
    assert wait_until(lambda: broker_depth(broker, app, name) == before + count, 60), \
        f"{name}: the broker holds {broker_depth(broker, app, name)}, not {before + count}"


def broker_depth(broker: BrokerEnv, app, name: str) -> int | None:
    """What the broker itself says, asked without the console's code."""
    with app.connection_for_read() as conn:
        if broker.kind == "rabbitmq":
            try:
                return conn.default_channel.queue_declare(queue=name, passive=True)[1]
            except conn.channel_errors:
                return None
        if broker.kind == "redis":
            import redis

            client = redis.Redis.from_url(broker.url)
            sep = "\x06\x16"
            return sum(client.llen(k) for k in [name] + [f"{name}{sep}{p}" for p in (3, 6, 9)])
        folder = Path(broker.extra_env["CONSOLE_FS_ROOT"]) / "queue"
        return sum(1 for f in os.listdir(folder) if f.endswith(f".{name}.msg"))
