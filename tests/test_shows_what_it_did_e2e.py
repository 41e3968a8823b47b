"""The console shows what it just did, on a real worker (RabbitMQ and
Redis): a revoked countdown task reads `revoke sent` until the worker's own
event makes it REVOKED; tasks PENDING in a purged queue read `purged`; two
pool grows read `prefork ×4` within one inspection round. Effects are
checked on the worker and on the broker's own count."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from brokers import broker_depth, companion_app, running_worker
from brokers import pilot_until as until
from console.cli import Options
from console.core.connection import Target
from console.ui.app import ConsoleApp
from console.ui.widgets.live_table import LiveTable

pytestmark = pytest.mark.broker
TASKS = "console.companion.tasks."


def state_cell(console: ConsoleApp, uuid: str) -> str | None:
    """The Tasks table's state cell for a task, as drawn."""
    table = console.screen.query_one(LiveTable)
    column = next(c for c in table.columns if c.label == "state")
    for record in table.rows:
        if record.uuid == uuid:
            return column.cell(record)[0]
    return None


def pool_cell(console: ConsoleApp, host: str) -> str:
    table = console.screen.query_one(DataTable)
    try:
        return str(table.get_cell(host, "pool"))
    except CellDoesNotExist:  # not drawn yet
        return ""


async def test_revoke_purge_and_pool_grow_show_at_once(real_broker, tmp_path):
    app = companion_app(real_broker)
    with running_worker(real_broker, tmp_path, queues="default", concurrency=2) as host:
        console = ConsoleApp(Target(app), Options(
            audit_log=str(tmp_path / "audit.jsonl"), inspect_interval=1.0,
            probe_interval=1.0, queues=["backlog"]))
        async with console.run_test(size=(120, 36)) as pilot:
            state = console.state
            assert await until(pilot, lambda: host in state.workers_online(), 20)

            # Two grows: Workers reads prefork ×4 within one round.
            assert await until(pilot, lambda: pool_cell(console, host) == "prefork ×2", 15)
            for grows in (1, 2):
                await pilot.press("plus", "1", "enter")
                assert await until(pilot, lambda n=grows: sum(
                    a.action == "pool_grow" for a in state.actions) == n, 10)
            assert [a.status.value for a in state.actions if a.action == "pool_grow"] \
                == ["ok", "ok"]

            def processes() -> int:
                stats = app.control.inspect(destination=[host], timeout=3).stats() or {}
                return len(stats.get(host, {}).get("pool", {}).get("processes", []))

            assert await until(pilot, lambda: processes() == 4, 15)  # on the worker itself
            assert await until(pilot, lambda: pool_cell(console, host) == "prefork ×4", 5), \
                pool_cell(console, host)

            # A countdown task, revoked: `revoke sent` at once, then REVOKED.
            waiting = app.send_task(TASKS + "add", (1, 2), queue="default", countdown=5)
            assert await until(pilot, lambda: state.task(waiting.id) is not None
                               and state.task(waiting.id).received, 15)
            await pilot.press("2")
            await pilot.pause(0.3)
            table = console.screen.query_one(LiveTable)
            table.move_to(next(i for i, t in enumerate(table.rows) if t.uuid == waiting.id))
            await pilot.press("x")
            await pilot.pause()
            await pilot.press("tab", "enter")  # Cancel → Revoke
            assert await until(pilot, lambda: state_cell(console, waiting.id)
                               == "revoke sent", 10), state_cell(console, waiting.id)
            assert state.task(waiting.id).state == "RECEIVED"  # not yet the worker's word
            revoked = app.control.inspect(destination=[host], timeout=3).revoked() or {}
            assert waiting.id in revoked.get(host, [])
            assert await until(pilot, lambda: state_cell(console, waiting.id) == "REVOKED", 20)
            assert state.task(waiting.id).started is None  # it never ran

            # 30 tasks PENDING in a queue nobody consumes, purged: `purged`.
            pending = [app.send_task(TASKS + "add", (i, i), queue="backlog").id
                       for i in range(30)]
            assert await until(pilot, lambda: all(state.task(i) for i in pending), 15)
            assert await until(pilot, lambda: all(state_cell(console, i) == "PENDING"
                                                  for i in pending), 5)
            await pilot.press("3")
            assert await until(pilot, lambda: (state.queue_view("backlog").messages or 0)
                               >= 30, 15)
            queues = console.screen.query_one(DataTable)
            queues.move_cursor(row=queues.get_row_index("backlog"))
            await pilot.press("p")
            await pilot.pause()
            await pilot.press("tab", *"backlog", "enter")
            assert await until(pilot, lambda: any(a.action == "purge" for a in state.actions),
                               20)
            assert broker_depth(real_broker, app, "backlog") == 0
            await pilot.press("2")
            await pilot.pause(0.5)
            assert await until(pilot, lambda: all(state_cell(console, i) == "purged"
                                                  for i in pending), 5)
