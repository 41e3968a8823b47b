"""Snapshots of every screen and dialog, drawn from the deterministic sample.

Update deliberately with `pytest tests/test_snapshots.py --snapshot-update`
and look at the report before committing.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from console.sample import sample_app, sample_replay_app


@pytest.fixture(autouse=True)
def _steady_cursor(monkeypatch):
    """A focused text box's cursor blinks on a 0.5 s timer that restarts at
    each key: on a loaded machine the picture could be taken after it hid.
    Here it stays shown while the box has focus (blur still hides it)."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)

SCREENS = [("1", "workers"), ("2", "tasks"), ("3", "queues"), ("4", "events"),
           ("5", "log"), ("6", "types"), ("7", "failures")]


class TestMainScreens:
    @pytest.mark.parametrize("key,name", SCREENS, ids=[n for _, n in SCREENS])
    def test_wide(self, snap_compare, key, name):
        assert snap_compare(sample_app(), press=[key], terminal_size=(120, 36))

    @pytest.mark.parametrize("key,name", SCREENS, ids=[n for _, n in SCREENS])
    def test_narrow(self, snap_compare, key, name):
        assert snap_compare(sample_app(), press=[key], terminal_size=(80, 24))


class TestDialogs:
    def test_help(self, snap_compare):
        assert snap_compare(sample_app(), press=["question_mark"], terminal_size=(120, 36))

    def test_command_line(self, snap_compare):
        assert snap_compare(sample_app(), press=["colon", *"tasks state:FAILURE"],
                            terminal_size=(120, 36))

    def test_tasks_filtered_by_command(self, snap_compare):
        assert snap_compare(sample_app(), press=["colon", *"t state:FAILURE", "enter"],
                            terminal_size=(120, 36))

    def test_read_only_header(self, snap_compare):
        assert snap_compare(sample_app(read_only=True), terminal_size=(120, 36))


class TestMonitoring:
    def test_task_detail_failure(self, snap_compare):
        # The sample's first failure: a task with a traceback.
        async def open_failure(pilot):
            await pilot.press("2", "colon", *"t state:failure", "enter")
            await pilot.pause()
            await pilot.press("G", "enter")
            await pilot.pause()

        assert snap_compare(sample_app(), run_before=open_failure, terminal_size=(120, 36))

    def test_task_detail_success(self, snap_compare):
        async def open_success(pilot):
            await pilot.press("2", "j", "j", "j", "j", "j", "j", "j", "j", "j", "j", "j",
                              "j", "enter")
            await pilot.pause()

        assert snap_compare(sample_app(), run_before=open_success, terminal_size=(120, 36))

    def test_tasks_sorted_marked_frozen(self, snap_compare):
        assert snap_compare(sample_app(), press=["2", "s", "s", "space", "space", "f"],
                            terminal_size=(120, 36))

    def test_tasks_filter_line_open(self, snap_compare):
        assert snap_compare(sample_app(), press=["2", "slash", *"state:revoked"],
                            terminal_size=(120, 36))

    def test_tasks_filter_error(self, snap_compare):
        # A typo is an error in the bar naming the state meant, not "0 tasks".
        assert snap_compare(sample_app(), press=["2", "slash", *"state:failed", "enter"],
                            terminal_size=(120, 36))

    def test_tasks_filter_completion(self, snap_compare):
        assert snap_compare(sample_app(), press=["2", "slash", *"name:add state:fa"],
                            terminal_size=(120, 36))

    def test_events_filtered(self, snap_compare):
        assert snap_compare(sample_app(), press=["4", "slash", *"failed", "enter"],
                            terminal_size=(120, 36))


class TestQueuesAndActions:
    def test_action_detail(self, snap_compare):
        # The partial rate limit: every target's outcome, the full type.
        assert snap_compare(sample_app(), press=["5", "j", "enter"], terminal_size=(120, 36))

    def test_purge_one(self, snap_compare):
        async def run(pilot):
            await pilot.press("3")
            await pilot.pause()
            await pilot.press("p")
            await pilot.pause(0.3)

        assert snap_compare(sample_app(), run_before=run, terminal_size=(120, 36))

    def test_purge_marked(self, snap_compare):
        async def run(pilot):
            await pilot.press("3")
            await pilot.pause()
            await pilot.press("space", "space", "P")
            await pilot.pause(0.3)
            await pilot.press("tab", "2")

        assert snap_compare(sample_app(), run_before=run, terminal_size=(120, 36))

    @pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["wide", "narrow"])
    def test_queue_detail(self, snap_compare, size):
        assert snap_compare(sample_app(), run_before=_queue_detail(), terminal_size=size)

    @pytest.mark.parametrize("key", ["p", "m"], ids=["remove", "move"])
    def test_queue_surgery_dialog(self, snap_compare, key):
        assert snap_compare(sample_app(), run_before=_queue_detail(key, "4"),
                            terminal_size=(120, 36))

    def test_queue_surgery_dialog_narrow(self, snap_compare):
        assert snap_compare(sample_app(), run_before=_queue_detail("p"),
                            terminal_size=(80, 24))

    @pytest.mark.parametrize("preflight", [False, True], ids=["one", "preflight"])
    def test_rerun_dialog(self, snap_compare, preflight):
        assert snap_compare(sample_app(), run_before=_rerun(preflight),
                            terminal_size=(120, 36))

    def test_queues_read_only(self, snap_compare):
        assert snap_compare(sample_app(read_only=True), press=["3"], terminal_size=(120, 36))


def _rerun(preflight: bool):
    """`r` on Tasks; for the preflight, three marked tasks, one of them with
    args Celery cut (so it needs editing)."""
    async def run(pilot):
        from console.sample import NOW

        if preflight:
            pilot.app.state.apply({
                "type": "task-received", "uuid": "0badc0de-0000-4000-8000-000000000001",
                "name": "reports.rebuild_all", "args": "('" + "x" * 1010 + "...',)",
                "kwargs": "{}", "hostname": "alpha@web-1", "timestamp": NOW - 1.0})
        await pilot.press("2")
        await pilot.pause()
        if preflight:
            await pilot.press("space", "j", "space", "j", "space")
        await pilot.press("r")
        for _ in range(100):
            if getattr(pilot.app.screen, "plans", True) is not None:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.2)
    return run


def _queue_detail(*keys):
    """The flooded queue's detail once its messages are read, then keys
    (and, for a dialog, once its fresh count is in)."""
    async def run(pilot):
        await pilot.press("3", "enter")
        for _ in range(100):
            if getattr(pilot.app.screen, "peek", None) is not None:
                break
            await pilot.pause(0.05)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        for _ in range(100):
            if getattr(pilot.app.screen, "selection", True) is not None:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.2)
    return run


async def _press(pilot, *keys):
    for key in keys:
        await pilot.press(key)
        await pilot.pause()
    await pilot.pause(0.2)


# (name, keys): every remote-control dialog as it opens, and one refusal.
CONTROL_DIALOGS = [
    ("revoke_marked", ["2", "space", "space", "x"]),
    ("terminate", ["2", "j", "j", "j", "j", "j", "j", "X"]),
    ("rate_limit", ["2", "l"]),
    ("rate_limit_refused", ["2", "l", "a", "b", "c", "enter"]),
    ("time_limit", ["1", "t"]),
    ("pool_grow", ["1", "plus"]),
    ("autoscale", ["1", "a"]),
    ("add_consumer", ["1", "c"]),
    ("cancel_consumer", ["1", "j", "C"]),
    ("pool_restart", ["1", "R"]),
    ("shutdown_marked", ["1", "space", "space", "ctrl+d"]),
]

# Every dialog, for the 80x24 snapshots.
SMALL_DIALOGS = [*CONTROL_DIALOGS[:1], *CONTROL_DIALOGS[2:3], *CONTROL_DIALOGS[4:],
                 ("purge_one", ["3", "p"]), ("purge_all", ["3", "P"]),
                 ("help", ["2", "question_mark"]), ("command_line", ["colon"])]


class TestRemoteControl:
    def test_worker_detail(self, snap_compare):
        assert snap_compare(sample_app(), run_before=lambda p: _press(p, "1", "enter"),
                            terminal_size=(120, 36))

    def test_worker_detail_no_reply(self, snap_compare):
        assert snap_compare(sample_app(), run_before=lambda p: _press(p, "1", "G", "enter"),
                            terminal_size=(120, 36))

    @pytest.mark.parametrize("name,keys", CONTROL_DIALOGS, ids=[n for n, _ in CONTROL_DIALOGS])
    def test_dialog(self, snap_compare, name, keys):
        assert snap_compare(sample_app(), run_before=lambda p: _press(p, *keys),
                            terminal_size=(120, 36))

    @pytest.mark.parametrize("name,keys", SMALL_DIALOGS, ids=[n for n, _ in SMALL_DIALOGS])
    def test_dialog_at_80x24(self, snap_compare, name, keys):
        # Every dialog fits a small terminal: content scrolls, buttons show.
        assert snap_compare(sample_app(), run_before=lambda p: _press(p, *keys),
                            terminal_size=(80, 24))

    def test_rate_limit_removal_shows_now_and_new(self, snap_compare):
        """The explicit removal: "now: rate_limit=10/s → no limit"."""
        async def run(pilot):
            from textual.widgets import Input, Select

            await _press(pilot, "1", "l")
            dialog = pilot.app.screen
            dialog.query_one("#field-task", Select).value = \
                "console.companion.tasks.send_email"
            dialog.query_one("#field-rate", Input).value = "none"
            await pilot.pause(0.2)

        assert snap_compare(sample_app(), run_before=run, terminal_size=(120, 36))

    def test_workers_read_only(self, snap_compare):
        assert snap_compare(sample_app(read_only=True), press=["1"], terminal_size=(120, 36))


async def _stack(pilot, host: str, running: bool = True):
    """The stack screen of ``host``: of its first running task, or of every
    process; once the (sample's) reply is drawn."""
    app = pilot.app
    task = next((t.uuid for t in app.state.tasks_newest_first()
                 if t.state == "STARTED" and t.worker == host), None) if running else None
    app.open_stack(host, task)
    await _read_in(pilot, "reports")


async def _read_in(pilot, name: str) -> None:
    """Until the screen's ``name`` (read off the UI thread) is in."""
    for _ in range(100):
        if getattr(pilot.app.screen, name, None) is not None:
            break
        await pilot.pause(0.05)
    await pilot.pause(0.2)


class TestInsight:
    def test_stack_of_a_running_task(self, snap_compare):
        assert snap_compare(sample_app(), run_before=lambda p: _stack(p, "alpha@web-1"),
                            terminal_size=(120, 36))

    def test_stack_not_installed(self, snap_compare):
        assert snap_compare(sample_app(), run_before=lambda p: _stack(p, "beta@web-2", False),
                            terminal_size=(120, 36))

    def test_doctor(self, snap_compare):
        async def run(pilot):
            await pilot.press("9")
            await _read_in(pilot, "diagnosis")

        assert snap_compare(sample_app(), run_before=run, terminal_size=(120, 36))


class TestWorkflowAndBeat:
    """The extended sample: a workflow (a chord started by a task, a chain
    with retries) and a beat schedule with one late entry."""

    def test_workflow_tree(self, snap_compare):
        async def open_flaky(pilot):
            await pilot.press("colon", *"task 0000f1f1-5a3e-4c1d-9b7f-0000000000f1", "enter")
            await pilot.pause()
            await pilot.press("end")  # the tree in view
            await pilot.pause()

        assert snap_compare(sample_app(extended=True), run_before=open_flaky,
                            terminal_size=(120, 36))

    @pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["wide", "narrow"])
    def test_beat(self, snap_compare, size):
        assert snap_compare(sample_app(extended=True), press=["8"], terminal_size=size)

    def test_beat_help(self, snap_compare):
        assert snap_compare(sample_app(extended=True), press=["8", "question_mark"],
                            terminal_size=(120, 36))


class TestReplay:
    def test_replay_paused_tasks(self, snap_compare):
        # The header reads "replay ×10, paused, at <the recording's time>".
        assert snap_compare(sample_replay_app(600), press=["2"], terminal_size=(120, 36))

    def test_replay_paused_workers_narrow(self, snap_compare):
        assert snap_compare(sample_replay_app(600), terminal_size=(80, 24))


def stuck_sample_app():
    """The sample with a low threshold: its running tasks are stuck."""
    app = sample_app()
    app.state.triage.stuck_floor, app.state.triage.stuck_factor = 1.0, 0.0
    return app


class TestTriage:
    def test_task_types_sorted_by_fail_rate(self, snap_compare):
        assert snap_compare(sample_app(), press=["6", "s", "s"], terminal_size=(120, 36))

    def test_failure_group(self, snap_compare):
        assert snap_compare(sample_app(), press=["7", "s", "enter"], terminal_size=(120, 36))

    def test_retries_by_cause(self, snap_compare):
        assert snap_compare(sample_app(), press=["7", "r"], terminal_size=(120, 36))

    def test_stuck_in_header_tasks_and_worker_detail(self, snap_compare):
        assert snap_compare(stuck_sample_app(), press=["1", "enter"], terminal_size=(120, 36))

    def test_tasks_is_stuck(self, snap_compare):
        assert snap_compare(stuck_sample_app(), press=["colon", *"t is:stuck", "enter"],
                            terminal_size=(120, 36))
