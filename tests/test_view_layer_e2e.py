"""The view layer on real brokers and real workers: a worker whose hostname
is markup, and pidbox rounds that wait only for the workers they name."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from brokers import companion_app, running_worker, wait_until
from brokers import pilot_until as until
from console.cli import Options
from console.core.actions import Actions, InvalidInput
from console.core.audit import AuditLog
from console.core.connection import Target
from console.core.inspector import Inspector
from console.core.state import ClusterState
from console.core.views import ResultKind
from console.ui.app import ConsoleApp
from console.ui.screens.worker_detail import WorkerDetailScreen
from console.ui.widgets.form import FormDialog
from console.ui.widgets.vim_table import VimTable

pytestmark = pytest.mark.broker
SIZE = (140, 40)


def processes(app, host: str) -> int:
    stats = app.control.inspect(destination=[host], timeout=3).stats() or {}
    return len(stats[host]["pool"]["processes"])


def screen_text(app) -> str:
    update = app.screen._compositor.render_full_update()
    return "\n".join("".join(seg.text for strip in line for seg in strip)
                     for line in update.strips)




async def test_worker_named_with_markup_row_detail_and_pool_grow(real_broker, tmp_path):
    """A worker called ``w[/b]…``: its row and detail show the name as it
    is, and a pool grow from its detail screen reaches that worker."""
    app = companion_app(real_broker)
    with running_worker(real_broker, tmp_path, queues="default", name="w[/b]",
                        concurrency=1) as host:
        assert host.startswith("w[/b]-") and processes(app, host) == 1
        console = ConsoleApp(Target(app), Options(audit_log=str(tmp_path / "audit.jsonl"),
                                                  inspect_interval=1.0, probe_interval=1.0))
        async with console.run_test(size=SIZE) as pilot:
            state = console.state
            assert await until(pilot, lambda: host in state.workers_online()
                               and state.inspection(host, "stats"), 20)
            await pilot.press("1")
            await pilot.pause(0.3)
            table = console.screen.query_one(VimTable)
            table.move_cursor(row=table.get_row_index(host), animate=False)
            await pilot.pause()
            assert host[:18] in screen_text(console)  # the row, cut to its column
            await pilot.press("enter")
            await pilot.pause(0.3)
            assert isinstance(console.screen, WorkerDetailScreen)
            assert host in screen_text(console)
            await pilot.press("plus")
            await pilot.pause()
            assert isinstance(console.screen, FormDialog)
            assert host in screen_text(console)
            await pilot.press("backspace", "1", "enter")
            assert await until(pilot, lambda: any(
                a.action == "pool_grow" for a in state.actions), 15)
            outcome = [a for a in state.actions if a.action == "pool_grow"][-1]
            assert outcome.status == "ok" and set(outcome.results) == {host}, outcome
            assert console.is_running
            await pilot.press("q")
        assert wait_until(lambda: processes(app, host) == 2, 15)


def rate_limit_of(app, host: str, task: str) -> str | None:
    registered = app.control.inspect(destination=[host], timeout=3).registered(
        "rate_limit") or {}
    for entry in registered.get(host, []):
        name, _, info = entry.partition(" ")
        if name == task:
            return info.strip("[]").partition("=")[2] or None
    return None


def test_rounds_wait_for_the_workers_they_name_only(real_broker, tmp_path):
    """Three workers; the console counts two online. An action aimed at
    "every online worker" gets exactly their two replies, and the third is
    never asked: a pidbox round with ``limit=2`` names its destination, so
    the third's reply cannot end the wait before a counted worker answered.
    (The bug this replaces sent ``limit=len(online)`` with no destination:
    the third worker got the command too, and its reply could end the wait.)"""
    app = companion_app(real_broker)
    task = "console.companion.tasks.add"
    with ExitStack() as stack:
        a, b, c = (stack.enter_context(running_worker(
            real_broker, tmp_path, queues="default", name=n, concurrency=1))
            for n in ("counted-a", "counted-b", "unexpected"))
        sent = []
        broadcast = app.control.broadcast

        def recording(command, *args, **kwargs):  # the real call, observed
            sent.append((command, kwargs.get("destination"), kwargs.get("limit")))
            return broadcast(command, *args, **kwargs)

        app.control.broadcast = recording
        state = ClusterState()
        for host in (a, b):  # the console has heard from two of the three
            state.apply({"type": "worker-heartbeat", "hostname": host, "freq": 30.0})
        assert state.workers_online() == sorted([a, b])
        actions = Actions(Target(app), state, AuditLog(tmp_path / "audit.jsonl"),
                          timeout=5.0)
        outcome = actions.rate_limit(task, "37/m")  # on every online worker
        assert set(outcome.results) == {a, b}, outcome.results
        assert all(r.kind is ResultKind.OK for r in outcome.results.values()), outcome
        assert sent[-1] == ("rate_limit", sorted([a, b]), 2)
        # The effect, on each worker: the two have it, the third was not asked.
        assert rate_limit_of(app, a, task) == "37/m" and rate_limit_of(app, b, task) == "37/m"
        assert rate_limit_of(app, c, task) is None

        # Inspections follow the same rule, and keep only who was asked.
        inspector = Inspector(Target(app), state, timeout=3.0)
        (result,) = inspector.run(("stats",))
        assert set(result.replies) == {a, b} and not result.missing
        assert sent[-1] == ("stats", sorted([a, b]), 2)
        assert state.inspection(c, "stats") is None

        # With no worker known, nothing goes to "whoever is out there".
        empty = ClusterState()
        nobody = Actions(Target(app), empty, AuditLog(tmp_path / "audit.jsonl"), timeout=5.0)
        count = len(sent)
        with pytest.raises(InvalidInput, match="no worker online"):
            nobody.pool_shrink(1)
        assert len(sent) == count and processes(app, c) == 1
