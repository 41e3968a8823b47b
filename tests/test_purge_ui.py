"""Purge from the Queues screen: the dialog's safety rules, then the real thing."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time

import pytest
from textual.widgets import Button, DataTable, Input

from brokers import broker_depth, companion_app, fill_queue
from console.cli import Options
from console.core.connection import Target
from console.sample import sample_app
from console.ui.app import ConsoleApp
from console.ui.widgets.confirm import ConfirmDialog


async def open_purge(pilot, key="p"):
    await pilot.press("3")
    await pilot.pause()
    await pilot.press(key)
    await pilot.pause()
    return pilot.app.screen


async def test_dialog_starts_on_cancel_and_needs_the_typed_name():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        dialog = await open_purge(pilot)
        assert isinstance(dialog, ConfirmDialog)
        assert dialog.require == "emails"  # the deepest queue is under the cursor
        assert app.focused.id == "cancel"
        purge = dialog.query_one("#confirm", Button)
        assert purge.disabled
        before = len(app.state.actions)
        await pilot.press("enter")  # enter on Cancel: nothing happens
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog)
        assert len(app.state.actions) == before


async def test_typed_name_enables_purge_and_escape_cancels():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        dialog = await open_purge(pilot)
        await pilot.press(*"email")  # typed with focus on Cancel: goes to the box
        assert app.focused is dialog.query_one(Input)
        assert dialog.query_one("#confirm", Button).disabled
        await pilot.press("s")
        assert not dialog.query_one("#confirm", Button).disabled
        before = len(app.state.actions)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog) and len(app.state.actions) == before


async def test_purge_all_asks_for_the_number_of_queues():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        dialog = await open_purge(pilot, "P")
        assert dialog.require == "5"  # every known queue that exists
        assert "these 5 queues" in dialog.dialog_title


async def test_marked_queues_and_table_frozen_under_the_dialog():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        await pilot.press("space", "space")  # emails, backlog
        await pilot.press("P")
        await pilot.pause()
        dialog = app.screen
        assert dialog.require == "2" and dialog.targets[0].plain.startswith("backlog")
        table = app.screen_stack[-2].query_one(DataTable)
        before = [r.value for r in table.rows]
        app.state.record_queues({"zzz": {"name": "zzz", "messages": 10**6, "consumers": 0,
                                         "exists": True, "error": None, "sources": [],
                                         "probed_at": 0}})
        await pilot.pause(0.6)
        assert [r.value for r in table.rows] == before  # nothing moves under a dialog


async def test_read_only_hides_purge_everywhere():
    app = sample_app(read_only=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        keys = {b.action for b in (a.binding for a in app.screen.active_bindings.values())}
        assert "purge" not in keys and "purge_many" not in keys
        await pilot.press("p")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog)
        await pilot.press("question_mark")
        await pilot.pause()
        described = " ".join(d for _, d in app.screen.keys)
        assert "Purge" not in described


@pytest.mark.broker
async def test_purge_from_the_queues_screen_empties_only_that_queue(broker, tmp_path):
    app = companion_app(broker)
    fill_queue(broker, app, "reports", 5_000 if broker.kind != "filesystem" else 500)
    fill_queue(broker, app, "emails", 9)
    console = ConsoleApp(Target(app), Options(audit_log=str(tmp_path / "audit.jsonl"),
                                              probe_interval=0.5))
    async with console.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and \
                (console.state.queues.get("reports") or {}).get("messages") is None:
            await pilot.pause(0.2)
        await pilot.pause(0.3)
        table = console.screen.query_one(DataTable)
        table.move_cursor(row=table.get_row_index("reports"))
        await pilot.press("p")
        await pilot.pause()
        assert console.screen.require == "reports"
        await pilot.press("tab", *"reports", "enter")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not console.state.actions:
            await pilot.pause(0.2)
        outcome = console.state.actions[-1]
        assert outcome.status == "ok", outcome
        assert outcome.results["reports"].count == (5_000 if broker.kind != "filesystem" else 500)
        assert outcome.results["reports"].ok
        await pilot.press("q")
    assert broker_depth(broker, app, "reports") == 0
    assert broker_depth(broker, app, "emails") == 9
    audit = (tmp_path / "audit.jsonl").read_text()
    assert '"purge"' in audit and "guest:guest" not in audit


@pytest.mark.broker
@pytest.mark.slow
def test_purge_end_to_end_in_a_terminal(real_broker, tmp_path):
    import shutil

    from test_demo import TMUX_SOCKET, tmux, wait_for_screen

    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")  # the tmux_session fixture fails in CI
    broker = real_broker
    app = companion_app(broker)
    fill_queue(broker, app, "reports", 100_000)
    fill_queue(broker, app, "emails", 9)
    session = f"purge-{broker.kind}"
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "36")
    try:
        command = (f"CELERY_BROKER_URL={shlex.quote(broker.url)} {shlex.quote(sys.executable)} "
                   f"-m console -A console.companion --audit-log {tmp_path / 'audit.jsonl'}")
        tmux("send-keys", "-t", session, command, "Enter")
        wait_for_screen(session, r"connected", 30)
        tmux("send-keys", "-t", session, "3")
        wait_for_screen(session, r"reports\s+100,000", 30)
        # Sorted by depth: the 100k queue is the first row, under the cursor.
        tmux("send-keys", "-t", session, "p")
        wait_for_screen(session, r"Type reports to enable Purge:", 10)
        wait_for_screen(session, r"100,000 messages now", 10)
        tmux("send-keys", "-t", session, "-l", "reports")  # typed straight away
        wait_for_screen(session, r"▊\s+reports\s*▎", 10)  # typed, not the placeholder
        tmux("send-keys", "-t", session, "Enter")
        screen = wait_for_screen(session, r"purged 100,000 messages", 30)
        assert "Traceback" not in screen
        assert broker_depth(broker, app, "reports") == 0
        assert broker_depth(broker, app, "emails") == 9
        tmux("send-keys", "-t", session, "q")
    finally:
        subprocess.run(["tmux", "-L", TMUX_SOCKET, "kill-session", "-t", session],
                       capture_output=True)
