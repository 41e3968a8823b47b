"""Task types (6) and Failures (7) driven with keys on the deterministic sample."""

from __future__ import annotations

from console.core.failures import cause_key
from console.report import render_status
from console.sample import NOW, sample_app, sample_state, sample_target
from console.ui.commands import console_bindings, other_screen_entries
from console.ui.screens.command_line import parse_command
from console.ui.screens.failure_group import FailureGroupScreen
from console.ui.screens.task_detail import TaskDetailScreen
from console.ui.widgets.live_table import LiveTable
from console.ui.widgets.status_header import StatusHeader


def names(app) -> list[str]:
    return [row.name for row in app.screen.query_one(LiveTable).rows]


async def test_task_types_rows_sort_filter_and_enter_opens_its_tasks():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("6")
        await pilot.pause()
        assert app.current_mode == "types"
        assert names(app) == sorted(names(app)) and len(names(app)) == 8
        await pilot.press("s")  # ok/s, biggest first
        await pilot.pause()
        rows = app.screen.query_one(LiveTable).rows
        assert [r.succeeded_per_s for r in rows] == sorted(
            (r.succeeded_per_s for r in rows), reverse=True)
        await pilot.press("S")
        await pilot.pause()
        rows = app.screen.query_one(LiveTable).rows
        assert [r.succeeded_per_s for r in rows] == sorted(r.succeeded_per_s for r in rows)
        for _ in range(7):  # to p99
            await pilot.press("s")
        await pilot.pause()
        rows = app.screen.query_one(LiveTable).rows
        p99 = [r.runtime.p99 for r in rows if r.runtime]
        assert "p99" in str(app.screen.query_one("#types-title").render())
        assert p99 == sorted(p99, reverse=True) and rows[0].name == "reports.rebuild_all"
        await pilot.press("slash", *"billing", "enter")
        await pilot.pause()
        assert names(app) == ["billing.charge_card"]
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        assert app.current_mode == "tasks"
        assert app.screen.row_filter.text == "name:billing.charge_card"


async def test_failures_groups_retries_group_detail_and_example():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("7")
        await pilot.pause()
        groups = app.screen.query_one(LiveTable).rows
        causes = {g.cause for g in groups}
        assert "TimeoutError: Timeout after <n>s" in causes
        assert "KeyError: <str>" in causes
        assert all(g.kind == "failure" for g in groups)
        # Newest first; s sorts by count.
        assert [g.last_seen for g in groups] == sorted((g.last_seen for g in groups),
                                                       reverse=True)
        await pilot.press("s")
        await pilot.pause()
        groups = app.screen.query_one(LiveTable).rows
        assert [g.count for g in groups] == sorted((g.count for g in groups), reverse=True)
        await pilot.press("slash", *"type:keyerror", "enter")
        await pilot.pause()
        (group,) = app.screen.query_one(LiveTable).rows
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FailureGroupScreen)
        assert app.screen.group is not None and app.screen.group.gid == group.gid
        shown = app.export_screenshot()
        assert "KeyError('" in shown.replace("&#x27;", "'") and "Traceback" in shown
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, TaskDetailScreen) and app.screen.uuid == group.example
        await pilot.press("escape", "escape")
        await pilot.pause()
        await pilot.press("escape", "r")  # the filter off, then the retries
        await pilot.pause()
        retries = app.screen.query_one(LiveTable).rows
        assert retries and all(g.kind == "retry" for g in retries)
        assert {g.exc_type for g in retries} == {"ConnectionError"}


async def test_command_line_palette_and_help_know_the_new_screens():
    assert parse_command(":types name:email") == ("types", "name:email")
    assert parse_command("fa type:KeyError") == ("failures", "type:KeyError")
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("colon", *"failures worker:beta", "enter")
        await pilot.pause()
        await pilot.pause()
        assert app.current_mode == "failures" and app.screen.row_filter.text == "worker:beta"
        keys = {binding.id for _, binding, _ in console_bindings(app.screen)}
        assert {"screen.types", "screen.failures", "failures.open", "failures.example",
                "failures.toggle", "failures.sort", "failures.filter"} <= keys
        entries = [title for title, *_ in other_screen_entries(app, app.screen)]
        assert any("(Task types)" in t for t in entries)
        await pilot.press("6")
        await pilot.pause()
        keys = {binding.id for _, binding, _ in console_bindings(app.screen)}
        assert {"types.sort", "types.reverse", "types.tasks", "types.filter"} <= keys


async def test_stuck_tasks_in_the_header_and_is_stuck_on_tasks():
    app = sample_app()
    app.state.triage.stuck_floor, app.state.triage.stuck_factor = 1.0, 0.0
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("colon", *"t is:stuck", "enter")
        await pilot.pause()
        await pilot.pause()
        rows = app.screen.query_one(LiveTable).rows
        running = [t for t in app.state.tasks_snapshot() if t.state == "STARTED"]
        assert {t.uuid for t in rows} == {t.uuid for t in running} and rows
        assert f"{len(rows)} stuck" in str(app.screen.query_one(StatusHeader).render())


def test_status_report_has_the_triage_figures():
    from console.core.status import summarize

    state = sample_state()
    report = summarize(sample_target(), state)
    email = report["task_types"]["console.companion.tasks.send_email"]
    assert email["runtime"]["samples"] > 300 and email["runtime"]["p50"] > 0.1
    assert email["queue_wait"]["p95"] > email["queue_wait"]["p50"] > 0
    assert email["failed"] > 0 and 0 < email["failure_ratio"] < 1
    causes = {(g["type"], g["message"]) for g in report["failure_groups"]}
    assert cause_key("TimeoutError('Timeout after 1.5s')", None) in causes
    assert {g["type"] for g in report["retry_groups"]} == {"ConnectionError"}
    assert report["stuck"] == 0 and report["lost"] == 0
    state.triage.stuck_floor, state.triage.stuck_factor = 1.0, 0.0
    report = summarize(sample_target(), state)
    assert report["stuck"] == len(report["stuck_tasks"]) > 0
    import io

    from rich.console import Console

    out = io.StringIO()
    render_status(report, Console(file=out, width=160))
    text = out.getvalue()
    assert "Task types" in text and "Failures by cause" in text
    assert f"Stuck {report['stuck']}" in text and "Timeout after <n>s" in text
    assert NOW > 0


HOSTILE = ("[red]x[/red]", "[@click=app.quit]z[/]", "\x1b[31mRED\x1b[2J", "over\rwritten",
           "\u202eلا تثق\u202c", "L" * 10_000)


async def test_hostile_names_and_exceptions_on_the_triage_screens():
    """Task names, exceptions and tracebacks are data: shown literally on
    Task types, Failures and the group, never read as markup."""
    from test_view_layer import shown

    for value in HOSTILE:
        app = sample_app()
        key = value[:200]
        for n, subject in enumerate(("received", "started", "failed")):
            app.state.apply({"type": f"task-{subject}", "uuid": f"{key}-task",
                             "hostname": f"{key}@evil", "name": value, "exception": value,
                             "traceback": f"Traceback (most recent call last):\n{value}",
                             "timestamp": NOW + n})
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("6")
            await pilot.pause()
            # Names over 512 characters are clipped on intake.
            assert any(r.name[:100] == value[:100]
                       for r in app.screen.query_one(LiveTable).rows)
            shown(app, "task types")
            await pilot.press("7")
            await pilot.pause()
            groups = app.screen.query_one(LiveTable).rows
            mine = next(g for g in groups if any(n[:100] == value[:100] for n in g.names))
            app.screen.query_one(LiveTable).move_to(groups.index(mine))
            shown(app, "failures")
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, FailureGroupScreen)
            shown(app, "failure group")
