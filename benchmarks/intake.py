"""Events applied per second, while filling to 100k tasks and once 100k are held.

Run in a fresh subprocess per model and repeat, so one model's garbage does
not slow the next: `python -m benchmarks.intake MODEL TASKS` prints JSON."""

from __future__ import annotations

import gc
import json
import sys
import time

from .models import make
from .stream import events


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import resource

    return pages * resource.getpagesize() / 2**20


def run(model: str, tasks: int) -> dict:
    apply = make(model, max_tasks=tasks)
    if apply is None:
        return {"model": model, "missing": True}
    # Pre-build batches outside the timed loop: Celery's State mutates the
    # dicts it is given, so every model gets its own copies.
    fill = list(events(tasks))
    more = list(events(tasks // 4, start=1_900_000_000.0))
    gc.collect()
    base = rss_mib()
    start, cpu = time.perf_counter(), time.process_time()
    for event in fill:
        apply(event)
    filling = len(fill) / (time.perf_counter() - start)
    filling_cpu = len(fill) / (time.process_time() - cpu)
    fill_rss = rss_mib()
    del fill
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    for event in more:
        apply(event)
    held = len(more) / (time.perf_counter() - start)
    held_cpu = len(more) / (time.process_time() - cpu)
    # Per CPU second as well: on a machine shared with other work, wall time
    # also measures the neighbours; CPU time measures the model.
    return {"model": model, "filling_eps": filling, "held_eps": held,
            "filling_cpu_eps": filling_cpu, "held_cpu_eps": held_cpu,
            "rss_mib": fill_rss - base}


def memory(model: str, tasks: int, decoded: bool = False) -> dict:
    """RSS added by holding ``tasks`` tasks, events streamed (not kept).
    ``decoded``: each event goes through JSON and back first, as off the
    wire, so no two events share a string (the stream's copies share the
    recording's)."""
    gc.collect()
    base = rss_mib()
    apply = make(model, max_tasks=tasks)
    if apply is None:
        return {"model": model, "missing": True}
    if decoded:
        import msgspec

        encode, decode = msgspec.json.encode, msgspec.json.decode
        for event in events(tasks):
            apply(decode(encode(event)))
        gc.collect()
        return {"model": model, "rss_mib": rss_mib() - base}
    for event in events(tasks):
        apply(event)
    gc.collect()
    return {"model": model, "rss_mib": rss_mib() - base}


if __name__ == "__main__":
    mode, model, tasks = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "memory-decoded":
        print(json.dumps(memory(model, tasks, decoded=True)))
    else:
        print(json.dumps((run if mode == "intake" else memory)(model, tasks)))
