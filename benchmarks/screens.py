"""Tasks-screen timings with 100k (or ``--tasks N``) tasks held and events
applied meanwhile, headless (App.run_test). `python -m benchmarks.screens
[--tasks N]` prints JSON."""

from __future__ import annotations

import asyncio
import json
import threading
import time

from console.cli import Options
from console.core.state import ClusterState
from console.sample import sample_target
from console.ui.app import ConsoleApp
from console.ui.widgets.live_table import LiveTable

from .stream import events

TASKS = 100_000
BACKGROUND_EPS = 5_000


def background(state: ClusterState, stream) -> tuple[threading.Thread, threading.Event]:
    """A thread applying BACKGROUND_EPS events/s from ``stream`` into the
    model while a screen is measured (start it; set the event to stop)."""
    stop = threading.Event()

    def feed() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            state.apply_many([next(stream) for _ in range(BACKGROUND_EPS // 20)])
            time.sleep(max(0.0, 0.05 - (time.perf_counter() - started)))

    return threading.Thread(target=feed, daemon=True), stop


def p95(values) -> float:
    values = sorted(values)
    return values[int(len(values) * 0.95) - 1] * 1000


async def measure(tasks: int = TASKS) -> dict:
    state = ClusterState(max_tasks=tasks)
    state.apply_many(events(tasks))
    app = ConsoleApp(sample_target(), Options(), state=state, start_threads=False)
    feeder, stop = background(state, events(10**7, start=1_900_000_000.0))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        await pilot.pause(0.5)
        feeder.start()
        screen = app.screen
        table = screen.query_one(LiveTable)
        ticks = []
        for _ in range(100):
            started = time.perf_counter()
            screen.tick(time.time(), force=True)
            for y in range(table.size.height):
                table.render_line(y)
            ticks.append(time.perf_counter() - started)
            await pilot.pause(0.02)
        keys = []
        for i in range(60):
            started = time.perf_counter()
            await pilot.press("j" if i % 2 == 0 else "k")
            await pilot.pause()
            keys.append(time.perf_counter() - started)
        # The same keys without Pilot's round trip (its waits for idle cost
        # ~200 ms a key whatever the app does): the binding lookup and action
        # Textual runs for the key (App._check_bindings, the dispatch its key
        # events go through), then the visible rows drawn as for a frame.
        direct = []
        for i in range(200):
            started = time.perf_counter()
            await app._check_bindings("j" if i % 2 == 0 else "k")
            for y in range(table.size.height):
                table.render_line(y)
            direct.append(time.perf_counter() - started)
            await asyncio.sleep(0.005)
        stop.set()
        filters = []
        # Served by the model's indexes: selective and wide ones. A filter
        # in the first-seen order shows its first rows when apply_filter
        # returns (the time taken here) and tests the rest a step at a time
        # between keys: how long until every row is tested (wall) and the
        # longest step (the UI thread held at once) are kept too.
        indexed, whole, longest = {}, {}, {}

        async def run(text: str) -> float:
            started = time.perf_counter()
            screen.apply_filter(text)
            shown = (time.perf_counter() - started) * 1000
            selection = screen._selection
            while screen._selection is not None:
                await asyncio.sleep(0)
            whole[text] = (time.perf_counter() - started) * 1000
            longest[text] = max(shown, (selection.longest * 1000) if selection else 0)
            return shown

        for text in ("state:failure", "name:add worker:alpha", "worker:beta",
                     "queue:emails", "state:success", "name:xyz-none"):
            indexed[text] = await run(text)
            filters.append(indexed[text] / 1000)
        free = {}
        for text in ("nomatch-xyz", "add"):
            free[text] = await run(text)
            filters.append(free[text] / 1000)
        screen.apply_filter("")
        # A sort shows its first rows when `s` returns (the time taken here)
        # and sorts the rest a step at a time between keys: by uuid, name,
        # state.
        sorts, sort_whole, sort_longest = [], [], []
        for _ in range(3):
            started = time.perf_counter()
            screen.action_sort()
            sorts.append(time.perf_counter() - started)
            work = screen._selection
            while screen._selection is not None:
                await asyncio.sleep(0)
            sort_whole.append(time.perf_counter() - started)
            sort_longest.append(max(sorts[-1], work.longest if work else 0))
        held = state.task_count()
    return {"held": held, "tick_p95_ms": p95(ticks), "key_p95_ms": p95(keys),
            "key_work_p95_ms": p95(direct),
            "filter_max_ms": max(filters) * 1000, "sort_max_ms": max(sorts) * 1000,
            "indexed_max_ms": max(indexed.values()), "indexed_ms": indexed,
            "free_max_ms": max(free.values()), "free_ms": free,
            "whole_ms": whole, "longest_step_ms": longest,
            "indexed_whole_max_ms": max(whole[t] for t in indexed),
            "free_whole_max_ms": max(whole[t] for t in free),
            "sorts_ms": [x * 1000 for x in sorts],
            "sort_whole_max_ms": max(sort_whole) * 1000,
            "sort_longest_step_ms": max(sort_longest) * 1000,
            "sorts_whole_ms": [x * 1000 for x in sort_whole]}


if __name__ == "__main__":
    import sys

    tasks = int(sys.argv[sys.argv.index("--tasks") + 1]) if "--tasks" in sys.argv else TASKS
    result = asyncio.run(measure(tasks))
    # The same keys with 100 tasks held: what Pilot and Textual cost by
    # themselves, so the 100k figure can be read against it.
    if "--no-small" not in sys.argv:
        result["key_p95_ms_100_tasks"] = asyncio.run(measure(100))["key_p95_ms"]
    print(json.dumps(result))
