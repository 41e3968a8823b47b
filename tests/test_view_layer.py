"""The view layer: cluster text is data, never markup, on every screen.

Each hostile value goes in as a worker hostname, a task name and id, args,
an exception, a traceback, a queue name, a registered task type, a conf
value and an action's target; then every screen is visited and every
dialog of every screen opened (each action dialog, both purge dialogs,
help, the palette, the `:` line), and `console status` is rendered as a
table and as JSON. Nothing may raise, the app must keep running, no control
character may reach the terminal, and the value must be visible exactly
(its terminal-safe form) where it is shown in full.
"""

from __future__ import annotations

import ast
import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console
from textual import events
from textual.command import CommandPalette
from textual.widgets import Input

from console.core.stores import ActionView
from console.core.views import OutcomeStatus, ResultKind, TargetResult
from console.sample import NOW, sample_app, sample_target
from console.text import one_line
from console.ui.screens.command_line import CommandLine
from console.ui.screens.help import HelpScreen
from console.ui.screens.queue_detail import QueueDetailScreen
from console.ui.screens.task_detail import TaskDetailScreen
from console.ui.screens.worker_detail import WorkerDetailScreen
from console.ui.widgets.confirm import ConfirmDialog
from console.ui.widgets.form import FormDialog
from console.ui.widgets.live_table import LiveTable
from console.ui.widgets.vim_table import VimTable

ROOT = Path(__file__).resolve().parent.parent
SIZE = (160, 48)

HOSTILE = {
    "close-tag": "[/b]",
    "colour": "[red]x[/red]",
    "link": "[link=http://x]y[/link]",
    "click": "[@click=app.quit]z[/]",
    "ansi": "\x1b[31mRED\x1b[0m\x1b]0;pwned\x07\x1b[2J",
    "carriage-return": "over\rwritten",
    "rtl": "\u202eلا تثق\u202c",
    "emoji": "🔥👩\u200d👩\u200d👧 e\u0301",
    "10k": "L" * 10_000,
}
# What must never reach the terminal from a payload.
FORBIDDEN = {chr(i) for i in (*range(32), 127, *range(0x80, 0xA0),
                              *range(0x202A, 0x202F), *range(0x2066, 0x206A))}
WORKER_KEYS = ("plus", "minus", "a", "c", "C", "R", "l", "t", "ctrl+d")
TASK_KEYS = ("x", "X", "l", "t")


def names_for(value: str) -> dict[str, str]:
    """The hostile value as each kind of name. Keys the model holds are
    bounded (255 characters): a longer hostname or id is refused on intake,
    so for the 10k value those carry a prefix of it."""
    key = value if len(value) <= 200 else value[:200]
    return {"host": f"{key}@evil", "uuid": f"{key}-task", "queue": value,
            "name": value}


def hostile_app(value: str):
    app = sample_app()
    state = app.state
    n = names_for(value)
    host, uuid, queue = n["host"], n["uuid"], n["queue"]
    state.apply({"type": "worker-online", "hostname": host, "freq": 2.0,
                 "sw_ident": value, "sw_ver": value, "timestamp": NOW})
    state.apply({"type": "worker-heartbeat", "hostname": host, "freq": 2.0,
                 "active": 1, "processed": 3, "loadavg": [0.5, 0.4, 0.3], "timestamp": NOW})
    state.apply({"type": "task-received", "uuid": uuid, "hostname": host,
                 "name": value, "args": repr((value,)), "kwargs": repr({value: value}),
                 "queue": queue, "routing_key": queue, "parent_id": value,
                 "root_id": value, "timestamp": NOW})
    state.apply({"type": "task-started", "uuid": uuid, "hostname": host, "timestamp": NOW})
    state.apply({"type": "task-failed", "uuid": uuid, "hostname": host,
                 "exception": value, "traceback": f"Traceback (most recent call last):\n"
                 f"  File \"x.py\", line 1, in run\n{value}", "timestamp": NOW})
    state.record_inspection("stats", {host: {
        "pid": 4242, "pool": {"implementation": value, "max-concurrency": 2,
                              "processes": [value]},
        "broker": {"hostname": value, "transport": value}, "total": {value: 3}}})
    state.record_inspection("active_queues", {host: [{"name": queue}]})
    state.record_inspection("registered", {host: [f"{value} [rate_limit={value}]"]})
    state.record_inspection("active", {host: [{"id": uuid, "name": value, "args": value,
                                               "time_start": NOW}]})
    state.record_inspection("conf", {host: {value: value}})
    queues = dict(state.queues)
    queues[queue] = {"name": queue, "messages": 7, "consumers": 0, "exists": True,
                     "error": None, "sources": [value], "probed_at": NOW}
    state.record_queues(queues)
    state.record_action(ActionView(value, (value,), {value: value},
                                   {value: TargetResult(ResultKind.ERROR, value)},
                                   OutcomeStatus.ERROR, value, NOW))
    app.sent = []
    app.perform = lambda description, fn, *a, **kw: app.sent.append(fn.__name__)
    return app


def screen_lines(app) -> list[str]:
    update = app.screen._compositor.render_full_update()
    return ["".join(seg.text for strip in line for seg in strip) for line in update.strips]


def shown(app, where: str) -> str:
    """The screen as text, checked for control characters; the app must
    still be running."""
    assert app.is_running, f"the app stopped at {where}"
    lines = screen_lines(app)
    for number, line in enumerate(lines):
        assert not FORBIDDEN & set(line), (where, number, line[:200])
    return "\n".join(lines)


def expect(value: str, width: int | None = None) -> str:
    """What the screen must show of ``value``: its terminal-safe form, and
    only as much as fits where the screen cuts it."""
    text = one_line(value)
    return text if width is None else text[:width]


async def press(pilot, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await pilot.pause()


async def cancel(pilot, kind) -> None:
    assert isinstance(pilot.app.screen, kind), pilot.app.screen
    await pilot.press("escape")
    await pilot.pause()
    assert not isinstance(pilot.app.screen, kind)


def move_workers_cursor(app, host: str) -> None:
    table = app.screen.query_one(VimTable)
    table.move_cursor(row=table.get_row_index(host), animate=False)


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_hostile_text_on_every_screen_and_dialog(value):
    app = hostile_app(value)
    n = names_for(value)
    async with app.run_test(size=SIZE) as pilot:
        # ---------------------------------------------------------- Workers
        await press(pilot, "1")
        move_workers_cursor(app, n["host"])
        await pilot.pause()
        assert expect(n["host"], 10) in shown(app, "workers")
        for key in WORKER_KEYS:
            await press(pilot, key)
            text = shown(app, f"workers {key}")
            dialog = app.screen
            assert isinstance(dialog, FormDialog), (key, dialog)
            assert expect(n["host"], 20) in text, key
            if key == "C":  # the worker's own queue is the choice
                assert expect(n["queue"], 20) in text
            await cancel(pilot, FormDialog)
        await press(pilot, "enter")
        assert isinstance(app.screen, WorkerDetailScreen)
        text = shown(app, "worker detail")
        assert expect(n["host"], 120) in text
        assert expect(value, 40) in text  # software, pool, conf, registered type
        for key in WORKER_KEYS:
            await press(pilot, key)
            assert expect(n["host"], 20) in shown(app, f"worker detail {key}")
            await cancel(pilot, FormDialog)
        await press(pilot, "escape")

        # ------------------------------------------------------------ Tasks
        await press(pilot, "2")
        table = app.screen.query_one(LiveTable)
        table.move_to(next(i for i, t in enumerate(table.rows) if t.uuid == n["uuid"]))
        await pilot.pause()
        shown(app, "tasks")
        for key in TASK_KEYS:
            await press(pilot, key)
            text = shown(app, f"tasks {key}")
            # Revoke lists the task; the limits name its type.
            assert expect(n["uuid"] if key in "xX" else value, 20) in text, key
            await cancel(pilot, FormDialog)
        await press(pilot, "enter")
        assert isinstance(app.screen, TaskDetailScreen)
        text = shown(app, "task detail")
        assert expect(n["uuid"], 100) in text and expect(value, 100) in text
        for key in TASK_KEYS:
            await press(pilot, key)
            shown(app, f"task detail {key}")
            await cancel(pilot, FormDialog)
        await press(pilot, "p")  # the parent is not held: a toast names it
        await press(pilot, "o")
        shown(app, "task detail parent")
        assert isinstance(app.screen, TaskDetailScreen)
        await press(pilot, "escape")

        # ----------------------------------------------------------- Queues
        await press(pilot, "3")
        move_workers_cursor(app, n["queue"])
        await pilot.pause()
        assert expect(n["queue"], 20) in shown(app, "queues")
        await press(pilot, "p")
        await pilot.pause(0.2)  # the fresh count is read off the UI thread
        text = shown(app, "purge one")
        assert expect(n["queue"], 60) in text  # the title names it exactly
        await cancel(pilot, ConfirmDialog)
        await press(pilot, "space", "P")
        await pilot.pause(0.2)
        assert expect(n["queue"], 20) in shown(app, "purge marked")
        await cancel(pilot, ConfirmDialog)
        move_workers_cursor(app, n["queue"])
        await press(pilot, "enter")
        assert isinstance(app.screen, QueueDetailScreen)
        assert expect(n["queue"], 100) in shown(app, "queue detail")
        await press(pilot, "escape")

        # -------------------------------------------- Events and Action log
        await press(pilot, "4")
        shown(app, "events")
        await press(pilot, "5")
        assert expect(value, 40) in shown(app, "action log")

        # ---------------------------------------- help, palette, `:` line
        await press(pilot, "question_mark")
        shown(app, "help")
        await cancel(pilot, HelpScreen)
        await press(pilot, "ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        app.post_message(events.Paste(value[:200]))  # pasted from a copied row
        await pilot.pause(0.2)
        assert app.screen.query_one(Input).value == one_line(value[:200])
        shown(app, "palette")
        await cancel(pilot, CommandPalette)
        await press(pilot, "colon")
        assert isinstance(app.screen, CommandLine)
        app.post_message(events.Paste(value[:200]))
        await pilot.pause()
        await press(pilot, "enter")
        assert expect(value, 40) in shown(app, "command line error")
        await cancel(pilot, CommandLine)
        assert app.is_running
    assert app.sent == []  # every dialog was cancelled: nothing sent


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_text_in_console_status(value):
    from console.core.status import summarize
    from console.report import render_status

    app = hostile_app(value)
    n = names_for(value)
    report = summarize(sample_target(), app.state)
    out = io.StringIO()
    render_status(report, Console(file=out, width=400, color_system=None,
                                  force_terminal=False))
    table = out.getvalue()
    assert not FORBIDDEN - {"\n"} & set(table), table[:500]
    assert expect(n["host"], 100) in table and expect(n["queue"], 100) in table
    # JSON is data: every value round-trips exactly, escaped by json.
    text = json.dumps(report, default=str)
    assert not FORBIDDEN & set(text)
    decoded = json.loads(text)
    assert n["host"] in {w["hostname"] for w in decoded["workers"]}
    assert n["queue"] in {q["name"] for q in decoded["queues"]}


# ----------------------------------------------------------------- structure
def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add("." * node.level + node.module)
    return found


def test_screens_read_views_not_the_model_lock():
    """No module under console/ui takes the model's lock or indexes an
    inspection reply tuple, and no screen module imports another."""
    ui = ROOT / "console" / "ui"
    for path in ui.rglob("*.py"):
        source = path.read_text()
        assert not re.search(r"\.lock\b", source), path
        assert not re.search(r"\bentry\[\d\]|inspection\([^)]*\)\[\d\]", source), path
    screens = {p.stem for p in (ui / "screens").glob("*.py")}
    # Shared key mixins and the frame are not screens of their own.
    shared = {"base", "frame", "detail", "filtering", "__init__"}
    for path in (ui / "screens").glob("*.py"):
        for module in _imports(path):
            if module.startswith(".") and not module.startswith(".."):
                target = module.lstrip(".")
                assert target not in screens - shared, f"{path.name} imports {module}"


def test_versions_are_attributes_a_typo_fails():
    from console.core.state import ClusterState
    from console.core.views import Topic

    state = ClusterState()
    assert state.versions.get(Topic.TASKS) == 0
    with pytest.raises(AttributeError):
        state.versions.taks += 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        Topic.TASK  # type: ignore[attr-defined]  # noqa: B018


def test_internal_errors_are_counted_apart_and_logged(caplog, monkeypatch):
    """An exception in the console's own intake code is not "malformed
    input": it is counted on its own and logged with its traceback."""
    from console.core.state import ClusterState

    state = ClusterState()
    state.apply("not an event")
    assert state.counters.malformed == 1 and state.counters.internal_errors == 0

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the console")

    monkeypatch.setattr(state, "_task_event", broken)
    with caplog.at_level("ERROR", logger="console.core.state"):
        state.apply({"type": "task-received", "uuid": "u1"})
    assert state.counters.internal_errors == 1 and state.counters.malformed == 1
    record = caplog.records[-1]
    assert record.exc_info and "a bug in the console" in str(record.exc_info[1])


def test_log_file_is_private_and_masks_the_password(tmp_path):
    import logging

    from console.core.logs import setup_logging

    url = "amqp://ops:s3cret-pw-123@rabbit:5672/prod"
    path = setup_logging(tmp_path / "state" / "console.log", url)
    logger = logging.getLogger("console.core.test")
    try:
        raise ConnectionError(f"cannot reach {url} (password s3cret-pw-123)")
    except ConnectionError:
        logger.exception("internal error talking to the broker")
    for handler in logging.getLogger("console").handlers:
        handler.flush()
    text = path.read_text()
    assert "internal error talking to the broker" in text and "Traceback" in text
    assert "s3cret-pw-123" not in text and "ops:****@rabbit" in text
    assert path.stat().st_mode & 0o777 == 0o600


async def test_detail_screens_do_not_move_under_a_dialog():
    """A worker detail screen with a dialog on top keeps what the operator
    read; it catches up once the dialog closes."""
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "1", "enter")
        assert isinstance(app.screen, WorkerDetailScreen)
        detail = app.screen
        host = detail.hostname

        def summary() -> str:
            return str(detail.query_one("#summary").render())

        def active_is(n: int) -> bool:
            return re.search(rf"running now\s+{n}\s", shown_text(detail)) is not None

        def shown_text(screen) -> str:
            console = Console(width=200, record=True, file=io.StringIO())
            console.print(screen.query_one("#summary").content)
            return console.export_text()

        assert not active_is(7)
        await press(pilot, "plus")
        assert isinstance(app.screen, FormDialog)
        app.state.apply({"type": "worker-heartbeat", "hostname": host, "freq": 2.0,
                         "active": 7, "timestamp": NOW})
        await pilot.pause(1.5)  # past the detail screen's 1 s redraw
        assert not active_is(7), summary()  # nothing moved under the dialog
        await cancel(pilot, FormDialog)
        await pilot.pause(1.5)
        assert active_is(7)


def test_what_the_console_did_shows_until_the_workers_own_event():
    from console.core.state import ClusterState

    clock = [10.0]
    state = ClusterState(clock=lambda: clock[0])
    # The sender's clock is far behind ours: only this machine's is compared.
    state.apply({"type": "task-sent", "uuid": "a", "name": "x", "queue": "backlog",
                 "hostname": "client", "timestamp": 1.0})
    state.apply({"type": "task-sent", "uuid": "b", "name": "x", "queue": "other",
                 "hostname": "client", "timestamp": 1.0})
    clock[0] = 30.0  # arrives after the purge (at 20), though sent "at 2"
    state.apply({"type": "task-sent", "uuid": "late", "name": "x", "queue": "backlog",
                 "hostname": "client", "timestamp": 2.0})
    state.apply({"type": "task-received", "uuid": "c", "name": "x", "hostname": "w@h",
                 "timestamp": 11.0})
    state.apply({"type": "task-succeeded", "uuid": "done", "hostname": "w@h",
                 "timestamp": 11.0})
    # Only PENDING tasks of the purged queue, sent before the purge.
    assert state.mark_purged(["backlog"], before=20.0) == 1
    assert state.task_view("a").console_action == "purged"
    assert state.task_view("b").console_action is None
    assert state.task_view("late").console_action is None
    # Revoke: held and not finished; a finished task keeps its state.
    assert state.mark_console_action(["c", "done", "not-held"], "revoke sent") == 1
    assert state.task_view("c").console_action == "revoke sent"
    assert state.task_view("done").console_action is None
    state.apply({"type": "task-revoked", "uuid": "c", "hostname": "w@h", "timestamp": 12.0})
    view = state.task_view("c")
    assert view.state == "REVOKED" and view.console_action is None


def test_active_comes_from_the_fresher_source_and_says_which():
    from console.core.state import ClusterState

    clock = [100.0]
    state = ClusterState(clock=lambda: clock[0])
    state.apply({"type": "worker-heartbeat", "hostname": "w@h", "freq": 2.0, "active": 1,
                 "processed": 5, "timestamp": 100.0})
    view = state.worker_view("w@h")
    assert (view.active, view.active_source) == (1, "heartbeat")
    clock[0] = 101.0
    state.record_inspection("active", {"w@h": []}, expected=["w@h"])
    view = state.worker_view("w@h")
    # The inspection came after the heartbeat: its empty list is the truth.
    assert (view.active, view.active_source, view.active_at) == (0, "inspection", 101.0)
    clock[0] = 102.0
    state.apply({"type": "worker-heartbeat", "hostname": "w@h", "freq": 2.0, "active": 2,
                 "processed": 6, "timestamp": 102.0})
    assert (state.worker_view("w@h").active, state.worker_view("w@h").active_source) \
        == (2, "heartbeat")


def test_action_log_entries_keep_their_key_when_the_bounded_log_rolls():
    from console.core.state import ClusterState
    from console.core.stores import ACTION_LOG, ActionView

    state = ClusterState()
    for i in range(ACTION_LOG + 5):
        state.record_action(ActionView("pool_grow", (f"w{i}",), {}, {}, OutcomeStatus.OK,
                                       "ok", float(i)))
    views = state.action_views()
    assert len(views) == ACTION_LOG
    assert views[0].seq == ACTION_LOG + 4 and views[0].targets == (f"w{ACTION_LOG + 4}",)
    assert views[-1].seq == 5 and views[-1].targets == ("w5",)


def test_a_task_event_does_not_make_a_stale_active_count_fresh():
    from console.core.state import ClusterState

    clock = [100.0]
    state = ClusterState(clock=lambda: clock[0])
    state.apply({"type": "worker-heartbeat", "hostname": "w@h", "freq": 2.0, "active": 1,
                 "timestamp": 100.0})
    clock[0] = 101.0
    state.record_inspection("active", {"w@h": []}, expected=["w@h"])
    clock[0] = 102.0
    state.apply({"type": "task-succeeded", "uuid": "t", "hostname": "w@h", "timestamp": 102.0})
    view = state.worker_view("w@h")
    assert (view.active, view.active_source) == (0, "inspection")
