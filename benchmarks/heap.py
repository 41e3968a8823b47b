"""The cyclic garbage collector's pauses while a big model fills and while
tasks stream through it once full, with and without the console's heap
policy (console/core/heap.py).

`python -m benchmarks.heap [--tasks N] [--more M] [--policy on|off]` prints
JSON: every collection timed by a ``gc.callbacks`` hook (the time the GIL
was held by the collector: the capture and the screen both stopped), by
phase and generation: how many, the total and the longest; with the policy
(the console quiet: no dialog up), the one whole-heap sweep it does when the
operator is idle is timed too.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from typing import Any

from console.core.heap import HeapPolicy
from console.core.state import ClusterState

from .intake import rss_mib
from .stream import events


class Pauses:
    """Each collection's wall time, by generation, into the current phase."""

    def __init__(self) -> None:
        self.phase = "fill"
        self.seen: dict[str, dict[int, list[float]]] = {}
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
            return
        took = time.perf_counter() - self._start
        self.seen.setdefault(self.phase, {}).setdefault(info["generation"], []).append(took)

    def summary(self) -> dict:
        out: dict[str, Any] = {}
        for phase, by_gen in self.seen.items():
            out[phase] = {f"gen{gen}": {"count": len(times),
                                        "total_ms": sum(times) * 1000,
                                        "max_ms": max(times) * 1000}
                          for gen, times in sorted(by_gen.items())}
            out[phase]["max_ms"] = max(max(t) for t in by_gen.values()) * 1000
        return out


def run(tasks: int, more: int, policy: bool) -> dict:
    pauses = Pauses()
    gc.callbacks.append(pauses)
    heap = HeapPolicy()
    if policy:
        heap.install()
        heap.quiet = lambda: True  # as the console with no dialog up
    state = ClusterState(max_tasks=tasks)

    def feed(stream) -> float:
        apply, clock = state.apply, time.perf_counter
        start = clock()
        for event in stream:
            apply(event)
        return clock() - start

    fill_s = feed(events(tasks))
    pauses.phase = "churn"
    churn_s = feed(events(more, start=1_900_000_000.0))
    out: dict[str, Any] = {"policy": policy, "tasks": tasks, "more": more,
                           "fill_s": fill_s, "churn_s": churn_s, "rss_mib": rss_mib(),
                           "pauses": pauses.summary()}
    if policy:
        pauses.phase = "sweep"
        out["sweep_ms"] = heap.sweep() * 1000
        out["frozen"] = gc.get_freeze_count()
        out["freezes"] = heap.freezes
    gc.callbacks.remove(pauses)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.heap")
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--more", type=int, default=500_000,
                        help="tasks streamed through once the model is full")
    parser.add_argument("--policy", choices=("on", "off"), default="on")
    args = parser.parse_args()
    print(json.dumps(run(args.tasks, args.more, args.policy == "on")))


if __name__ == "__main__":
    main()
