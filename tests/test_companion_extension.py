"""The companion extension on real workers: live stacks of prefork children
and of the threads pool, per-process memory, and a worker without it."""

from __future__ import annotations

import inspect as pyinspect
import os
import json
import subprocess
import sys
import pytest

from brokers import BrokerEnv, companion_app, running_worker, wait_until
from console.companion import tasks
from console.core.connection import load_app
from console.core.insight import INSTALL_LINE, extension_of, read_stacks

pytestmark = pytest.mark.broker
T = "console.companion.tasks."


def _stuck_line() -> int:
    lines, start = pyinspect.getsourcelines(tasks.stuck_here.run)
    return start + next(i for i, line in enumerate(lines) if "time.sleep(STEP)" in line)


def _target(broker: BrokerEnv):
    # A fresh app per broker (the module's app keeps its first broker's pools).
    return load_app(None, broker.url, app=companion_app(broker))


def _running_stack(target, hostname: str, task_id: str):
    """The stack report of the process running ``task_id``, once it runs."""
    found = []

    def running() -> bool:
        # Into its own code: just after it starts, the thread is still in
        # Celery's (storing the STARTED state in the result backend).
        [report] = read_stacks(target, [hostname], task_id=task_id, timeout=3.0)
        if report.processes and not report.task_missing and any(
                f.function == "stuck_here" for p in report.processes
                for t in p.threads for f in t.frames):
            found.append(report)
            return True
        return False

    assert wait_until(running, timeout=30, interval=0.3), "the task never ran"
    return found[-1]


def _active_pid(app, hostname: str, task_id: str) -> int:
    active = app.control.inspect(destination=[hostname], timeout=2).active() or {}
    return next(t["worker_pid"] for t in active[hostname] if t["id"] == task_id)


def _assert_stuck_stack(report, task_id: str, pid: int | None) -> None:
    [process] = report.processes
    if pid is not None:
        assert process.pid == pid
    assert [t.id for t in process.tasks] == [task_id]
    [thread] = [t for t in process.threads if t.task and t.task.id == task_id]
    assert thread.task.name == T + "stuck_here"
    assert thread.task.elapsed is not None and thread.task.elapsed >= 0
    top = thread.frames[-1]
    assert top.function == "stuck_here", [(f.function, f.file, f.line) for f in thread.frames]
    assert top.file == tasks.__file__
    assert top.line == _stuck_line()
    assert top.in_task and "time.sleep(STEP)" in top.code
    # Celery's and billiard's frames below it are not the task's.
    assert not any(f.in_task for f in thread.frames if f.function == "trace_task")


def _console(broker: BrokerEnv, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "console", "-A", "console.companion", *args],
        env=broker.env(), capture_output=True, text=True, timeout=60)


def _check_cli(broker: BrokerEnv, task_id: str, host: str, pid: int) -> None:
    """`console stack TASK_ID` (every worker asked) and `console stack WORKER`."""
    done = _console(broker, "stack", task_id, "--timeout", "2")
    assert done.returncode == 0, done.stderr
    assert f'"{tasks.__file__}", line {_stuck_line()}, in stuck_here' in done.stdout
    assert f"child process {pid}" in done.stdout and task_id in done.stdout
    done = _console(broker, "stack", host, "--json")
    assert done.returncode == 0, done.stderr
    [report] = json.loads(done.stdout)
    assert report["hostname"] == host and len(report["processes"]) == 3
    missing = _console(broker, "stack", "0" * 32, "--timeout", "1")
    assert missing.returncode == 1 and "no worker with the companion extension runs it" \
        in missing.stderr


def test_prefork_child_shows_its_task_stuck_here(real_broker, tmp_path):
    app = companion_app(real_broker)
    target = _target(real_broker)
    with running_worker(real_broker, tmp_path, queues="default", concurrency=2) as host:
        other = app.send_task(T + "slow", args=[60], queue="default")
        stuck = app.send_task(T + "stuck_here", args=[60], queue="default")
        try:
            report = _running_stack(target, host, stuck.id)
            assert report.installed and report.pool == "prefork"
            pid = _active_pid(app, host, stuck.id)
            _assert_stuck_stack(report, stuck.id, pid)
            # The other child runs the other task, in its own stack.
            everything = read_stacks(target, [host], timeout=3.0)[0]
            children = {p.pid: p for p in everything.processes if p.role == "child"}
            assert len(children) == 2 and pid in children
            assert not any(f.function == "stuck_here" for other_pid, p in children.items()
                           if other_pid != pid for t in p.threads for f in t.frames)
            assert any(f.function == "stuck_here" for t in children[pid].threads
                       for f in t.frames)
            _check_cli(real_broker, stuck.id, host, pid)
        finally:
            app.control.revoke([stuck.id, other.id], terminate=True)


def test_threads_pool_shows_the_thread_stuck_here(real_broker, tmp_path):
    app = companion_app(real_broker)
    target = _target(real_broker)
    with running_worker(real_broker, tmp_path, queues="default", concurrency=2,
                        pool="threads") as host:
        stuck = app.send_task(T + "stuck_here", args=[20], queue="default")
        report = _running_stack(target, host, stuck.id)
        assert report.pool == "thread"
        _assert_stuck_stack(report, stuck.id, None)
        assert report.processes[0].role == "main"


def test_a_worker_without_the_extension_gets_the_one_line(real_broker, tmp_path):
    bare = BrokerEnv(real_broker.kind, real_broker.url,
                     extra_env={"CONSOLE_COMPANION_EXTENSION": "0"})
    app = companion_app(real_broker)
    target = _target(real_broker)
    with running_worker(bare, tmp_path, queues="default") as host:
        [report] = read_stacks(target, [host], timeout=2.0)
        assert not report.installed
        assert INSTALL_LINE in report.message and "not installed" in report.message
        stats = app.control.inspect(destination=[host], timeout=2).stats()
        assert extension_of(stats[host]) is None
        # Nothing broke: it still runs tasks.
        assert app.send_task(T + "add", args=[2, 3], queue="default").get(timeout=20) == 5


def test_rss_of_a_child_holding_200_mb_grows_by_that_much(real_broker, tmp_path):
    app = companion_app(real_broker)

    def child_rss(host: str) -> dict[int, int]:
        stats = app.control.inspect(destination=[host], timeout=2).stats() or {}
        extension = extension_of(stats.get(host))
        assert extension is not None
        return {p.pid: p.rss for p in extension.processes
                if p.role == "child" and p.pid is not None and p.rss is not None}

    with running_worker(real_broker, tmp_path, queues="default", concurrency=1) as host:
        before = child_rss(host)
        assert len(before) == 1
        [pid] = before
        held = app.send_task(T + "hold_memory", args=[200, 30], queue="default")
        try:
            grown: list[int] = []

            def holding() -> bool:
                now = child_rss(host).get(pid, 0)
                grown.append(now - before[pid])
                return grown[-1] > 150 * 2**20

            assert wait_until(holding, timeout=30, interval=0.5), grown
            assert wait_until(lambda: holding() and grown[-1] == grown[-2], timeout=10)
            assert 180 * 2**20 <= grown[-1] <= 240 * 2**20, grown[-1] / 2**20
            # A round the worker does not answer (a loaded machine) is asked again.
            replies: list = []
            assert wait_until(lambda: replies.append((app.control.inspect(
                destination=[host], timeout=2).stats() or {}).get(host)) or replies[-1],
                timeout=15), f"{host} did not answer inspect stats"
            extension = extension_of(replies[-1])
            assert extension is not None
            [child] = [p for p in extension.processes if p.pid == pid]
            assert [t.id for t in child.tasks] == [held.id]
            assert child.cpu is not None and child.cpu > 0
        finally:
            app.control.revoke(held.id, terminate=True)


def test_a_stale_ready_file_of_a_reused_pid_is_not_ready(tmp_path):
    """A real-time signal kills a process without the handler: a child that
    reused a dead child's pid is not signalled on the dead one's file."""
    import struct

    from console.companion import extension

    pid = os.getpid()
    ticks = extension._start_ticks(pid)
    assert ticks is not None
    path = tmp_path / f"{pid}.proc"
    path.write_bytes(struct.pack("QQQ", 3, 1, ticks + 1))
    assert extension._read_counter(str(tmp_path), pid) is None
    path.write_bytes(struct.pack("QQQ", 3, 1, ticks))
    assert extension._child_counter(str(tmp_path), pid) == (3, 1e-9)
    extension._prune(str(tmp_path), alive=[pid + 1])
    assert not path.exists()


async def test_w_in_the_console_on_a_real_worker_read_only(redis_broker, tmp_path):
    """The console on Redis under --read-only: each round learns the worker
    has the extension (worker detail), `w` on the running task's detail
    shows `stuck_here` for its process, ctrl+r reads it again."""
    from brokers import pilot_until as until
    from console.cli import Options
    from console.core.connection import Target
    from console.ui.app import ConsoleApp
    from console.ui.screens.stack import StackScreen

    app = companion_app(redis_broker)
    with running_worker(redis_broker, tmp_path, queues="default", concurrency=2) as host:
        console = ConsoleApp(Target(app), Options(
            read_only=True, audit_log=str(tmp_path / "audit.jsonl"),
            inspect_interval=1.0, probe_interval=1.0))
        async with console.run_test(size=(120, 36)) as pilot:
            state = console.state
            assert await until(pilot, lambda: host in state.workers_online(), 20)
            stuck = app.send_task(T + "stuck_here", args=[60], queue="default")
            try:
                assert await until(pilot, lambda: state.task(stuck.id) is not None
                                   and state.task(stuck.id).state == "STARTED", 20)

                def known_running() -> bool:  # from an inspection round's stats
                    extension = state.worker_view(host).extension
                    return extension is not None and any(
                        t.id == stuck.id for p in extension.processes for t in p.tasks)

                assert await until(pilot, known_running, 20)
                console.open_task(stuck.id)
                await pilot.pause()
                await pilot.press("w")
                assert await until(pilot, lambda: isinstance(console.screen, StackScreen)
                                   and console.screen.reports is not None, 15)
                screen = console.screen
                pid = _active_pid(app, host, stuck.id)
                assert f"child process {pid}" in screen.plain
                assert f'"{tasks.__file__}", line {_stuck_line()}, in stuck_here' \
                    in screen.plain
                first = screen.read_at
                await pilot.press("ctrl+r")
                assert await until(pilot, lambda: screen.read_at != first
                                   and not screen.reading, 15)
                assert "stuck_here" in screen.plain
            finally:
                app.control.revoke(stuck.id, terminate=True)
            await pilot.press("q")


def test_solo_pool_answers_between_tasks_and_says_why_not_during_one(real_broker, tmp_path):
    """The solo pool runs tasks on the thread that answers remote control:
    idle, its stack is read in-process; while a task runs it cannot answer,
    and the report says why rather than only 'no reply'."""
    app = companion_app(real_broker)
    target = _target(real_broker)
    with running_worker(real_broker, tmp_path, queues="default", pool="solo") as host:
        [idle] = read_stacks(target, [host], timeout=3.0)
        assert idle.installed and idle.pool == "solo" and not idle.error
        [process] = idle.processes
        assert process.role == "main" and process.pid is not None and process.threads
        stuck = app.send_task(T + "stuck_here", args=[6], queue="default")
        try:
            assert wait_until(lambda: app.AsyncResult(stuck.id).state == "STARTED",
                              timeout=20, interval=0.2)
            [busy] = read_stacks(target, [host], timeout=1.5)
            assert busy.error and "no reply" in busy.error
            assert "solo pool" in busy.error, busy.error
        finally:
            app.control.revoke([stuck.id])
