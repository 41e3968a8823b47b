"""Re-run: arguments from the result backend or read back from the event
reprs with literal_eval (never eval), truncation refused; the dialog's
preflight; and the real thing on a worker, on RabbitMQ and Redis."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from textual.widgets import Button, Input

from brokers import companion_app, running_worker, wait_until
from brokers import pilot_until as until
from console.cli import Options
from console.core.connection import Target
from console.core.rerun import NotALiteral, RerunPlan, literal_args, plan
from console.ui.app import ConsoleApp
from console.ui.dialogs.rerun import RerunDialog, ask_rerun

T = "console.companion.tasks."


# ------------------------------------------------------------------- core
@pytest.mark.parametrize("text,reason", [
    ("('abc...',)", "ends with '...'"),
    ("(1, [2, [3, [...]]])", "holds '...'"),
    ("(<object object at 0x7f>,)", "not a Python literal"),
    ("(__import__('os').system('id'),)", "not a Python literal"),
    ("'x' * 10", "not a Python literal"),
    ("{'a': 1}", "must be a tuple"),
    ("(" + "1, " * 400 + ")", "may be truncated"),
])
def test_reprs_that_are_not_the_arguments_are_refused(text, reason):
    with pytest.raises(NotALiteral, match=reason):
        literal_args(text, limit=1024)


def test_reprs_read_back_exactly():
    assert literal_args("(2, 3)", 1024) == (2, 3)
    assert literal_args("['a', {'b': (1.5, None, True)}]", 1024) == ("a", {"b": (1.5, None,
                                                                           True)})
    assert literal_args("()", 1024) == ()


def test_edited_arguments_are_checked():
    base = RerunPlan("id", "t", problem="truncated", args_text="('x...',)")
    assert not base.ready and base.verdict == "needs editing"
    fixed = base.edited("('a', 'b')", "{}")
    assert fixed.ready and fixed.args == ("a", "b") and fixed.source == "edited"
    with pytest.raises(NotALiteral):
        base.edited("(open('/etc/passwd'),)", "{}")
    assert RerunPlan("id", None, problem="no name").verdict == "cannot"


# ------------------------------------------------------ real worker, keys
async def open_task(pilot, console, uuid):
    await pilot.press("2", "slash", *uuid, "enter")
    assert await until(pilot, lambda: console.state.task_view(uuid) is not None, 20)


async def rerun_dialog(pilot, console) -> RerunDialog:
    await pilot.press("r")
    assert await until(pilot, lambda: isinstance(console.screen, RerunDialog)
                       and console.screen.plans is not None, 15)
    return console.screen


@pytest.mark.broker
async def test_rerun_by_keys_on_a_worker(real_broker, tmp_path, monkeypatch):
    # The events' reprs, not the backend: the worker keeps no extended result.
    monkeypatch.setenv("CONSOLE_RESULT_EXTENDED", "0")
    app = companion_app(real_broker)
    with running_worker(real_broker, tmp_path, queues="default", concurrency=2) as host:
        console = ConsoleApp(Target(app), Options(audit_log=str(tmp_path / "audit.jsonl"),
                                                  inspect_interval=1.0))
        async with console.run_test(size=(120, 36)) as pilot:
            state = console.state
            assert await until(pilot, lambda: host in state.workers_online(), 20)
            # A revoked add(2, 3): it never ran (the worker drops it when due).
            original = app.send_task(T + "add", args=(2, 3), countdown=3)
            assert await until(pilot, lambda: (state.task_view(original.id) or 0) and
                               state.task_view(original.id).state == "RECEIVED", 20)
            console.actions.revoke([original.id])
            assert await until(pilot, lambda: state.task_view(original.id).state ==
                               "REVOKED", 20)
            await open_task(pilot, console, original.id)
            dialog = await rerun_dialog(pilot, console)
            assert dialog.plans[0].verdict == "as it was"
            assert dialog.plans[0].source == "the task's events"
            assert console.focused.id == "cancel"
            await pilot.press("enter")  # on Cancel: nothing sent
            await pilot.pause()
            assert not any(a.action == "rerun" for a in state.actions)
            dialog = await rerun_dialog(pilot, console)
            await pilot.click("#confirm")
            assert await until(pilot, lambda: any(a.action == "rerun"
                                                  for a in state.actions), 10)
            action = next(a for a in state.actions if a.action == "rerun")
            assert action.status.value == "ok", action.summary
            new_id = action.results[original.id].text.removeprefix("sent as ")
            assert app.AsyncResult(new_id).get(timeout=20) == 5
            assert state.rerun_links(new_id) == (original.id, ())
            assert state.rerun_links(original.id) == (None, (new_id,))

            # Args Celery cut: refused as they are, run once edited.
            long = app.send_task(T + "add", args=("x" * 3000, "y"))
            assert long.get(timeout=20) == "x" * 3000 + "y"
            assert await until(pilot, lambda: (state.task_view(long.id) or 0) and
                               state.task_view(long.id).state == "SUCCESS", 20)
            await pilot.press("escape")
            await open_task(pilot, console, long.id)
            dialog = await rerun_dialog(pilot, console)
            assert dialog.plans[0].verdict == "needs editing"
            assert "truncated" in dialog.plans[0].problem
            assert dialog.query_one("#confirm", Button).disabled
            args = dialog.query_one("#rerun-args", Input)
            args.value = "('a', 'b')"
            await pilot.pause()
            args.focus()
            await pilot.press("enter")  # typed, then Enter: sent
            assert await until(pilot, lambda: sum(a.action == "rerun"
                                                  for a in state.actions) == 2, 10)
            edited = [a for a in state.actions if a.action == "rerun"][-1]
            again = edited.results[long.id].text.removeprefix("sent as ")
            assert app.AsyncResult(again).get(timeout=20) == "ab"
            assert edited.arguments["sources"] == ["edited"]


@pytest.mark.broker
async def test_preflight_over_five_marked_tasks(real_broker, tmp_path):
    app = companion_app(real_broker)  # the companion keeps extended results
    with running_worker(real_broker, tmp_path, queues="default", concurrency=2) as host:
        console = ConsoleApp(Target(app), Options(audit_log=str(tmp_path / "audit.jsonl"),
                                                  inspect_interval=1.0))
        async with console.run_test(size=(120, 36)) as pilot:
            state = console.state
            assert await until(pilot, lambda: host in state.workers_online(), 20)
            sent = [app.send_task(T + "add", args=(i, i)) for i in range(3)]
            sent.append(app.send_task(T + "add", args=("x" * 3000, "y")))
            for r in sent:
                r.get(timeout=20)
            # A task known only by a late event: no name, nothing in the backend.
            state.apply({"type": "task-succeeded", "uuid": "ghost-task", "result": "1",
                         "runtime": 0.1, "hostname": host, "timestamp": time.time()})
            ids = [r.id for r in sent] + ["ghost-task"]
            assert await until(pilot, lambda: all(
                (state.task_view(i) or 0) and state.task_view(i).state == "SUCCESS"
                for i in ids), 20)
            with_backend = plan(console.target, state.task_view(sent[3].id), sent[3].id)
            # The backend has the whole args: no truncation to refuse.
            assert with_backend.ready and with_backend.source == "the result backend"
            assert with_backend.args == ("x" * 3000, "y")

            # What `r` does with these five marked.
            ask_rerun(console, [state.task_view(i) for i in ids])
            assert await until(pilot, lambda: isinstance(console.screen, RerunDialog)
                               and console.screen.plans is not None, 15)
            dialog = console.screen
            verdicts = {p.uuid: (p.verdict, p.source) for p in dialog.plans}
            for r in sent:
                assert verdicts[r.id] == ("as it was", "the result backend")
            assert verdicts["ghost-task"][0] == "cannot"
            button = dialog.query_one("#confirm", Button)
            assert str(button.label) == "Re-run the 4 ready"
            await pilot.click("#confirm")
            assert await until(pilot, lambda: any(a.action == "rerun"
                                                  for a in state.actions), 10)
            action = next(a for a in state.actions if a.action == "rerun")
            assert set(action.results) == {r.id for r in sent}
            for i, r in enumerate(sent[:3]):
                new_id = action.results[r.id].text.removeprefix("sent as ")
                assert app.AsyncResult(new_id).get(timeout=20) == 2 * i


@pytest.mark.broker
def test_console_rerun_prints_the_new_id_and_it_runs(real_broker, tmp_path):
    app = companion_app(real_broker)
    with running_worker(real_broker, tmp_path, queues="default"):
        original = app.send_task(T + "add", args=(20, 22))
        assert original.get(timeout=20) == 42
        run = subprocess.run(
            [sys.executable, "-m", "console", "-A", "console.companion", "rerun", original.id, "--yes",
             "--audit-log", str(tmp_path / "audit.jsonl")],
            env=real_broker.env(), capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        assert "as it was, from the result backend" in run.stdout
        new_id = run.stdout.strip().splitlines()[-1].split("sent as ")[1]
        assert wait_until(lambda: app.AsyncResult(new_id).state == "SUCCESS", 20)
        assert app.AsyncResult(new_id).get(timeout=5) == 42
        unknown = subprocess.run(
            [sys.executable, "-m", "console", "rerun", "no-such-task", "--yes"],
            env=real_broker.env(), capture_output=True, text=True, timeout=60)
        assert unknown.returncode == 1 and "Nothing re-run" in unknown.stderr


# ----------------------------------------------------------------- look up
@pytest.mark.broker
async def test_task_lookup_of_an_evicted_task_reads_the_backend(real_broker, tmp_path):
    from test_tasks_screen import rendered

    from console.ui.screens.task_detail import TaskDetailScreen

    app = companion_app(real_broker)
    with running_worker(real_broker, tmp_path, queues="default", concurrency=2) as host:
        console = ConsoleApp(Target(app), Options(audit_log=str(tmp_path / "audit.jsonl"),
                                                  max_tasks=5, inspect_interval=1.0))
        async with console.run_test(size=(120, 36)) as pilot:
            state = console.state
            assert await until(pilot, lambda: host in state.workers_online(), 20)
            failed = app.send_task(T + "always_fails")
            assert await until(pilot, lambda: (state.task_view(failed.id) or 0) and
                               state.task_view(failed.id).state == "FAILURE", 20)
            # More failures than their share of --max-tasks: the first is evicted.
            for _ in range(6):
                app.send_task(T + "always_fails").get(timeout=20, propagate=False)
            assert await until(pilot, lambda: state.task_view(failed.id) is None, 20)
            await pilot.press("colon", *f"task {failed.id}", "enter")
            assert await until(pilot, lambda: isinstance(console.screen, TaskDetailScreen)
                               and console.screen.lookup is not None, 15)
            await pilot.pause()
            text = rendered(console.screen.query_one("#summary"))
            assert "is not held" in text and "FAILURE" in text
            assert "Traceback" in text and T + "always_fails" in text
    # Without a backend the screen says what cannot be known.
    from celery import Celery

    bare = Celery("bare", set_as_current=False)
    bare.conf.broker_url = real_broker.url
    console = ConsoleApp(Target(bare), Options(audit_log=str(tmp_path / "audit2.jsonl")))
    async with console.run_test(size=(120, 36)) as pilot:
        await pilot.press("colon", *"task 0f1e2d3c-no-such", "enter")
        assert await until(pilot, lambda: isinstance(console.screen, TaskDetailScreen)
                           and console.screen.lookup is not None, 15)
        await pilot.pause()
        assert "the app has no result backend" in rendered(
            console.screen.query_one("#summary"))
