"""What the companion extension costs a worker: throughput of a real
prefork worker on N fast tasks (``add``) with the extension loaded and
without it, runs interleaved, median of ``--repeat``.

`python -m benchmarks.extension [--tasks 5000] [--repeat 3] [--concurrency 2]
[--no-control]` prints a table and, last, one JSON line.

Each run measures, one after another and each alone, a new worker without
the extension, one with it, and (unless ``--no-control``) a second one
without it: the A/A control, which shows what the harness resolves. Results
are ignored (the file store's writes would dominate); everything else is as
the companion configures it (task events on). Each run: the worker's consumer is
cancelled, its queue filled with N ``add`` tasks, the consumer added back,
and the clock runs until the N-th task-succeeded event from that worker.
Uses Redis (db ``CONSOLE_TEST_REDIS_DB``, default 9), flushed after.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from brokers import BrokerEnv, companion_app, redis_env, running_worker  # noqa: E402

ADD = "console.companion.tasks.add"


def cpu_seconds(host: str) -> float:
    """User + system CPU of every process of the worker ``host`` (its main
    process and pool children, found by the hostname on their command line)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                if host.encode() not in handle.read():
                    continue
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def one_run(app, host: str, queue: str, tasks: int) -> tuple[float, float]:
    """Seconds from the consumer added back to the N-th task-succeeded event
    from this worker. Counted from events, which both workers send alike:
    polling ``inspect stats`` would make the extension answer (its cost when
    asked) 20 times a second."""
    app.control.cancel_consumer(queue, destination=[host], reply=True, timeout=2)
    with app.producer_or_acquire() as producer:
        for i in range(tasks):
            app.send_task(ADD, args=[i, i], queue=queue, producer=producer)
    done = threading.Event()
    count = [0]

    def succeeded(event: dict) -> None:
        if event.get("hostname") == host:
            count[0] += 1
            if count[0] >= tasks:
                done.set()

    with app.connection_for_read() as conn:
        receiver = app.events.Receiver(conn, handlers={"task-succeeded": succeeded})
        listening = threading.Thread(target=_listen, args=(receiver, done), daemon=True)
        listening.start()
        time.sleep(0.5)  # the event queue is bound before the first task runs
        cpu = cpu_seconds(host)
        started = time.perf_counter()
        app.control.add_consumer(queue, destination=[host], reply=True, timeout=2)
        if not done.wait(600):
            raise RuntimeError(f"{host}: {count[0]} of {tasks} tasks done in 600 s")
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(host) - cpu
        receiver.should_stop = True
        listening.join(5)
    return elapsed, cpu


def _listen(receiver, done: threading.Event) -> None:
    # No timeout: a Redis subscription made again after one would miss the
    # events published in between. The thread ends when its connection closes.
    try:
        for _ in receiver.itercapture(limit=None, timeout=None, wakeup=True):
            if done.is_set():
                return
    except Exception:
        return


def hook_cost(calls: int = 200_000) -> float:
    """Microseconds the extension adds to each task when nobody asks: the
    ``task_postrun`` send Celery makes once a receiver is connected, with
    ours counting (without the extension Celery skips the send)."""
    from celery.signals import task_postrun

    from console.companion import extension

    task_postrun.connect(extension._count_task, weak=False, dispatch_uid="bench")
    try:
        started = time.perf_counter()
        for i in range(calls):
            task_postrun.send(sender=None, task_id="x", task=None, args=(i,), kwargs={},
                              retval=i, state="SUCCESS")
        return (time.perf_counter() - started) / calls * 1e6
    finally:
        task_postrun.disconnect(dispatch_uid="bench")


@contextmanager
def _fresh_worker(env: BrokerEnv, logs: Path, n: int, seed: int,
                  concurrency: int) -> Iterator[tuple[str, str]]:
    """A new worker for one measurement, alone on the machine while it runs.

    A worker process keeps what it drew at start for its whole life (its
    hash seed, where its memory lies): kept across runs, that made two
    identical workers differ by about 5% for a whole session. A new worker
    each time turns that into noise the median averages out; the modes of
    one run share a hash seed; no idle worker runs beside the one measured."""
    queue = f"bench-ext-{n}"
    # The environment's size moves where the process's stack and memory lie,
    # and with it the speed of the same code by several per cent (a variable
    # set in one mode only once made that mode 10% slower in 9 runs of 9):
    # every mode sets the same variables to values of the same length, and
    # each run pads them by its own length, the same for every mode of it.
    pad = "x" * random.Random(seed).randrange(4096)
    seeded = BrokerEnv(env.kind, env.url,
                       extra_env={**env.extra_env, "PYTHONHASHSEED": str(seed),
                                  "CONSOLE_BENCH_PAD": pad})
    with running_worker(seeded, logs, queues=queue, name=f"bench{n}",
                        concurrency=concurrency) as host:
        yield host, queue


def _table(title: str, unit: str, values: dict[str, list[float]], base: str) -> list[str]:
    medians = {mode: statistics.median(v) for mode, v in values.items()}
    lines = [f"| {title} | {unit} (min–max) | vs {base} |", "|---|---|---|"]
    for mode, v in values.items():
        change = "" if mode == base else f"{(medians[mode] / medians[base] - 1) * 100:+.1f}%"
        lines.append(f"| {mode} | {medians[mode]:,.0f} ({min(v):,.0f}–{max(v):,.0f}) "
                     f"| {change} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.extension")
    parser.add_argument("--tasks", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--no-control", action="store_true",
                        help="leave out the A/A control (a second worker without "
                             "the extension, which shows what the harness resolves)")
    args = parser.parse_args()
    base = redis_env()
    conf = json.dumps({"task_ignore_result": True})
    without = {"CONSOLE_CONF": conf, "CONSOLE_COMPANION_EXTENSION": "0"}
    modes = {
        "without": BrokerEnv("redis", base.url, extra_env=without),
        "with the extension": BrokerEnv("redis", base.url, extra_env={
            "CONSOLE_CONF": conf, "CONSOLE_COMPANION_EXTENSION": "1"}),
    }
    if not args.no_control:
        modes["without, again (A/A control)"] = BrokerEnv("redis", base.url,
                                                          extra_env=dict(without))
    seconds: dict[str, list[float]] = {mode: [] for mode in modes}
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    app = companion_app(base)
    try:
        with tempfile.TemporaryDirectory() as logs:
            for r in range(args.repeat):
                # Each run its own workers, and the order turned each run.
                order = list(modes)[r % len(modes):] + list(modes)[:r % len(modes)]
                for mode in order:
                    n = list(modes).index(mode)
                    with _fresh_worker(modes[mode], Path(logs), n, seed=r + 1,
                                       concurrency=args.concurrency) as (host, queue):
                        elapsed, used = one_run(app, host, queue, args.tasks)
                    seconds[mode].append(elapsed)
                    cpu[mode].append(used / args.tasks * 1e6)
                    print(f"run {r + 1} {mode}: {elapsed:.2f} s, "
                          f"{cpu[mode][-1]:.0f} µs CPU a task", file=sys.stderr)
    finally:
        base.close()
    rates = {mode: [args.tasks / s for s in values] for mode, values in seconds.items()}
    print("\n".join(_table(f"worker (prefork ×{args.concurrency}), {args.tasks:,} `add` tasks",
                           f"tasks/s, median of {args.repeat}", rates, "without")))
    print()
    print("\n".join(_table("CPU of the worker's processes per task",
                           f"µs, median of {args.repeat}", cpu, "without")))
    slower = sum(w < o for w, o in zip(rates["with the extension"], rates["without"],
                                        strict=True))
    print(f"\nruns where the worker with the extension was the slower: {slower} of "
          f"{args.repeat}")
    per_task = hook_cost()
    print(f"\nper-task cost while not asked (the task_postrun counter): {per_task:.2f} µs")

    def change(values: dict[str, list[float]], mode: str) -> float | None:
        if mode not in values:
            return None
        return round((statistics.median(values[mode]) / statistics.median(values["without"])
                      - 1) * 100, 2)

    print(json.dumps({"tasks": args.tasks, "seconds": seconds, "tasks_per_s": rates,
                      "change_percent": change(rates, "with the extension"),
                      "control_change_percent": change(rates, "without, again (A/A control)"),
                      "hook_us": round(per_task, 3), "slower_runs": slower, "cpu_us_per_task": cpu,
                      "cpu_change_percent": change(cpu, "with the extension")}))


if __name__ == "__main__":
    main()
