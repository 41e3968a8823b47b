"""The cost of `--record` on intake: events applied per second by the
model alone and by the recorder then the model (as capture calls them), per
batch size (1: one message per event; 10: a worker's batched events).

`python -m benchmarks.record [EVENTS]` prints a table and, last, JSON.
Each configuration runs in this process, alternated and repeated 3 times
(median): the recording goes to a temporary folder on the same disk.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import tempfile
import time

from console.core.record import Recorder
from console.core.state import ClusterState

from .stream import events


def run(batch: int, record: bool, stream: list[dict], folder: str) -> float:
    state = ClusterState(max_tasks=100_000)
    batches = [stream[i:i + batch] for i in range(0, len(stream), batch)]
    recorder = Recorder(os.path.join(folder, f"rec-{batch}-{time.monotonic_ns()}.jsonl"))
    if record:
        recorder.open()
    gc.collect()
    start = time.perf_counter()
    if record:
        for group in batches:
            recorder.write(group)
            state.apply_many(group)
    else:
        for group in batches:
            state.apply_many(group)
    elapsed = time.perf_counter() - start
    recorder.close()
    return len(stream) / elapsed


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 25_000
    stream = list(events(count))
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="console-record-bench-") as folder:
        for batch in (1, 10):
            plain, recorded = [], []
            for _ in range(3):
                # Fresh copies: the model keeps references to event fields.
                plain.append(run(batch, False, [dict(e) for e in stream], folder))
                recorded.append(run(batch, True, [dict(e) for e in stream], folder))
            p, r = statistics.median(plain), statistics.median(recorded)
            results[f"batch {batch}"] = {
                "events": len(stream), "model_eps": p, "recorded_eps": r,
                "added_us_per_event": (1 / r - 1 / p) * 1e6,
                "bytes_per_event": 0.0}
            size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)
                       if f.startswith(f"rec-{batch}-"))
            results[f"batch {batch}"]["bytes_per_event"] = size / (3 * len(stream))
    for name, row in results.items():
        print(f"{name:>9}: model {row['model_eps']:>9,.0f} ev/s, with --record "
              f"{row['recorded_eps']:>9,.0f} ev/s, +{row['added_us_per_event']:.1f} µs "
              f"per event, {row['bytes_per_event']:.0f} bytes per event", file=sys.stderr)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
