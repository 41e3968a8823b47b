"""Tests for console.companion, the demo cluster the console is pointed at.

Everything except the test marked ``broker`` runs without a broker server;
the subprocess tests use kombu's filesystem transport under tmp_path.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from celery import Celery

from console.companion import app, config, load, tasks

T = "console.companion.tasks."


def fs_env(tmp_path: Path) -> dict:
    return {
        **os.environ,
        "CONSOLE_FS_ROOT": str(tmp_path / "fs"),
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_RESULT_BACKEND": f"file://{tmp_path / 'results'}",
    }


# -- app and configuration -------------------------------------------------

def test_package_exports_a_celery_app():
    assert isinstance(app, Celery)
    assert app.main == "console.companion"


def test_all_tasks_are_registered_under_short_names():
    names = {name for name in app.tasks if name.startswith(T)}
    assert names == {T + n for n in (
        "add", "send_email", "render_report", "flaky", "throttled", "slow",
        "long_running", "crunch", "always_fails", "total", "fan_out", "beat_ping",
        "beat_rollup", "beat_digest")}


def test_beat_schedule_is_fast_harmless_and_one_task_name_per_entry():
    from celery.schedules import crontab

    from console.companion import tasks

    schedule = config.build_config({})["beat_schedule"]
    assert schedule["ping-every-2s"]["schedule"] == 2.0
    assert schedule["rollup-every-5s"]["schedule"] == 5.0
    assert isinstance(schedule["digest-every-minute"]["schedule"], crontab)
    names = [entry["task"] for entry in schedule.values()]
    assert len(set(names)) == len(names) and all(n in app.tasks for n in names)
    assert schedule is not config.build_config({})["beat_schedule"]  # a copy per app
    assert tasks.beat_ping() == "pong" and tasks.beat_rollup(5) == {"rolled_up": 10}
    assert tasks.beat_digest() == {"digest": "sent"} and tasks.total([1, 2, 3]) == 6


def test_queues_are_declared_with_matching_direct_exchanges():
    queues = app.conf.task_queues
    assert [q.name for q in queues] == [
        "default", "emails", "reports", "slow", "backlog"]
    for queue in queues:
        assert queue.exchange.name == queue.name
        assert queue.exchange.type == "direct"
        assert queue.routing_key == queue.name
    assert app.conf.task_default_queue == "default"


def test_backlog_is_declared_but_not_a_worker_queue():
    assert config.BACKLOG_QUEUE in config.ALL_QUEUES
    assert config.BACKLOG_QUEUE not in config.WORKER_QUEUES


@pytest.mark.parametrize("task, queue", [
    ("add", "default"),
    ("crunch", "default"),
    ("flaky", "default"),
    ("throttled", "default"),
    ("always_fails", "default"),
    ("send_email", "emails"),
    ("render_report", "reports"),
    ("slow", "slow"),
    ("long_running", "slow"),
])
def test_routes_send_tasks_to_their_queue(task, queue):
    route = app.amqp.router.route({}, T + task)
    assert route["queue"].name == queue


def test_events_and_worker_settings():
    conf = app.conf
    assert conf.worker_send_task_events is True
    assert conf.task_send_sent_event is True
    assert conf.task_track_started is True
    assert conf.task_acks_late is False
    assert conf.worker_prefetch_multiplier == 1
    assert conf.worker_concurrency == 2
    assert conf.worker_pool_restarts is True
    assert conf.broker_connection_retry_on_startup is True


def test_filesystem_transport_options(tmp_path):
    options = config.filesystem_transport_options(tmp_path)
    assert options == {
        "data_folder_in": str(tmp_path / "queue"),
        "data_folder_out": str(tmp_path / "queue"),
        "control_folder": str(tmp_path / "control"),
        "processed_folder": str(tmp_path / "processed"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
    assert not (tmp_path / "queue").exists()  # building options is pure


def test_ensure_filesystem_folders_creates_them(tmp_path):
    root = tmp_path / "a" / "b"
    options = config.ensure_filesystem_folders(root)
    assert options == config.filesystem_transport_options(root)
    for name in ("queue", "control", "processed"):
        assert (root / name).is_dir()
    config.ensure_filesystem_folders(root)  # idempotent


def test_transport_options_follow_console_fs_root(tmp_path):
    assert config.broker_transport_options({}) == {}
    options = config.broker_transport_options(
        {"CONSOLE_FS_ROOT": str(tmp_path)})
    assert options == config.filesystem_transport_options(tmp_path)
    assert (tmp_path / "queue").is_dir()


def test_result_backend_from_env_or_tmp(tmp_path):
    assert config.result_backend_url({"CELERY_RESULT_BACKEND": "redis://x/1"}) \
        == "redis://x/1"
    url = config.result_backend_url({})
    assert url == "file://" + config.default_results_dir()
    assert os.path.isdir(config.default_results_dir())
    target = tmp_path / "results"
    assert config.result_backend_url(
        {"CELERY_RESULT_BACKEND": f"file://{target}"}) == f"file://{target}"
    assert target.is_dir()  # Celery's file backend refuses a missing dir


def test_build_config_leaves_broker_url_to_celery():
    assert "broker_url" not in config.build_config({})


# -- tasks, run in-process ---------------------------------------------------

def test_quick_tasks_return_json():
    assert tasks.add(2, 3) == 5
    assert tasks.throttled(7) == 7
    for value in (tasks.crunch(100), tasks.slow(0.01),
                  tasks.long_running(0.05),
                  tasks.render_report("r1", pages=1),
                  tasks.send_email("a@example.com", "hi", fail=False)):
        json.dumps(value)


def test_send_email_failure_can_be_forced():
    with pytest.raises(ValueError, match="smtp: 550 mailbox unavailable"):
        tasks.send_email("a@example.com", "hi", fail=True)
    assert tasks.send_email("a@example.com", "hi", fail=False)["status"] == "sent"


def test_send_email_randomness_is_seeded_by_arguments(monkeypatch):
    monkeypatch.setattr(tasks, "_sleep", lambda seconds: None)

    def fails(i):
        try:
            tasks.send_email(f"user{i}@example.com", "Digest")
        except ValueError:
            return True
        return False

    outcomes = [fails(i) for i in range(400)]
    assert outcomes == [fails(i) for i in range(400)]
    assert 0 < sum(outcomes) < 60  # about 5%


def test_flaky_retries_then_succeeds():
    result = tasks.flaky.apply(args=(1,), kwargs={"fail_times": 2})
    assert result.get() == {"n": 1, "attempts": 3}


def test_flaky_fails_after_max_retries():
    result = tasks.flaky.apply(args=(1,), kwargs={"fail_times": 4})
    assert result.state == "FAILURE"
    assert isinstance(result.result, ConnectionError)


def test_always_fails_says_so():
    with pytest.raises(RuntimeError, match="fails on purpose"):
        tasks.always_fails()


def test_throttled_is_rate_limited():
    assert tasks.throttled.rate_limit == "20/m"


# -- load generator ------------------------------------------------------------

def test_choose_is_deterministic_with_a_seed():
    rng_a, rng_b = random.Random(42), random.Random(42)
    a = [load.choose(rng_a) for _ in range(200)]
    b = [load.choose(rng_b) for _ in range(200)]
    assert a == b
    rng_c = random.Random(43)
    assert a != [load.choose(rng_c) for _ in range(200)]


def test_choose_follows_the_weights():
    rng = random.Random(0)
    picks = [load.choose(rng) for _ in range(20_000)]
    by_task = Counter(p.task.rsplit(".", 1)[1] for p in picks)
    by_queue = Counter(p.queue for p in picks)
    share = {k: v / len(picks) for k, v in by_task.items()}
    assert share["add"] == pytest.approx(0.37, abs=0.02)
    assert share["send_email"] == pytest.approx(0.26, abs=0.02)
    assert by_task.most_common(3)[0][0] == "add"
    assert by_queue["backlog"] / len(picks) == pytest.approx(0.08, abs=0.01)
    assert set(by_queue) == set(config.ALL_QUEUES)
    # some tasks are scheduled a few seconds ahead
    delayed = [p.countdown for p in picks if p.countdown]
    assert 0.03 < len(delayed) / len(picks) < 0.09
    assert all(2 <= d <= 6 for d in delayed)
    for pick in picks[:200]:
        json.dumps([pick.args, pick.kwargs])


def test_choose_respects_queue_filter_and_backlog_queue():
    rng = random.Random(1)
    picks = [load.choose(rng, ["emails", "slow"]) for _ in range(500)]
    assert {p.queue for p in picks} == {"emails", "slow"}
    picks = [load.choose(rng, ["reports"], backlog_queue="reports")
             for _ in range(200)]
    assert {p.task for p in picks} == {T + "render_report"}
    with pytest.raises(ValueError):
        load.choose(rng, ["nope"])


def _parse_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exc:
        load.build_parser().parse_args(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--rate", "-1"], "argument --rate: must be > 0, got -1"),
    (["--rate", "0"], "argument --rate: must be > 0, got 0"),
    (["--rate", "fast"], "argument --rate: not a number: 'fast'"),
    (["--duration", "-5"], "argument --duration: must be >= 0, got -5"),
    (["--backlog", "-1"], "argument --backlog: must be >= 0, got -1"),
    (["--queue", "nope"], "argument --queue: invalid choice: 'nope'"),
])
def test_parser_rejects_bad_values(capsys, argv, message):
    assert message in _parse_error(capsys, argv)


def test_parser_defaults_and_values():
    args = load.build_parser().parse_args([])
    assert (args.rate, args.duration, args.queues, args.backlog,
            args.backlog_queue, args.seed) == (5.0, 60.0, None, 0,
                                               "backlog", None)
    args = load.build_parser().parse_args(
        ["--rate", "20", "--duration", "0", "--queue", "emails", "--queue",
         "slow", "--backlog-queue", "reports", "--backlog", "50",
         "--seed", "3"])
    assert (args.rate, args.duration, args.queues, args.backlog,
            args.backlog_queue, args.seed) == (
        20.0, 0.0, ["emails", "slow"], 50, "reports", 3)


class FakeApp:
    """Just enough of a Celery app for run_load, recording what is sent."""

    def __init__(self):
        self.sent = []
        self.producers = []

    @contextmanager
    def producer_or_acquire(self, producer=None):
        producer = SimpleNamespace(connection=SimpleNamespace(
            ensure_connection=lambda **kwargs: None))
        self.producers.append(producer)
        yield producer

    def send_task(self, name, args=None, kwargs=None, **options):
        self.sent.append((name, args, kwargs, options))


def test_run_load_paces_and_uses_one_producer():
    fake = FakeApp()
    sent = load.run_load(fake, rate=100, duration=0.3, seed=5, backlog=3)
    assert sent == len(fake.sent)
    assert 3 + 15 <= sent <= 3 + 31  # ~30 at 100/s for 0.3 s
    assert len(fake.producers) == 1
    assert all(o["producer"] is fake.producers[0] for *_, o in fake.sent)
    assert [o["queue"] for *_, o in fake.sent[:3]] == ["backlog"] * 3


def test_run_load_is_repeatable_and_stoppable():
    a, b = FakeApp(), FakeApp()
    load.run_load(a, rate=1000, duration=0.05, seed=9)
    load.run_load(b, rate=1000, duration=0.05, seed=9)
    n = min(len(a.sent), len(b.sent))
    assert n > 10
    assert [s[:3] for s in a.sent[:n]] == [s[:3] for s in b.sent[:n]]

    # duration=0 runs until the stop event is set, from another thread.
    stop = threading.Event()
    fake = FakeApp()
    result = []
    runner = threading.Thread(target=lambda: result.append(
        load.run_load(fake, rate=50, duration=0, stop_event=stop)))
    runner.start()
    time.sleep(0.2)
    stop.set()
    runner.join(timeout=5)
    assert not runner.is_alive()
    assert result == [len(fake.sent)] and result[0] >= 1


def test_run_load_rejects_bad_rate():
    with pytest.raises(ValueError):
        load.run_load(FakeApp(), rate=0, duration=1)


def _run_load_cli(env, *argv, timeout=30):
    return subprocess.run(
        [sys.executable, "-m", "console.companion.load", *argv],
        env=env, capture_output=True, text=True, timeout=timeout)


def test_cli_unreachable_broker_is_one_line_and_exit_2(tmp_path):
    env = {**fs_env(tmp_path), "CELERY_BROKER_URL": "amqp://guest@127.0.0.1:1//"}
    env.pop("CONSOLE_FS_ROOT")
    done = _run_load_cli(env, "--duration", "1")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("load: cannot reach broker amqp://")


def test_cli_runs_until_sigterm_on_filesystem_transport(tmp_path):
    env = fs_env(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.companion.load", "--rate", "50",
         "--duration", "0", "--backlog", "4", "--seed", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    queue_dir = tmp_path / "fs" / "queue"
    try:
        deadline = time.monotonic() + 20
        while (time.monotonic() < deadline
               and len(list(queue_dir.glob("*.msg"))) < 20):
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.startswith("sent "), out
    sent = int(out.split()[1])
    messages = list(queue_dir.glob("*.msg"))
    assert len(messages) == sent >= 20
    assert sum(m.name.endswith(".backlog.msg") for m in messages) >= 4


# -- end to end ------------------------------------------------------------------

def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        # The worker leads its own session: take its pool children too.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.broker
def test_worker_runs_add_on_filesystem_transport(tmp_path):
    env = fs_env(tmp_path)
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "console.companion",
             "worker", "-l", "info", "-c", "1",
             "--hostname", f"companion-e2e-{os.getpid()}@%h"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        client = subprocess.run(
            [sys.executable, "-c",
             "from console.companion.tasks import add\n"
             "print(add.delay(2, 3).get(timeout=30))"],
            env=env, capture_output=True, text=True, timeout=60)
        worker_log = log_path.read_text(errors="replace")
        assert client.returncode == 0, client.stderr + worker_log[-3000:]
        assert client.stdout.strip() == "5", worker_log[-3000:]
    finally:
        _stop(worker)
    worker_log = log_path.read_text(errors="replace")
    assert "succeeded" in worker_log
    # Started without -Q, the worker still leaves the backlog queue alone.
    assert ".> default" in worker_log
    assert ".> backlog" not in worker_log


def test_a_companion_worker_deletes_expired_results_from_its_file_store(redis_broker, tmp_path):
    """A standalone companion worker left running used to pile up result
    files (about 13,000 were found): on a file:// store it now deletes those
    older than ``result_expires`` itself, and keeps the fresh ones."""
    import os
    import time

    from brokers import running_worker
    from console.companion import config

    results = tmp_path / "results"
    results.mkdir()
    old = results / "celery-task-meta-old"
    fresh = results / "celery-task-meta-fresh"
    old.write_text("{}")
    fresh.write_text("{}")
    stale = time.time() - config.RESULT_EXPIRES - 60
    os.utime(old, (stale, stale))
    os.environ["CELERY_RESULT_BACKEND"] = f"file://{results}"
    with running_worker(redis_broker, tmp_path, queues="default", name="cleanup"):
        deadline = time.monotonic() + 20  # a hang guard: it runs at start
        while old.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not old.exists()
        assert fresh.exists()
