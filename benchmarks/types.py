"""Task types screen timings with 500 task types held and events applied
meanwhile, headless (App.run_test). `python -m benchmarks.types` prints JSON.

The stream is the recorded one's lifecycles (benchmarks/stream.py) with
each task renamed to one of 500 types, runtimes spread over 0.1 ms–10 s, so
every type has a runtime histogram, rates, waits and failures."""

from __future__ import annotations

import asyncio
import json
import time

from console.cli import Options
from console.core.state import ClusterState
from console.sample import sample_target
from console.ui.app import TICK_SECONDS, ConsoleApp
from console.ui.widgets.live_table import LiveTable

from .screens import background, p95
from .stream import events

TYPES = 500
TASKS = 100_000


def typed(stream, types: int = TYPES):
    """Each task's events under one of ``types`` names, its runtime scaled
    by its type (10^-4 … 10^1 s)."""
    names: dict[str, str] = {}
    for n, event in enumerate(stream):
        uuid = event.get("uuid")
        if uuid is not None:
            name = names.get(uuid)
            if name is None:
                name = names[uuid] = f"bench.type_{len(names) % types:03d}"
                if len(names) > 50_000:
                    names.clear()
            event["name"] = name
            if "runtime" in event:
                event["runtime"] = 10 ** (-4 + 5 * (int(name[-3:]) / types)) * (1 + n % 7 / 10)
        yield event


async def measure(tasks: int = TASKS) -> dict:
    state = ClusterState(max_tasks=tasks)
    state.apply_many(typed(events(tasks)))
    app = ConsoleApp(sample_target(), Options(), state=state, start_threads=False)
    # 5,000 events/s into the model while we measure
    feeder, stop = background(state, typed(events(10**7, start=1_900_000_000.0)))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("6")
        await pilot.pause(0.5)
        feeder.start()
        screen = app.screen
        table = screen.query_one(LiveTable)
        ticks = []
        sorted_ticks = []
        for i in range(200):
            if i == 100:
                await pilot.press("s", "s", "s", "s", "s", "s", "s", "s")  # by p99
                await pilot.pause(0.1)
            started = time.perf_counter()
            screen.tick(time.time(), force=True)
            for y in range(table.size.height):
                table.render_line(y)
            took = time.perf_counter() - started
            (ticks if i < 100 else sorted_ticks).append(took)
            # The app's own cadence (4 ticks a second).
            await pilot.pause(max(0.01, TICK_SECONDS - took))
        stop.set()
        shown = len(table.rows)
    return {"types": shown, "held": state.task_count(), "tick_p95_ms": p95(ticks),
            "sorted_tick_p95_ms": p95(sorted_ticks)}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(measure())))
