"""The remote-control keys end to end: the console on a real broker, keys
pressed with Pilot, the effect checked on the worker itself."""

from __future__ import annotations

import json

import pytest

from brokers import companion_app, running_worker, wait_until
from brokers import pilot_until as until
from console.cli import Options
from console.core.connection import Target
from console.ui.app import ConsoleApp
from console.ui.widgets.form import FormDialog

pytestmark = pytest.mark.broker
TASKS = "console.companion.tasks."
SIZE = (120, 36)




def console_for(app, tmp_path) -> ConsoleApp:
    return ConsoleApp(Target(app), Options(audit_log=str(tmp_path / "audit.jsonl"),
                                           inspect_interval=1.0, probe_interval=1.0))


async def test_bulk_revoke_of_marked_tasks_from_the_tasks_screen(real_broker, tmp_path):
    app = companion_app(real_broker)
    with running_worker(real_broker, tmp_path, queues="default") as host:
        console = console_for(app, tmp_path)
        async with console.run_test(size=SIZE) as pilot:
            state = console.state
            assert await until(pilot, lambda: host in state.workers_online(), 20)
            waiting = [app.send_task(TASKS + "add", (i, i), queue="default", countdown=6)
                       for i in range(3)]
            ids = {r.id for r in waiting}
            assert await until(pilot, lambda: all(
                state.task(i) and state.task(i).received for i in ids), 15)
            await pilot.press("2")
            await pilot.pause(0.5)
            await pilot.press("space", "space", "space")  # the three newest
            screen = console.screen
            assert screen.marks == ids
            await pilot.press("x")
            await pilot.pause()
            dialog = console.screen
            assert isinstance(dialog, FormDialog) and dialog.dialog_title == "Revoke 3 tasks?"
            await pilot.press("tab", "enter")
            assert await until(pilot, lambda: any(
                a.action == "revoke" for a in state.actions), 15)
            outcome = [a for a in state.actions if a.action == "revoke"][-1]
            assert outcome.status == "ok", outcome
            revoked = app.control.inspect(destination=[host], timeout=3).revoked() or {}
            assert ids <= set(revoked.get(host, []))
            assert await until(pilot, lambda: all(
                state.task(i).state == "REVOKED" for i in ids), 20)
            await pilot.pause(1.0)
            assert all(state.task(i).started is None for i in ids)  # never ran
            await pilot.press("q")
    lines = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [x for x in lines if x.get("action") == "revoke"], lines


async def test_pool_grow_from_the_worker_detail_screen(real_broker, tmp_path):
    app = companion_app(real_broker)
    with running_worker(real_broker, tmp_path, queues="default", concurrency=1) as host:
        def processes() -> int:
            stats = app.control.inspect(destination=[host], timeout=3).stats() or {}
            return len(stats[host]["pool"]["processes"])

        assert processes() == 1
        console = console_for(app, tmp_path)
        async with console.run_test(size=SIZE) as pilot:
            state = console.state
            assert await until(pilot, lambda: host in state.workers_online()
                               and state.inspection(host, "stats"), 20)
            await pilot.press("1")
            await pilot.pause()
            await pilot.press("enter")
            await pilot.pause()
            assert console.screen.hostname == host
            await pilot.press("plus")
            await pilot.pause()
            dialog = console.screen
            assert isinstance(dialog, FormDialog)
            await pilot.press("backspace", "2", "enter")  # grow by 2
            assert await until(pilot, lambda: any(
                a.action == "pool_grow" for a in state.actions), 15)
            outcome = [a for a in state.actions if a.action == "pool_grow"][-1]
            assert outcome.status == "ok", outcome
            assert outcome.arguments == {"n": 2}
            await pilot.press("q")
        assert wait_until(lambda: processes() == 3, 15)
