"""The Tasks screen with keys: filter, sort, marks, freeze, cursor, detail."""

from __future__ import annotations

import io
import re

from rich.console import Console

from console.sample import NOW, sample_app
from console.ui.screens.task_detail import TaskDetailScreen
from console.ui.widgets.filter_bar import FilterBox
from console.ui.widgets.live_table import LiveTable


async def open_tasks(pilot):
    await pilot.press("2")
    await pilot.pause()
    return pilot.app.screen.query_one(LiveTable)


def rendered(static) -> str:
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(static.content)
    return console.export_text()


def title(app) -> str:
    return str(app.screen.query_one("#task-title").render())


async def test_newest_first_and_every_task_reachable():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_tasks(pilot)
        assert len(table.rows) == 240
        assert table.rows[0].uuid.startswith("000000ef")  # the last one sent
        await pilot.press("G")
        assert table.cursor == 239 and table.cursor_record.uuid.startswith("00000000")
        await pilot.press("g")
        assert table.cursor == 0


async def test_filter_stays_applied_and_escape_clears_it():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_tasks(pilot)
        await pilot.press("slash", *"state:failure worker:beta", "enter")
        await pilot.pause()
        assert {(t.state, t.worker) for t in table.rows} == {("FAILURE", "beta@web-2")}
        assert "filter: state:failure worker:beta" in title(app)
        app.state.apply({"type": "task-failed", "uuid": "late-failure",
                         "hostname": "beta@web-2", "name": "x"})
        await pilot.pause(1.2)  # a filtered view is rebuilt once a second
        assert any(t.uuid == "late-failure" for t in table.rows)
        await pilot.press("escape")
        await pilot.pause()
        assert len(table.rows) == 241 and "filter" not in title(app)


async def test_bad_filter_is_reported_not_raised():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_tasks(pilot)
        await pilot.press("slash", *'name:"unclosed', "enter")
        await pilot.pause()
        box = app.screen.query_one(FilterBox)
        assert box.has_class("editing")  # still open on the text
        assert "cannot read filter" in str(box.query_one(".filter-help").render())
        assert len(table.rows) == 240


def filter_help(app) -> str:
    return str(app.screen.query_one(FilterBox).query_one(".filter-help").render())


async def test_a_filter_typo_is_an_error_in_the_bar_and_the_filter_in_force_stays():
    """`state:failed` used to show "0 tasks" while ten failures were held."""
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_tasks(pilot)
        await pilot.press("slash", *"state:failure", "enter")
        await pilot.pause()
        assert len(table.rows) == 10
        await pilot.press("slash", "ctrl+u", *"state:failed")
        await pilot.pause()
        assert "no state 'failed' — did you mean FAILURE?" in filter_help(app)  # as typed
        await pilot.press("enter")
        await pilot.pause()
        box = app.screen.query_one(FilterBox)
        assert box.has_class("editing") and "not applied" in filter_help(app)
        assert len(table.rows) == 10 and "filter: state:failure" in title(app)
        await pilot.press("escape")  # closes the bar; the filter in force stays
        await pilot.pause()
        assert not box.has_class("editing") and len(table.rows) == 10
        await pilot.press("slash", "ctrl+u", *"status:failure", "enter")
        await pilot.pause()
        assert "did you mean state:?" in filter_help(app)


async def test_the_filter_box_completes_fields_and_states():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_tasks(pilot)
        await pilot.press("slash", *"sta")
        await pilot.pause()
        await pilot.press("right")  # accepts the suggestion
        await pilot.press(*"fa")
        await pilot.pause()
        await pilot.press("right", "enter")
        await pilot.pause()
        assert app.screen.row_filter.text == "state:failure"
        assert {t.state for t in table.rows} == {"FAILURE"}


async def test_sort_cycles_columns_and_reverses():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_tasks(pilot)
        await pilot.press("s", "s")  # uuid, then name
        await pilot.pause()
        names = [t.name for t in table.rows]
        assert names == sorted(names, reverse=True) and "sort: name ↓" in title(app)
        await pilot.press("S")
        await pilot.pause()
        assert [t.name for t in table.rows] == sorted(names)


async def test_marks_toggle_and_count():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_tasks(pilot)
        first, second = table.rows[0].uuid, table.rows[1].uuid
        await pilot.press("space", "space")
        screen = app.screen
        assert screen.marks == {first, second} and "marked: 2" in title(app)
        await pilot.press("k", "space")
        assert screen.marks == {first}


async def test_cursor_stays_on_its_task_while_rows_arrive():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_tasks(pilot)
        await pilot.press("j", "j", "j")
        chosen = table.cursor_record
        for i in range(25):
            app.state.apply({"type": "task-received", "uuid": f"new-{i}",
                             "hostname": "alpha@web-1", "name": "fresh", "timestamp": NOW})
        await pilot.pause(0.4)
        assert table.rows[0].uuid == "new-24"
        assert table.cursor_record is chosen and table.cursor == 28


async def test_freeze_stops_the_table_changing():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_tasks(pilot)
        await pilot.press("j", "f")  # pinned on row 2, then frozen
        before = list(table.rows)
        shown = table.rows[0]
        first_line = table.render_line(1).text
        assert "RECEIVED" in first_line
        app.state.apply({"type": "task-received", "uuid": "while-frozen",
                         "hostname": "alpha@web-1", "name": "x"})
        # The row on screen finishes meanwhile: frozen, it keeps its state.
        app.state.apply({"type": "task-succeeded", "uuid": shown.uuid,
                         "hostname": shown.worker, "runtime": 0.5})
        await pilot.pause(0.4)
        assert table.rows == before and "FROZEN" in title(app) and "1 newer" in title(app)
        assert table.render_line(1).text == first_line
        await pilot.press("f")  # follow: to the newest, rows live again
        await pilot.pause(0.4)
        assert table.rows[0].uuid == "while-frozen" and table.cursor == 0
        assert "SUCCESS" in table.render_line(2).text


async def test_detail_shows_failure_and_navigates_to_parent_and_children():
    app = sample_app()
    state = app.state
    state.apply({"type": "task-received", "uuid": "parent-1", "hostname": "alpha@web-1",
                 "name": "pipeline.start", "args": "()", "kwargs": "{}"})
    state.apply({"type": "task-received", "uuid": "child-1", "hostname": "alpha@web-1",
                 "name": "pipeline.step", "parent_id": "parent-1", "root_id": "parent-1"})
    state.apply({"type": "task-failed", "uuid": "child-1", "hostname": "alpha@web-1",
                 "exception": "KeyError('x')",
                 "traceback": "Traceback (most recent call last):\nKeyError: 'x'\n"})
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_tasks(pilot)
        index = next(i for i, t in enumerate(table.rows) if t.uuid == "child-1")
        table.move_to(index)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TaskDetailScreen) and app.screen.uuid == "child-1"
        text = rendered(app.screen.query_one("#failure"))
        assert "KeyError('x')" in text and "Traceback (most recent call last)" in text
        await pilot.press("p")
        await pilot.pause()
        assert app.screen.uuid == "parent-1"
        children = app.screen.query_one("#children")
        assert children.option_count == 1
        children.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.uuid == "child-1"
        await pilot.press("escape", "escape", "escape")
        await pilot.pause()
        assert app.current_mode == "tasks" and not isinstance(app.screen, TaskDetailScreen)


def arrive(app, prefix: str, n: int) -> None:
    for i in range(n):
        app.state.apply({"type": "task-received", "uuid": f"{prefix}-{i}",
                         "hostname": "alpha@web-1", "name": "fresh", "timestamp": NOW})


async def test_a_cursor_moved_back_to_row_one_is_pinned_not_following():
    """On row 1 after j, k the cursor used to drift to each new task."""
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_tasks(pilot)
        assert "cursor follows the first row" in title(app)
        await pilot.press("j", "k")
        chosen = table.cursor_record.uuid
        assert table.cursor == 0 and f"cursor pinned on {chosen[:8]}" in title(app)
        arrive(app, "new", 5)
        await pilot.pause(0.4)
        assert table.rows[0].uuid == "new-4"
        assert table.cursor_record.uuid == chosen and table.cursor == 5
        await pilot.press("g")  # follows the newest again
        await pilot.pause()
        arrive(app, "newer", 2)
        await pilot.pause(0.4)
        assert table.cursor_record.uuid == "newer-1" and "follows" in title(app)


async def test_escape_then_x_after_a_detail_targets_the_task_just_read():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_tasks(pilot)
        read = table.cursor_record.uuid  # following: row 1, never moved
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TaskDetailScreen) and app.screen.uuid == read
        arrive(app, "while-reading", 3)
        await pilot.pause(0.4)
        await pilot.press("escape", "x")
        await pilot.pause()
        dialog = app.screen
        assert type(dialog).__name__ == "FormDialog"
        names = " ".join(str(t) for t in dialog.targets)
        assert read in names and "while-reading" not in names


async def test_marking_pins_and_a_screen_switch_follows_again():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_tasks(pilot)
        await pilot.press("space")  # marks row 1, pins on row 2
        pinned = table.cursor_record.uuid
        arrive(app, "new", 3)
        await pilot.pause(0.4)
        assert table.cursor_record.uuid == pinned
        await pilot.press("1", "2")
        await pilot.pause()
        assert table.follow == "first" and table.cursor_record.uuid == "new-2"


async def test_workers_cursor_stays_on_its_worker_when_rows_above_go():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.screen
        table = screen.query_one("#workers")
        await pilot.press("j")
        chosen = table.cursor_key
        assert chosen == "beta@web-2"
        screen.apply_filter("worker:t")  # alpha, above it, goes; gamma stays below
        await pilot.pause()
        assert [r.value for r in table.rows] == ["beta@web-2", "gamma@batch-1"]
        assert table.cursor_key == chosen
        screen.apply_filter("")
        await pilot.pause()
        assert table.cursor_key == chosen


async def test_a_retried_task_is_not_its_own_parent_and_each_retry_shows_in_order():
    """Celery re-sends a retry from inside the task: its events name the
    task as its own parent, and one timestamp per event type kept one
    `retried` before the last `received` despite three retries."""
    app = sample_app()
    state = app.state
    state.apply({"type": "task-sent", "uuid": "r-1", "name": "flaky", "parent_id": "p-1",
                 "root_id": "p-1", "queue": "default", "hostname": "client", "timestamp": 100.0})
    at = 100.0
    for retry in range(3):
        for subject in ("received", "started"):
            at += 1
            state.apply({"type": f"task-{subject}", "uuid": "r-1", "hostname": "alpha@web-1",
                         "timestamp": at, "retries": retry})
        at += 1
        state.apply({"type": "task-sent", "uuid": "r-1", "name": "flaky", "parent_id": "r-1",
                     "root_id": "p-1", "hostname": "alpha@web-1", "timestamp": at,
                     "retries": retry + 1})
        at += 1
        state.apply({"type": "task-retried", "uuid": "r-1", "hostname": "alpha@web-1",
                     "timestamp": at, "exception": "Timeout()"})
    for subject in ("received", "started", "succeeded"):
        at += 1
        state.apply({"type": f"task-{subject}", "uuid": "r-1", "hostname": "alpha@web-1",
                     "timestamp": at})
    view = state.task_view("r-1")
    assert view.parent_id == "p-1"  # the parent it was sent by
    assert state.task("r-1").parent_id == "r-1"  # the model stays Celery's
    assert state.children_views("r-1", 10) == []  # not its own child
    names = [name for name, _ in view.timeline]
    assert names.count("retried") == 3 and names.count("received") == 4
    assert names[:3] == ["sent", "received", "started"] and names[-1] == "succeeded"
    assert [t for _, t in view.timeline] == sorted(t for _, t in view.timeline)
    async with app.run_test(size=(120, 60)) as pilot:
        app.push_screen(TaskDetailScreen("r-1"))
        await pilot.pause()
        text = rendered(app.screen.query_one("#timeline"))
        assert "attempt" in text
        assert re.search(r"succeeded\s+4\s", text), text
        assert "p-1" in rendered(app.screen.query_one("#summary"))


async def test_narrow_tasks_scroll_sideways_and_keep_the_id():
    app = sample_app()
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_tasks(pilot)
        header = table.render_line(0).text
        assert all(label in header for label in ("uuid", "name", "state", "worker"))
        assert "runtime" not in header
        await pilot.press("right", "right", "right", "right")
        header = table.render_line(0).text
        assert header.split()[0] == "uuid" and "‹4" in header and "runtime" in header
        assert table.rows[0].uuid[:8] in table.render_line(1).text  # the id stays
        await pilot.press("left", "left", "left", "left")
        assert "‹" not in table.render_line(0).text and "name" in table.render_line(0).text


async def test_a_pinned_task_that_leaves_the_view_leaves_no_row_under_the_cursor():
    """Filtered to STARTED, the chosen task finishes: the cursor must not
    slide onto another running task for `x` to revoke."""
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_tasks(pilot)
        await pilot.press("slash", *"state:started", "enter")
        await pilot.pause()
        await pilot.press("j")
        chosen = table.cursor_record
        app.state.apply({"type": "task-succeeded", "uuid": chosen.uuid,
                         "hostname": chosen.worker, "runtime": 0.1})
        await pilot.pause(1.3)  # a filtered view is rebuilt once a second
        assert chosen.uuid not in {t.uuid for t in table.rows} and table.rows
        assert table.cursor_record is None and "is not listed" in title(app)
        await pilot.press("x")
        await pilot.pause()
        assert type(app.screen).__name__ == "TasksScreen"  # nothing to revoke
        await pilot.press("escape")  # the filter goes: the task is back under it
        await pilot.pause(0.3)
        assert table.cursor_record is chosen


async def test_filters_take_custom_states_held_and_never_crash_on_a_backslash():
    app = sample_app()
    app.state.apply({"type": "task-progress", "uuid": "custom-1", "hostname": "alpha@web-1",
                     "name": "long"})
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_tasks(pilot)
        await pilot.press("slash", *"state:progress", "enter")
        await pilot.pause()
        assert [t.uuid for t in table.rows] == ["custom-1"]
        await pilot.press("slash", "ctrl+u", *"a\\ b", "enter")  # shlex cannot read it
        await pilot.pause()
        assert app.is_running and "cannot read filter" in filter_help(app)


async def test_a_wide_filter_shows_its_first_rows_at_once_and_the_rest_between_keys(
        monkeypatch):
    # 240 tasks tested 16 at a time: as a million are, 65,536 at a time.
    monkeypatch.setattr("console.ui.screens.tasks.SELECTION_STEP", 16)
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_tasks(pilot)
        screen = app.screen
        everything = list(table.rows)
        # Free text (a test of every row) matching a quarter of them.
        expected = [t for t in everything if "flaky" in t.name]
        assert len(expected) == 60
        screen.apply_filter("flaky")
        # The first piece is on screen, and the title says it is a part.
        assert screen._selection is not None
        assert table.rows == expected[:len(table.rows)]
        assert re.search(r"\d+ tasks? so far \(filtering: 7%\)", title(app))
        # Nothing moves under a dialog: the pass waits for it to close.
        app.action_help()
        shown = len(table.rows)
        for _ in range(5):
            await pilot.pause()
        assert screen._selection is not None and len(table.rows) == shown
        await pilot.press("escape")
        for _ in range(40):
            if screen._selection is None:
                break
            await pilot.pause()
        assert table.rows == expected and "filtering" not in title(app)
        assert f"{len(expected)} tasks" in title(app)
        # What reads or acts on the rows gets the whole result, not a part,
        # and the title says so at once.
        screen.apply_filter("state:success")  # 210 of 240: tested row by row
        assert screen._selection is not None
        exported = screen.export_view()
        assert screen._selection is None and len(exported.rows) == 210
        assert table.rows == [t for t in everything if t.state == "SUCCESS"]
        assert "210 tasks" in title(app) and "filtering" not in title(app)
        # The last row, chosen before the pass ended, is the true last one.
        screen.apply_filter("flaky")
        table.action_last()
        assert screen._selection is not None and table.cursor_record is not expected[-1]
        assert screen.cursor_id() == ("task id", expected[-1].uuid)
        assert table.cursor_record is expected[-1]
        # A refresh behind complete rows is dropped by a freeze: what is
        # frozen is what was drawn.
        drawn = table.rows
        screen._rebuild_every = 0
        screen.tick(app.now(), force=True)  # the refresh: built behind
        assert screen._selection is not None and not screen._selection_shown
        assert table.rows is drawn
        screen.action_freeze()  # `f` before the next step
        assert screen.frozen and screen._selection is None and table.rows is drawn
        for _ in range(3):
            await pilot.pause()
        assert table.rows is drawn


async def test_a_sort_shows_its_first_rows_at_once_and_the_rest_between_keys(monkeypatch):
    # 240 tasks sorted 16 at a time, the first 5 found first: as a million
    # are, 65,536 at a time and a thousand first.
    monkeypatch.setattr("console.ui.screens.tasks.SELECTION_STEP", 16)
    monkeypatch.setattr("console.core.sorting.HEAD", 5)
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_tasks(pilot)
        screen = app.screen
        everything = list(table.rows)
        expected = sorted(everything, key=lambda t: t.uuid, reverse=True)
        screen.action_sort()  # `s`: by id, descending
        # The first rows of the order are on screen, and the title says so.
        assert screen._selection is not None
        assert table.rows == expected[:5]
        assert re.search(r"first 5 of 240 tasks \(sorting: \d+%\)", title(app))
        # Nothing moves under a dialog.
        app.action_help()
        for _ in range(5):
            await pilot.pause()
        assert screen._selection is not None and table.rows == expected[:5]
        await pilot.press("escape")
        for _ in range(60):
            if screen._selection is None:
                break
            await pilot.pause(0.02)
        assert table.rows == expected and "sorting" not in title(app)
        assert "240 tasks" in title(app) and "sort: uuid ↓" in title(app)
        # A step whose callback was lost (handed to a dialog closed at once)
        # is asked for again by the next tick: the pass never stalls.
        monkeypatch.setattr("console.ui.screens.tasks.STEP_RETRY", 0.1)
        screen.action_reverse()  # a new pass: its first rows, the rest posted
        assert screen._selection is not None
        screen._step_token += 1  # the posted step is lost
        for _ in range(60):
            if screen._selection is None:
                break
            screen.tick(app.now(), force=True)
            await pilot.pause(0.05)
        assert table.rows == expected[::-1]
        # A filter runs first, then its result is sorted; an export waits
        # for the whole of both.
        screen.action_reverse()  # by id, descending again
        screen.apply_filter("flaky")
        assert screen._selection is not None
        # The filter first: nothing sorted to show yet, and the title says
        # what runs, not a count of nothing.
        assert table.rows == [] and "0 tasks" not in title(app)
        assert re.search(r"\(filtering, then sorting: \d+%\)", title(app))
        exported = screen.export_view()
        assert screen._selection is None and len(exported.rows) == 60
        assert table.rows == [t for t in expected if "flaky" in t.name]
