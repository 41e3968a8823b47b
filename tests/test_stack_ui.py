"""`w` — what is it doing: the stack screen and the worker detail's
per-process section, driven with Pilot on the sample cluster (alpha has the
companion extension, beta does not). Real workers: test_companion_extension.py."""

from __future__ import annotations

import io

import pytest
from textual.widgets import Static

from brokers import pilot_until
from console.core.insight import INSTALL_LINE
from console.sample import NOW, sample_app
from console.ui.commands import palette_entries
from console.ui.screens.stack import StackScreen

SIZE = (120, 36)


def rendered(static) -> str:
    from rich.console import Console

    console = Console(width=200, record=True, file=io.StringIO())
    console.print(static.content)
    return console.export_text()


def counting_app(**options):
    app = sample_app(**options)
    app.asked = []
    read = app.read_stacks

    def read_stacks(hostname, task_id):
        app.asked.append((hostname, task_id))
        return read(hostname, task_id)

    app.read_stacks = read_stacks
    return app


async def stack_screen(pilot) -> StackScreen:
    assert await pilot_until(pilot, lambda: isinstance(pilot.app.screen, StackScreen)
                             and pilot.app.screen.reports is not None, 10)
    return pilot.app.screen


def running_on(app, host: str) -> list:
    return [t for t in app.state.tasks_newest_first() if t.state == "STARTED"
            and t.worker == host]


async def go_to_task(pilot, uuid: str) -> None:
    await pilot.press("2")
    await pilot.pause()
    screen = pilot.app.screen
    for _ in range(400):
        record = screen.table.cursor_record
        if record is not None and record.uuid == uuid:
            return
        await pilot.press("j")
    raise AssertionError(f"{uuid} not reached")


@pytest.mark.parametrize("read_only", [False, True])
async def test_w_on_a_running_task_shows_its_process_stack(read_only):
    app = counting_app(read_only=read_only)
    async with app.run_test(size=SIZE) as pilot:
        task = running_on(app, "alpha@web-1")[0]
        await go_to_task(pilot, task.uuid)
        await pilot.press("w")
        screen = await stack_screen(pilot)
        assert app.asked == [("alpha@web-1", task.uuid)]
        text = screen.plain
        assert f"task {task.name} {task.uuid}" in text
        assert '▶   File "/srv/app/locks.py", line 41, in stuck_here' in text
        # Only the process running it.
        assert text.count("child process") == 1 and "main process" not in text
        await pilot.press("ctrl+r")
        assert await pilot_until(pilot, lambda: len(app.asked) == 2 and not screen.reading, 10)
        await pilot.press("escape")
        assert not isinstance(app.screen, StackScreen)


async def test_w_from_task_detail_and_on_a_finished_task():
    app = counting_app()
    async with app.run_test(size=SIZE) as pilot:
        done = next(t for t in app.state.tasks_newest_first() if t.state == "SUCCESS")
        await go_to_task(pilot, done.uuid)
        await pilot.press("w")
        await pilot.pause()
        assert not isinstance(app.screen, StackScreen) and app.asked == []
        assert any("running task" in n.message for n in app._notifications)
        task = running_on(app, "alpha@web-1")[0]
        app.open_task(task.uuid)
        await pilot.pause()
        await pilot.press("w")
        await stack_screen(pilot)
        assert app.asked == [("alpha@web-1", task.uuid)]


async def test_a_worker_without_the_extension_says_the_one_line():
    app = counting_app()
    async with app.run_test(size=SIZE) as pilot:
        app.open_worker("beta@web-2")
        await pilot.pause()
        inside = rendered(app.screen.query_one("#inside", Static))
        assert "not installed on this worker" in inside and INSTALL_LINE in inside
        await pilot.press("w")
        screen = await stack_screen(pilot)
        assert "not installed on this worker" in screen.plain
        assert INSTALL_LINE in screen.plain
        task = running_on(app, "beta@web-2")[0]
        await pilot.press("escape", "escape")
        await go_to_task(pilot, task.uuid)
        await pilot.press("w")
        screen = await stack_screen(pilot)
        assert INSTALL_LINE in screen.plain


async def test_worker_detail_shows_memory_cpu_and_every_process_stack():
    app = counting_app()
    async with app.run_test(size=SIZE) as pilot:
        app.open_worker("alpha@web-1")
        await pilot.pause()
        text = rendered(app.screen.query_one("#inside", Static))
        assert "fingerprint a99034b9a916" in text
        assert "kombu 5.7.0" in text and "app 2.14.1" in text
        row = next(line for line in text.splitlines() if line.strip().startswith("5103"))
        assert row.split()[:6] == ["5103", "child", "130.4", "MiB", "22.2", "s"]
        assert row.split()[6] == "101"
        keys = [title for title, _help, _target in palette_entries(app.screen)]
        assert "Stacks" in keys
        await pilot.press("w")
        screen = await stack_screen(pilot)
        assert app.asked == [("alpha@web-1", None)]
        assert screen.plain.count("child process") == 4 and "main process 4100" in screen.plain
        assert screen.read_at == NOW


async def test_stack_text_is_data_not_markup():
    from console.core.insight import parse_stacks

    hostile = "[bold red]boom[/] \x1b[31m\u202e"
    app = sample_app()
    app.read_stacks = lambda host, task: [parse_stacks(host, {"pool": "prefork", "processes": [
        {"pid": 1, "role": "child", "threads": [{"name": hostile, "frames": [
            {"file": hostile, "line": 1, "function": hostile, "code": hostile,
             "in_task": True}]}]}]}, task, NOW)]
    async with app.run_test(size=SIZE) as pilot:
        app.open_stack("alpha@web-1")
        screen = await stack_screen(pilot)
        assert "[bold red]boom[/]" in screen.plain
        assert "\x1b" not in screen.plain and "\u202e" not in screen.plain


async def test_brackets_choose_one_process_of_the_worker():
    """On worker detail's stacks, ] and [ show one process at a time (the
    title names it and how many answered), then every process again; a
    re-read keeps the chosen one."""
    app = counting_app()
    async with app.run_test(size=SIZE) as pilot:
        app.open_worker("alpha@web-1")
        await pilot.pause()
        await pilot.press("w")
        screen = await stack_screen(pilot)
        pids = screen.pids()
        assert len(pids) == 5 and pids[0] == 4100
        await pilot.press("right_square_bracket")
        assert screen.pid == 4100
        assert "main process 4100" in screen.plain and "child process" not in screen.plain
        title = rendered(screen.query_one("#stack-title", Static))
        assert "Stack of process 4100 (1 of 5; [ ] choose) of alpha@web-1" in title
        await pilot.press("right_square_bracket")
        child = pids[1]
        assert screen.pid == child and screen.plain.count("child process") == 1
        assert f"child process {child}" in screen.plain and "main process" not in screen.plain
        await pilot.press("ctrl+r")
        assert await pilot_until(pilot, lambda: len(app.asked) == 2 and not screen.reading, 10)
        assert screen.pid == child and screen.plain.count("child process") == 1
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert screen.pid is None
        assert screen.plain.count("child process") == 4 and "main process 4100" in screen.plain
        await pilot.press("left_square_bracket")
        assert screen.pid == pids[-1]


async def test_brackets_on_one_process_say_so():
    app = counting_app()
    async with app.run_test(size=SIZE) as pilot:
        task = running_on(app, "alpha@web-1")[0]
        await go_to_task(pilot, task.uuid)
        await pilot.press("w")
        screen = await stack_screen(pilot)
        await pilot.press("right_square_bracket")
        assert screen.pid is None
        assert "one process answered" in app._note[0].plain


def test_status_json_names_the_extension_and_its_processes():
    """`console status --json` carries what the extension reports: per
    worker installed or not, versions, fingerprint, and per process RSS,
    CPU and tasks run."""
    import json

    from console.core.status import summarize
    from console.sample import sample_target

    app = sample_app()
    report = json.loads(json.dumps(summarize(sample_target(), app.state)))
    workers = {w["hostname"]: w for w in report["workers"]}
    alpha = workers["alpha@web-1"]["extension"]
    assert alpha["installed"] and alpha["fingerprint"].startswith("a99034b9a916")
    assert alpha["versions"]["kombu"] == "5.7.0"
    child = next(p for p in alpha["processes"] if p["pid"] == 5103)
    assert child["role"] == "child" and child["tasks_run"] == 101
    assert round(child["rss"] / 2**20, 1) == 130.4 and child["cpu"] == 22.25
    assert workers["beta@web-2"]["extension"] == {"installed": False}
