"""The heap policy (console/core/heap.py): full collections visit only what
came since the last one, a cycle frozen by mistake is reclaimed by the
idle sweep, and the model it relies on makes no reference cycles."""

from __future__ import annotations

import gc
import json
import time
import weakref
from pathlib import Path

import pytest

from console.core.heap import HeapPolicy
from console.core.records import TaskHistory, TaskRecord, WorkerRecord
from console.core.state import ClusterState

RECORDED = Path(__file__).parent / "data" / "celery-5.7-events.jsonl"


class Node:
    """A reference cycle of our own making."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def policy():
    now = [1000.0]
    heap = HeapPolicy(sweep_seconds=60.0, idle_seconds=5.0, clock=lambda: now[0])
    heap.now = now  # type: ignore[attr-defined]
    heap.calm = [True]  # type: ignore[attr-defined]
    heap.quiet = lambda: heap.calm[0]  # type: ignore[attr-defined]
    heap.install()
    try:
        yield heap
    finally:
        heap.uninstall()
    assert gc.get_freeze_count() == 0


def test_the_model_makes_no_reference_cycles():
    """What the policy rests on: an evicted task, its retry history and a
    worker are freed by their reference counts, never left to the
    collector (a frozen cycle would stay until the next sweep)."""
    lines = [json.loads(line) for line in RECORDED.read_text().splitlines()]
    assert any(e["type"] == "task-retried" for e in lines)
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        state = ClusterState(max_tasks=40)
        for round_ in range(4):  # each round re-keyed: the store evicts
            for event in lines:
                event = dict(event)
                for key in ("uuid", "root_id", "parent_id"):
                    if event.get(key):
                        event[key] = f"{event[key]}-{round_}"
                state.apply(event)
        assert state.counters.events >= 4 * len(lines) - 5
        del state
        gc.collect()
        garbage = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    ours = [o for o in garbage if isinstance(o, (TaskRecord, TaskHistory, WorkerRecord))
            or type(o).__module__.startswith("console.")]
    assert not ours, ours[:5]


def test_after_a_full_collection_the_survivors_are_frozen(policy):
    alive = Node()
    gc.collect(1)  # a young collection freezes nothing
    assert gc.get_freeze_count() == 0 and policy.freezes == 0
    gc.collect()
    assert gc.get_freeze_count() > 0 and policy.freezes == 1 and policy.unswept
    # The collector still runs over what came since:
    fresh = Node()
    ref = weakref.ref(fresh)
    del fresh
    assert gc.collect() >= 1 and ref() is None
    del alive


def test_nothing_is_frozen_while_a_dialog_is_up(policy):
    policy.calm[0] = False
    gc.collect()
    assert gc.get_freeze_count() == 0 and policy.freezes == 0 and not policy.unswept
    policy.quiet = lambda: 1 / 0  # an app shutting down: counted as not quiet
    gc.collect()
    assert gc.get_freeze_count() == 0


def test_a_cycle_frozen_while_alive_is_reclaimed_by_the_sweep(policy):
    kept = Node()
    ref = weakref.ref(kept)
    gc.collect()  # kept is frozen with everything else alive
    del kept
    gc.collect()
    assert ref() is not None, "a frozen cycle is not collected: the sweep is what frees it"
    seconds = policy.sweep()
    assert ref() is None
    assert seconds >= 0 and policy.sweeps == 1
    # What survived the sweep is frozen again, and that is not a reason to
    # sweep again: it was alive.
    assert gc.get_freeze_count() > 0 and not policy.unswept


def test_the_sweep_waits_for_an_idle_moment_and_not_forever(policy):
    now = policy.now
    policy.calm[0] = False
    gc.collect()
    now[0] += 1000
    assert not policy.sweep_due(idle_for=3600)  # nothing frozen: nothing to sweep
    policy.calm[0] = True
    gc.collect()
    now[0] -= 1000
    assert not policy.sweep_due(idle_for=3600)  # too soon
    now[0] += 61
    assert not policy.sweep_due(idle_for=1.0)  # the operator is typing
    assert policy.sweep_due(idle_for=6.0)
    now[0] += 60
    assert policy.sweep_due(idle_for=0.0)  # twice the period: whatever they do
    policy.sweep()
    now[0] += 1000
    assert not policy.sweep_due(idle_for=3600)  # only what the sweep kept is frozen
    gc.collect()  # a full collection of its own, frozen: due again
    assert policy.sweep_due(idle_for=3600)
    policy.uninstall()
    now[0] += 1000
    assert not policy.sweep_due(idle_for=3600)  # not installed: never


async def test_the_console_is_quiet_only_with_its_own_screens_and_sweeps_when_idle(
        monkeypatch, policy):
    """The app's wiring: it is quiet only with no detail or dialog in any
    mode, its tick sweeps when the policy says so, and a key pressed puts
    the sweep off."""
    import console.ui.app as app_module
    from console.sample import sample_app
    from console.ui.screens.help import HelpScreen
    from console.ui.screens.task_detail import TaskDetailScreen
    from console.ui.screens.workers import WorkersScreen

    monkeypatch.setattr(app_module, "HEAP", policy)
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        assert policy.quiet == app._quiet and app._quiet()
        await pilot.press("2", "enter")  # a task's detail, pushed
        await pilot.pause()
        assert isinstance(app.screen, TaskDetailScreen)
        assert not app._quiet()
        await pilot.press("question_mark")  # a dialog over it
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen) and not app._quiet()
        await pilot.press("escape", "1")  # the detail stays, in the Tasks mode
        await pilot.pause()
        assert isinstance(app.screen, WorkersScreen)
        assert not app._quiet()
        frozen = gc.get_freeze_count()
        gc.collect()
        assert gc.get_freeze_count() == frozen  # nothing frozen meanwhile
        await pilot.press("2", "escape")
        await pilot.pause()
        assert app._quiet()
        gc.collect()
        assert gc.get_freeze_count() > 0

        app._last_input = time.monotonic()
        policy.now[0] += 61  # a period has passed, something frozen since
        app.tick()
        assert policy.sweeps == 0  # the operator pressed a key just now
        app._last_input -= 30
        app.tick()
        assert policy.sweeps == 1
