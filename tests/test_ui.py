"""The shell driven with keys (Textual Pilot) on the deterministic sample."""

from __future__ import annotations

import re

import pytest
from textual.widgets import DataTable

from console.ui.widgets.live_table import LiveTable

from console.sample import sample_app
from console.ui.screens.command_line import CommandLine, parse_command
from console.ui.screens.help import HelpScreen
from console.ui.widgets.status_header import StatusHeader
from console.ui.widgets.status_line import StatusLine


def header_text(app) -> str:
    return str(app.screen.query_one(StatusHeader).render())


async def test_number_keys_switch_screens_and_header_follows():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert app.current_mode == "workers"
        table = app.screen.query_one(DataTable)
        assert [r.value for r in table.rows] == ["alpha@web-1", "beta@web-2", "gamma@batch-1"]
        for key, mode in (("2", "tasks"), ("3", "queues"), ("4", "events"),
                          ("5", "log"), ("1", "workers")):
            await pilot.press(key)
            await pilot.pause()
            assert app.current_mode == mode
            assert app.screen.TITLE in header_text(app)


async def test_header_masks_the_password_and_shows_state():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        text = header_text(app)
        assert "s3cret-pw" not in text
        assert "amqp://ops:****@rabbit.internal:5672/prod" in text
        assert "connected" in text and "2/3 workers" in text
        assert "read-only" not in text


async def test_disconnected_state_is_visible():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        app.state.set_connection("reconnecting", "ConnectionRefusedError: [Errno 111]")
        await pilot.pause(0.4)
        assert "disconnected — retrying" in header_text(app)
        line = str(app.screen.query_one(StatusLine).render())
        assert "broker unreachable: ConnectionRefusedError: [Errno 111]" in line


async def test_read_only_shows_a_lock():
    app = sample_app(read_only=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert "🔒 read-only" in header_text(app)


async def test_command_line_switches_and_filters():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("colon")
        assert isinstance(app.screen, CommandLine)
        await pilot.press(*"tasks state:failure", "enter")
        await pilot.pause()
        assert app.current_mode == "tasks"
        rows = app.screen.query_one(LiveTable).rows
        assert {t.state for t in rows} == {"FAILURE"} and len(rows) == 10


async def test_command_line_rejects_unknown_words_and_escape_cancels():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("colon", *"nonsense", "enter")
        await pilot.pause()
        assert isinstance(app.screen, CommandLine)
        assert "unknown command" in str(app.screen.query_one("#command-error").render())
        await pilot.press("escape")
        assert app.current_mode == "workers" and not isinstance(app.screen, CommandLine)


@pytest.mark.parametrize("text,expected", [
    (":w", ("workers", "")), ("t name:add", ("tasks", "name:add")),
    ("queues", ("queues", "")), (":qu", ("queues", "")), ("queue", ("queues", "")),
    (":q", ("quit", "")), ("quit", ("quit", "")), (":Q", ("quit", "")),
    ("tasks STATE:Failure", ("tasks", "STATE:Failure")),
])
def test_parse_command(text, expected):
    assert parse_command(text) == expected


@pytest.mark.parametrize("text,error", [
    ("tasks state:failed", "did you mean FAILURE?"),
    ("tasks status:failure", "did you mean state:?"),
    ("workers status:gone", "status is one of online, offline, unknown"),
    ("events kind:x", "fields: type, worker, uuid, name"),
])
def test_parse_command_refuses_a_filter_that_would_lie(text, error):
    with pytest.raises(ValueError, match=re.escape(error)):
        parse_command(text)


async def test_a_failed_command_says_why_and_applies_nothing():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("colon", *"tasks state:failed", "enter")
        await pilot.pause()
        assert isinstance(app.screen, CommandLine)
        error = str(app.screen.query_one("#command-error").render())
        assert "no state 'failed'" in error and "FAILURE" in error
        await pilot.press("backspace")  # the reason clears as the text changes
        assert str(app.screen.query_one("#command-error").render()) == ""
        await pilot.press("escape")
        assert app.current_mode == "workers"


async def test_colon_q_quits():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("colon", "q", "enter")
        await pilot.pause()
        assert app.return_code == 0  # set by exit(), before run_test's teardown
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("colon", *"qu", "enter")  # Queues, not quit
        await pilot.pause()
        assert app.return_code is None and app.current_mode == "queues"


async def test_help_lists_every_console_key_of_the_screen():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = [key for key, _ in app.screen.keys]
        for key in ("1", "2", "3", "4", "5", ":", "?", "ctrl+r", "q, ctrl+c"):
            assert key in keys
        assert "Scroll Up" not in {d for _, d in app.screen.keys}
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_palette_offers_the_screens():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"queues")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_mode == "queues"


async def test_quit_stops_the_app():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_below_the_minimum_size_the_console_says_so_and_comes_back():
    from console.ui.screens.too_small import TooSmallScreen

    app = sample_app()
    async with app.run_test(size=(50, 15)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, TooSmallScreen)
        assert "50x15" in str(app.screen.query_one("#too-small").render())
        await pilot.press("2")  # no key reaches the screens below
        await pilot.pause()
        assert isinstance(app.screen, TooSmallScreen) and app.current_mode == "workers"
        await pilot.press("ctrl+p")  # no palette over it either
        await pilot.pause()
        assert isinstance(app.screen, TooSmallScreen)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        assert not isinstance(app.screen, TooSmallScreen)


async def test_palette_lists_each_action_once_with_its_description_and_finds_other_screens():
    from textual.command import CommandPalette

    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2", "ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"quit")
        await pilot.pause(0.6)
        hits = [str(o.prompt) for o in app.screen.query("CommandList").first()._options]
        assert sum("Quit" in h for h in hits) == 1, hits  # no second, Textual's Quit
        before = len(app.state.actions)
        await pilot.press(*["backspace"] * 4, *"purge")
        await pilot.pause(0.6)
        hits = [str(o.prompt) for o in app.screen.query("CommandList").first()._options]
        assert any("Purge (Queues)" in h for h in hits), hits
        assert any("purge the queue under the cursor" in h.lower() for h in hits), hits
        await pilot.press("enter")  # a purge of Queues: it takes you there, no dialog
        await pilot.pause(0.6)
        # Its cursor was never chosen for a purge: the operator chooses, then p.
        assert app.current_mode == "queues"
        assert type(app.screen).__name__ == "QueuesScreen"
        assert any("then press p" in str(n.message) or "then press P" in str(n.message)
                   for n in app._notifications)
        assert len(app.state.actions) == before  # nothing was sent


async def test_read_only_palette_offers_no_change_of_another_screen():
    from console.ui.commands import other_screen_entries

    app = sample_app(read_only=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        actions = {action for _, _, _, action in other_screen_entries(app, app.screen)}
        assert "purge" not in actions and "shutdown" not in actions and "pool_grow" not in actions
        assert "sort" in actions or "open" in actions  # the rest are still found


async def test_an_unreachable_broker_is_said_where_the_workers_would_be():
    from console.cli import Options
    from console.core.state import ClusterState
    from console.sample import sample_target
    from console.ui.app import ConsoleApp

    state = ClusterState()
    state.set_connection("reconnecting", "OperationalError: [Errno 111] Connection refused")
    app = ConsoleApp(sample_target(), Options(), state=state, start_threads=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.3)
        line = str(app.screen.query_one("#workers-empty").render())
        assert "cannot be reached" in line and "Connection refused" in line
        assert "keeps retrying" in line and "amqp://ops:****@rabbit.internal" in line
        state.set_connection("connected")
        await pilot.pause(1.2)
        line = str(app.screen.query_one("#workers-empty").render())
        assert "No worker yet" in line
        state.apply({"type": "worker-heartbeat", "hostname": "w@h", "freq": 2.0,
                     "timestamp": state.clock()})
        await pilot.pause(1.2)
        assert not app.screen.query_one("#workers-empty").display
