"""What the companion extension costs a worker: throughput of a real
prefork worker on N fast tasks (``add``) with the extension loaded and
without it, runs interleaved, median of ``--repeat``.

`python -m benchmarks.extension [--tasks 5000] [--repeat 3] [--concurrency 2]`
prints a table and, last, one JSON line.

Both workers run at once, each on its own queue, with results ignored (the
file store's writes would dominate) and everything else as the companion
configures it (task events on). Each run: the worker's consumer is
cancelled, its queue filled with N ``add`` tasks, the consumer added back,
and the clock runs until the worker's own ``stats`` count N more tasks done.
Uses Redis (db ``CONSOLE_TEST_REDIS_DB``, default 9), flushed after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.extension")
    parser.add_argument("--tasks", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    base = redis_env()
    conf = json.dumps({"task_ignore_result": True})
    modes = {
        "with the extension": BrokerEnv("redis", base.url, extra_env={"CONSOLE_CONF": conf}),
        "without": BrokerEnv("redis", base.url, extra_env={
            "CONSOLE_CONF": conf, "CONSOLE_COMPANION_EXTENSION": "0"}),
    }
    seconds: dict[str, list[float]] = {mode: [] for mode in modes}
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    app = companion_app(base)
    try:
        with ExitStack() as stack, tempfile.TemporaryDirectory() as logs:
            hosts = {}
            for n, (mode, env) in enumerate(modes.items()):
                queue = f"bench-ext-{n}"
                hosts[mode] = (stack.enter_context(running_worker(
                    env, Path(logs), queues=queue, name=f"bench{n}",
                    concurrency=args.concurrency)), queue)
            for r in range(args.repeat):
                order = list(modes) if r % 2 == 0 else list(reversed(modes))
                for mode in order:
                    host, queue = hosts[mode]
                    elapsed, used = one_run(app, host, queue, args.tasks)
                    seconds[mode].append(elapsed)
                    cpu[mode].append(used / args.tasks * 1e6)
                    print(f"run {r + 1} {mode}: {elapsed:.2f} s, {cpu[mode][-1]:.0f} µs CPU "
                          "a task", file=sys.stderr)
    finally:
        base.close()
    rates = {mode: [args.tasks / s for s in values] for mode, values in seconds.items()}
    medians = {mode: statistics.median(values) for mode, values in rates.items()}
    change = (medians["with the extension"] / medians["without"] - 1) * 100
    print(f"| worker (prefork ×{args.concurrency}), {args.tasks:,} `add` tasks | tasks/s, "
          f"median of {args.repeat} (min–max) |")
    print("|---|---|")
    for mode, values in rates.items():
        print(f"| {mode} | {medians[mode]:,.0f} ({min(values):,.0f}–{max(values):,.0f}) |")
    print(f"| change | {change:+.1f}% |")
    per_cpu = {mode: statistics.median(values) for mode, values in cpu.items()}
    cpu_change = (per_cpu["with the extension"] / per_cpu["without"] - 1) * 100
    print("\n| CPU of the worker's processes per task | µs, median (min–max) |")
    print("|---|---|")
    for mode, values in cpu.items():
        print(f"| {mode} | {per_cpu[mode]:,.0f} ({min(values):,.0f}–{max(values):,.0f}) |")
    print(f"| change | {cpu_change:+.1f}% |")
    per_task = hook_cost()
    print(f"\nper-task cost while not asked (the task_postrun counter): {per_task:.2f} µs")
    print(json.dumps({"tasks": args.tasks, "seconds": seconds, "tasks_per_s": rates,
                      "change_percent": round(change, 2), "hook_us": round(per_task, 3),
                      "cpu_us_per_task": cpu, "cpu_change_percent": round(cpu_change, 2)}))


if __name__ == "__main__":
    main()
