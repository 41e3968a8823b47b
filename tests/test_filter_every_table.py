"""`/` filters every table with the same language and the same error rule
(issue: `/` filters every table; filters never lie by silence)."""

from __future__ import annotations

import re

import pytest
from textual.widgets import DataTable, OptionList, RichLog

from console.sample import sample_app
from test_tasks_screen import rendered
from console.ui.screens.task_detail import TaskDetailScreen
from console.ui.screens.worker_detail import WorkerDetailScreen
from console.ui.widgets.filter_bar import FilterBox


def help_line(app) -> str:
    return str(app.screen.query_one(FilterBox).query_one(".filter-help").render())


def keys_of(table: DataTable) -> list:
    return [row.value for row in table.rows]


async def type_filter(pilot, text: str) -> None:
    await pilot.press("slash", "ctrl+u", *text, "enter")
    await pilot.pause()


async def test_queues_filter_by_name_and_by_consumer():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert len(keys_of(table)) == 6
        await type_filter(pilot, "worker:beta")
        assert sorted(keys_of(table)) == ["default", "reports", "slow"]
        await type_filter(pilot, "EMAIL")  # free text: the name, any case
        assert keys_of(table) == ["emails"]
        title = str(app.screen.query_one("#queues-title").render())
        assert "filter: EMAIL" in title and "1 queue," in title
        await type_filter(pilot, "status:x")  # Queues have no status field
        assert "queues have no field status:" in help_line(app)
        assert keys_of(table) == ["emails"]  # the filter in force stays
        await pilot.press("escape", "escape")  # close the bar, then clear
        await pilot.pause()
        assert len(keys_of(table)) == 6


async def test_events_filter_by_type_worker_and_text():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        log = app.screen.query_one(RichLog)

        def lines() -> list[str]:
            return [strip.text for strip in log.lines]

        assert len(lines()) > 20
        await type_filter(pilot, "type:task-failed worker:beta")
        shown = lines()
        assert shown and all("task-failed" in line and "beta@" in line for line in shown)
        await type_filter(pilot, "type:task-failed")
        assert len(lines()) > len(shown)
        await type_filter(pilot, "state:failed")
        assert "events have no field state:" in help_line(app)


async def test_action_log_filter_by_status_action_and_target():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("5")
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        everything = table.row_count
        assert everything == 3
        await type_filter(pilot, "status:error")
        assert table.row_count == 1
        assert "emials" in str(table.get_row_at(0)[3])
        title = str(app.screen.query_one("#log-title").render())
        assert "1 action of 3" in title and "filter: status:error" in title
        await type_filter(pilot, "action:rate target:gamma")
        assert table.row_count == 1 and "rate_limit" in str(table.get_row_at(0)[1])
        await type_filter(pilot, "status:eror")
        assert "did you mean error?" in help_line(app)
        assert "status is one of ok, partial" in help_line(app)
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert table.row_count == everything


async def test_worker_detail_filters_its_task_lists_and_escape_clears_before_leaving():
    app = sample_app()
    async with app.run_test(size=(120, 60)) as pilot:
        app.push_screen(WorkerDetailScreen("alpha@web-1"))
        await pilot.pause()
        screen = app.screen

        def section(name: str) -> str:
            return rendered(screen.query_one(f"#{name}"))

        assert "send_email" in section("registered") and "add" in section("registered")
        await type_filter(pilot, "name:email")
        registered = section("registered")
        assert "send_email" in registered and "render_report" not in registered
        assert "1 of 4 match the filter" in registered
        assert "filter: name:email" in str(screen.query_one("#detail-filter").render())
        await pilot.press("escape")  # clears the filter first
        await pilot.pause()
        assert app.screen is screen and "render_report" in section("registered")
        await pilot.press("escape")  # then goes back
        await pilot.pause()
        assert app.screen is not screen


async def test_task_detail_filters_its_children():
    app = sample_app()
    state = app.state
    state.apply({"type": "task-received", "uuid": "root-1", "hostname": "alpha@web-1",
                 "name": "pipeline.start"})
    for i, name in enumerate(["pipeline.fetch", "pipeline.store", "pipeline.fetch"]):
        state.apply({"type": "task-received", "uuid": f"child-{i}", "hostname": "alpha@web-1",
                     "name": name, "parent_id": "root-1", "root_id": "root-1"})
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(TaskDetailScreen("root-1"))
        await pilot.pause()
        options = app.screen.query_one("#children", OptionList)
        assert options.option_count == 3
        await type_filter(pilot, "name:fetch")
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] \
            == ["child-0", "child-2"]


@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5"])
async def test_slash_opens_a_filter_on_every_screen(key):
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press(key)
        await pilot.pause()
        await pilot.press("slash")
        await pilot.pause()
        box = app.screen.query_one(FilterBox)
        assert box.has_class("editing") and app.screen.focused is box.query_one("FilterBar")
        assert "fields:" in help_line(app)


async def test_the_action_log_shows_arguments_and_enter_opens_every_outcome():
    from console.ui.screens.action_detail import ActionDetailScreen

    app = sample_app()
    async with app.run_test(size=(160, 36)) as pilot:
        await pilot.press("5")
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        rate = next(r for r in rows if r[1] == "rate_limit")
        assert "task_name=" in rate[2] and "send_email" in rate[2] and "rate_limit=10/s" in rate[2]
        assert "3: alpha@web-1, beta@web-2, gamma@batch-1" == rate[3]  # full names
        table.move_cursor(row=rows.index(rate))
        # A new entry arriving keeps the cursor on the one being read.
        from console.core.stores import ActionView
        from console.core.views import OutcomeStatus
        app.state.record_action(ActionView("pool_grow", ("alpha@web-1",), {"n": 1}, {},
                                           OutcomeStatus.OK, "pool grown on 1/1", 1.0))
        await pilot.pause(0.3)
        assert str(table.get_row_at(table.cursor_row)[1]) == "rate_limit"
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ActionDetailScreen)
        text = rendered(screen.query_one("#action-detail"))
        assert "console.companion.tasks.send_email" in text  # in full here
        for line in ("alpha@web-1  ok", "beta@web-2  ok", "gamma@batch-1  no reply"):
            assert re.search(line.replace("  ", r"\s+"), text), text
        assert "no reply within 2 s" in text


@pytest.mark.parametrize("keys, field", [
    (["2", "slash"], "FilterBar"), (["3", "slash"], "FilterBar"),
    (["1", "plus"], "#field-n"), (["1", "c"], "#field-queue"), (["colon"], "#command-input"),
])
async def test_a_paste_lands_in_the_focused_input_on_every_screen_and_dialog(keys, field):
    """A bracketed paste arrives as one Paste event: it goes into the box
    that has focus (cleaned of control characters), never to screen keys."""
    from textual import events

    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        for key in keys:
            await pilot.press(key)
        await pilot.pause()
        box = app.screen.query_one(field)
        assert app.screen.focused is box
        before = app.current_mode
        app.post_message(events.Paste("q2\x1b[31m3"))  # `q` and `2` would be keys
        await pilot.pause()
        # The escape is shown as a visible replacement, never sent to the terminal.
        assert box.value.endswith("q2\ufffd[31m3") and "\x1b" not in box.value, box.value
        assert app.current_mode == before and app.is_running
