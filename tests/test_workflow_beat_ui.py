"""The workflow tree in task detail and the Beat screen, driven with keys
on the deterministic sample (extended: a workflow and a late periodic task)."""

from __future__ import annotations

from textual.widgets import DataTable

from console.core.beat import read_schedule
from console.sample import NOW, WORKFLOW_ROOT, sample_app, sample_state, sample_target
from console.ui.screens.beat import BeatScreen
from console.ui.screens.command_line import parse_command
from console.ui.screens.task_detail import TaskDetailScreen
from console.ui.widgets.workflow_tree import WorkflowTree

FLAKY = "0000f1f1-5a3e-4c1d-9b7f-0000000000f1"


def tree_lines(tree: WorkflowTree) -> list[str]:
    return [tree.get_node_at_line(i).label.plain for i in range(tree.last_line + 1)]


async def open_task(pilot, uuid: str) -> None:
    await pilot.press("colon", *f"task {uuid}", "enter")
    await pilot.pause()


async def test_task_detail_shows_the_whole_workflow_and_enter_opens_a_node():
    app = sample_app(extended=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_task(pilot, FLAKY)
        tree = app.screen.query_one(WorkflowTree)
        assert tree.display
        lines = tree_lines(tree)
        assert lines[0].startswith("SUCCESS   0000f100  console.companion.tasks.fan_out")
        assert sum("render_report" in line for line in lines) == 4
        assert any("celery.chord_unlock" in line and "retried 2×" in line for line in lines)
        assert any("tasks.total" in line for line in lines)
        assert any("tasks.flaky" in line and "◀ this task" in line for line in lines)
        # tab reaches the tree; its cursor starts on the task opened; one up
        # is its parent in the chain, send_email, and enter opens it.
        await pilot.press("tab")
        await pilot.pause()
        assert app.screen.focused is tree
        assert tree.cursor_node is not None and tree.cursor_node.data == FLAKY
        await pilot.press("up", "enter")
        await pilot.pause()
        assert isinstance(app.screen, TaskDetailScreen)
        assert app.screen.uuid == "0000f1e0-5a3e-4c1d-9b7f-0000000000e0"


async def test_a_task_on_its_own_shows_no_workflow():
    app = sample_app(extended=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_task(pilot, "0000b004-5a3e-4c1d-9b7f-00000000bea7")
        assert not app.screen.query_one(WorkflowTree).display
        assert not app.screen.query_one("#workflow-title").display


async def test_space_folds_and_a_redraw_keeps_it_folded():
    app = sample_app(extended=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_task(pilot, WORKFLOW_ROOT)
        tree = app.screen.query_one(WorkflowTree)
        tree.focus()
        await pilot.pause()
        before = tree.last_line
        await pilot.press("home", "space")
        await pilot.pause()
        assert tree.last_line == 0
        # A task changes: the tree is rebuilt, still folded.
        app.state.apply({"type": "task-succeeded", "uuid": FLAKY, "hostname": "beta@web-2",
                         "timestamp": NOW, "runtime": 0.5})
        app.screen.draw()
        await pilot.pause()
        assert tree.last_line == 0
        # A new task joins the workflow: the tree's shape changed, it is
        # rebuilt, and what was folded stays folded.
        app.state.apply({"type": "task-sent", "uuid": "late-joiner", "name": "app.extra",
                         "root_id": WORKFLOW_ROOT, "parent_id": WORKFLOW_ROOT,
                         "hostname": "producer@api-1", "timestamp": NOW})
        app.screen.draw()
        await pilot.pause()
        assert tree.last_line == 0
        await pilot.press("space")
        await pilot.pause()
        assert tree.last_line == before + 1
        assert any("app.extra" in line for line in tree_lines(tree))
        assert any("tasks.flaky" in line and "SUCCESS" in line for line in tree_lines(tree))


async def test_beat_screen_lists_the_schedule_last_runs_and_the_late_entry():
    app = sample_app(extended=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("8")
        await pilot.pause()
        assert isinstance(app.screen, BeatScreen)
        table = app.screen.query_one(DataTable)
        rows = {row.value: [str(c) for c in table.get_row(row.value)] for row in table.rows}
        assert list(rows) == ["ping-every-10s", "sync-invoices", "hourly-digest",
                              "nightly-rollup"]
        assert rows["sync-invoices"][1] == "LATE" and rows["sync-invoices"][4] == "5"
        assert rows["ping-every-10s"][1] == "ok"
        assert rows["nightly-rollup"][1] == "waiting"
        assert rows["nightly-rollup"][2] == "never seen"
        assert "1 late" in str(app.screen.query_one("#beat-title").render())
        await pilot.press("slash", *"status:late", "enter")
        await pilot.pause()
        assert [row.value for row in table.rows] == ["sync-invoices"]
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TaskDetailScreen)
        assert app.screen.uuid == "0000b004-5a3e-4c1d-9b7f-00000000bea7"


async def test_beat_is_reached_by_command_line_and_says_when_there_is_no_schedule():
    assert parse_command("beat status:late") == ("beat", "status:late")
    app = sample_app()
    app.monitor.beat = read_schedule(sample_target().app.__class__("empty",
                                                                   set_as_current=False))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("colon", *"beat", "enter")
        await pilot.pause()
        assert isinstance(app.screen, BeatScreen)
        note = str(app.screen.query_one("#beat-note").render())
        assert "defines no periodic tasks" in note


def test_a_database_scheduler_is_said_to_be_unreadable():
    app = sample_target().app
    app.conf.beat_scheduler = "django_celery_beat.schedulers:DatabaseScheduler"
    schedule = read_schedule(app)
    assert not schedule.readable
    assert "cannot read" in schedule.note and "DatabaseScheduler" in schedule.note
    # What beat_schedule holds is still listed.
    assert len(schedule.entries) == 4


def test_beat_view_judges_only_after_watching_long_enough():
    state = sample_state(extended=True)
    view = state.beat_view(read_schedule(sample_target().app), NOW)
    late = {e.name: e.late for e in view.entries}
    assert late == {"ping-every-10s": False, "sync-invoices": True,
                    "hourly-digest": False, "nightly-rollup": None}
    # Disconnected: nothing is judged.
    state.set_connection("reconnecting", "broker gone")
    view = state.beat_view(read_schedule(sample_target().app), NOW)
    assert view.watching_since is None and {e.late for e in view.entries} == {None}


async def test_hostile_names_in_the_tree_are_text_never_markup():
    app = sample_app()
    evil = "[b]x[/b] [link=http://evil]y[/link]\x1b[31m\u202e"
    state = app.state
    state.apply({"type": "task-sent", "uuid": "evil-root", "name": evil, "root_id": "evil-root",
                 "hostname": "c@h", "timestamp": NOW})
    state.apply({"type": "task-sent", "uuid": "evil-kid", "name": evil, "root_id": "evil-root",
                 "parent_id": "evil-root", "group": "[/]" + evil, "hostname": "c@h",
                 "timestamp": NOW})
    async with app.run_test(size=(120, 36)) as pilot:
        await open_task(pilot, "evil-kid")
        lines = tree_lines(app.screen.query_one(WorkflowTree))
        assert len(lines) == 2 and "[b]x[/b]" in lines[1] and "group [/][b]x[/b]" in lines[1]
        assert "\x1b" not in "".join(lines) and "\u202e" not in "".join(lines)
        assert app.is_running


def test_odd_schedules_are_said_not_fatal():
    from celery import Celery
    from celery.schedules import schedule

    from console.core.beat import duration, schedule_text

    class Broken(schedule):
        def remaining_estimate(self, last_run_at):
            raise RuntimeError("custom schedule broke")

    app = Celery("odd", set_as_current=False)
    app.conf.beat_schedule = {
        "not-a-dict": 42,
        "no-schedule": {"task": "a.b"},
        "bad-type": {"task": "a.c", "schedule": "every tuesday"},
        "broken": {"task": "a.d", "schedule": Broken(10)},
        "every-90s": {"task": "a.e", "schedule": 90},
    }
    read = read_schedule(app)
    errors = {e.name: e.error for e in read.entries}
    assert errors["not-a-dict"] == "not a dict" and errors["no-schedule"] == "no schedule"
    assert errors["bad-type"] == ("schedule is a str, not seconds, a timedelta or a "
                                  "schedule")
    assert errors["every-90s"] is None and "custom schedule broke" in errors["broken"]
    assert schedule_text(read.entries[-1].schedule) == "every 1m 30s"
    state = watching(read)
    view = {e.name: e for e in state.beat_view(read, NOW).entries}
    assert view["broken"].status == "unreadable" and "custom schedule broke" in view["broken"].error
    assert view["bad-type"].status == "unreadable"
    assert [duration(s) for s in (2, 2.5, 300, 5400, 86400 * 3)] == [
        "2s", "2.5s", "5m", "1h 30m", "3d"]


def watching(read):
    from console.core.state import ClusterState

    state = ClusterState(clock=lambda: NOW - 100)
    state.watch_task_names(e.task for e in read.entries)
    state.set_connection("connected")
    return state


async def test_the_palette_offers_the_beat_screen():
    from console.ui.commands import palette_entries

    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        titles = {title for title, _help, _target in palette_entries(app.screen)}
        assert "Beat" in titles
