"""`python -m benchmarks [--only intake,screens,types,million,heap,brokers,surgery,e2e,startup]
[--no-brokers]`: every case, each repeated (median of 3, min–max shown), the
peers measured in the same run, one table. A full run writes the table to
benchmarks/RESULTS.md as well."""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import startup
from .models import MODELS

HERE = Path(__file__).resolve().parent
CASES = ("intake", "screens", "types", "million", "heap", "brokers", "surgery", "e2e",
         "startup")
MILLION = 1_000_000


def child(*args: str, timeout: float = 900) -> dict:
    out = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                         timeout=timeout, cwd=HERE.parent)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def verdict(values: list[float], limit: float) -> str:
    """Against a target of at most ``limit``, judged on the median."""
    if not values:
        return "not measured"
    return "met" if statistics.median(values) <= limit else "NOT met"


def spread(values: list[float], fmt: str) -> str:
    if not values:
        return "—"
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return f"{fmt.format(statistics.median(values))} ({low}–{high})"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-brokers", action="store_true",
                        help="skip purge, inspection, queue surgery and end to end (they "
                        "need RabbitMQ and Redis)")
    parser.add_argument("--only", default=",".join(CASES),
                        help="comma-separated cases to run (default: all)")
    args = parser.parse_args()
    only = set(args.only.split(","))
    rows: list[tuple[str, str, str]] = []
    n = args.repeat

    intake = {m: [] for m in MODELS}
    memory = {m: [] for m in MODELS}
    if "intake" in only:
        print(f"intake and memory, {args.tasks:,} tasks …", file=sys.stderr)
    for _ in range(n if "intake" in only else 0):
        for model in MODELS:
            result = child("benchmarks.intake", "intake", model, str(args.tasks))
            if not result.get("missing"):
                intake[model].append(result)
            result = child("benchmarks.intake", "memory", model, str(args.tasks))
            if not result.get("missing"):
                memory[model].append(result["rss_mib"])
    keys = ("filling_eps", "held_eps", "filling_cpu_eps", "held_cpu_eps")
    med = {m: {k: statistics.median(r[k] for r in intake[m]) for k in keys}
           for m in MODELS if intake[m]}
    for key, label in (("filling_eps", "intake while filling (events/s)"),
                       ("held_eps", f"intake with {args.tasks // 1000}k tasks held (events/s)"),
                       ("held_cpu_eps", f"intake with {args.tasks // 1000}k tasks held "
                                        "(events per CPU second)")):
        for model in MODELS:
            if model in med:
                ratio = "" if model == "console" else \
                    f"console is {med['console'][key] / med[model][key]:.1f}× faster"
                rows.append((f"{label}: {model}",
                             spread([r[key] for r in intake[model]], "{:,.0f}"), ratio))
    mem = {m: statistics.median(v) for m, v in memory.items() if v}
    for model in MODELS:
        if model in mem:
            ratio = "" if model == "console" else f"console uses {mem['console'] / mem[model]:.2f}×"
            rows.append((f"RSS for {args.tasks // 1000}k tasks (MiB): {model}",
                         spread(memory[model], "{:,.0f}"), ratio))
    if "flower" not in mem and "intake" in only:
        rows.append(("Flower EventsState", "not installed", "pip install 'celery-console[bench]'"))

    screens = [child("benchmarks.screens") for _ in range(n if "screens" in only else 0)]
    if screens:
        rows.append(("key press to updated frame p95 (ms), 100k held, 5k events/s",
                     spread([s["key_p95_ms"] for s in screens], "{:.1f}"),
                     "same keys with 100 tasks held: "
                     + spread([s["key_p95_ms_100_tasks"] for s in screens], "{:.1f}")
                     + " (Pilot's own cost)"))
        work = [s["key_work_p95_ms"] for s in screens]
        rows.append(("key press handled and visible rows redrawn p95 (ms), 100k held, "
                     "5k events/s", spread(work, "{:.1f}"),
                     f"target ≤ 50: {'met' if statistics.median(work) <= 50 else 'NOT met'}"))
        for key, label, limit in (
                ("tick_p95_ms", "Tasks redraw tick p95 (ms), 100k held, 5k events/s", 10),
                ("filter_max_ms", "filter over 100k tasks (ms)", 100),
                ("sort_max_ms", "sort over 100k tasks (ms)", 100)):
            values = [s[key] for s in screens]
            rows.append((label, spread(values, "{:.1f}"),
                         f"target ≤ {limit}: {verdict(values, limit)}"))

    if "million" in only:
        print("1,000,000 tasks held: memory and the Tasks screen …", file=sys.stderr)
        rss = [child("benchmarks.intake", "memory", "console", str(MILLION), timeout=1800)
               ["rss_mib"] for _ in range(n)]
        rows.append(("RSS for 1,000,000 tasks (MiB): console", spread(rss, "{:,.0f}"),
                     f"{statistics.median(rss) * 2**20 / MILLION:,.0f} bytes a task; "
                     f"target ≤ 800: {verdict(rss, 800)}"))
        big = [child("benchmarks.screens", "--tasks", str(MILLION), "--no-small",
                     timeout=1800) for _ in range(n)]
        for key, label, limit in (
                ("indexed_max_ms", "indexed filters over 1M tasks, first rows shown, slowest "
                 "of state:failure, name:add worker:alpha, worker:beta, queue:emails, "
                 "state:success, name:xyz-none (ms)", 50),
                ("free_max_ms", "free-text filter over 1M tasks, first rows shown, slowest "
                 "of two (ms)", 500),
                ("sort_max_ms", "sort over 1M tasks, first rows shown, slowest of three "
                 "columns (ms)", 500),
                ("tick_p95_ms", "Tasks redraw tick p95 (ms), 1M held, 5k events/s", 10),
                ("key_work_p95_ms", "key press handled and visible rows redrawn p95 (ms), "
                 "1M held, 5k events/s", 50)):
            values = [b[key] for b in big]
            rows.append((label, spread(values, "{:.1f}"),
                         f"target ≤ {limit}: {verdict(values, limit)}"))
        slow = {text: statistics.median(b["indexed_ms"][text] for b in big)
                for text in big[0]["indexed_ms"]}
        rows.append(("each indexed filter over 1M (ms, median)",
                     ", ".join(f"{t} {v:.0f}" for t, v in slow.items()), ""))
        for key, label in (
                ("indexed_whole_max_ms", "the indexed filters, every row tested (the rest "
                 "in steps between keys; wall ms), slowest"),
                ("free_whole_max_ms", "the free-text filters, every row tested (wall ms), "
                 "slowest"),
                ("sort_whole_max_ms", "the sorts, every row in order (the rest in steps "
                 "between keys; wall ms), slowest"),
                ("sort_longest_step_ms", "the sorts' longest step (the UI thread held at "
                 "once; ms)")):
            values = [b[key] for b in big]
            rows.append((label, spread(values, "{:.1f}"), "no target: the screen stays live"))
        done = {text: statistics.median(b["whole_ms"][text] for b in big)
                for text in big[0]["whole_ms"]}
        rows.append(("each filter over 1M, every row tested (wall ms, median)",
                     ", ".join(f"{t} {v:.0f}" for t, v in done.items()), ""))
        held = [max(b["longest_step_ms"].values()) for b in big]
        rows.append(("longest the UI thread was held by a filter over 1M (ms)",
                     spread(held, "{:.1f}"), ""))
    types = [child("benchmarks.types") for _ in range(n if "types" in only else 0)]
    if types:
        for key, label in (("tick_p95_ms", "Task types redraw tick p95 (ms), 500 types, "
                                           "100k held, 5k events/s"),
                           ("sorted_tick_p95_ms", "the same, sorted by runtime p99")):
            values = [t[key] for t in types]
            rows.append((label, spread(values, "{:.1f}"), f"target ≤ 10: {verdict(values, 10)}"))

    if not args.no_brokers and "brokers" in only:
        for kind in ("rabbitmq", "redis"):
            print(f"{kind}: purge and inspection …", file=sys.stderr)
            purges = [child("benchmarks.brokers", kind, "purge")["seconds"] for _ in range(n)]
            rows.append((f"purge 100k messages, confirm → broker reports 0 (ms): {kind}",
                         spread([p * 1000 for p in purges], "{:,.0f}"), ""))
            rounds = [child("benchmarks.brokers", kind, "inspect") for _ in range(n)]
            ours = [r["limit_s"] * 1000 for r in rounds]
            fixed = [r["fixed_s"] * 1000 for r in rounds]
            rows.append((f"inspection round, 2 workers (ms): {kind}", spread(ours, "{:,.0f}"),
                         "fixed-timeout round (Flower, celery inspect): "
                         f"{spread(fixed, '{:,.0f}')}"))

    if "heap" in only:
        rows.extend(heap_rows(n))

    if not args.no_brokers and "surgery" in only:
        for kind in ("rabbitmq", "redis"):
            rows.extend(surgery_rows(kind, n))

    if not args.no_brokers and "e2e" in only:
        for kind in ("rabbitmq", "redis"):
            print(f"{kind}: end to end, lists of 24 at {E2E_PACE:,} events/s …",
                  file=sys.stderr)
            rows.append(end_to_end_row(kind, 24, "lists of 24 as workers send, 3 producers "
                                       f"paced to {E2E_PACE:,} events/s", n, rate=E2E_PACE))
            print(f"{kind}: end to end, one event per message …", file=sys.stderr)
            rows.append(end_to_end_row(kind, 1, "one event per message, 3 producers", n))
            capacity = {}
            for consumer in ("console", "celery", "flower"):
                print(f"{kind}: ceiling, {consumer} …", file=sys.stderr)
                rows.append(ceiling_row(kind, consumer, n))
                print(f"{kind}: CPU per event, {consumer} …", file=sys.stderr)
                capacity[consumer] = [e2e(kind, 24, 0.0, consumer, seconds=6.0)
                                      ["applied_per_cpu_s"] for _ in range(n)]
            rows.extend(capacity_rows(kind, capacity))

    if "startup" in only:
        helps = [startup.help_seconds() * 1000 for _ in range(n)]
        frames = [startup.first_frame_seconds() * 1000 for _ in range(n)]
        rows.append(("`console --help` (ms)", spread(helps, "{:,.0f}"), ""))
        rows.append(("launch to first frame, headless (ms)", spread(frames, "{:,.0f}"),
                     "target ≤ 1000"))

    machine = (f"{platform.python_implementation()} {platform.python_version()}, "
               f"{subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores, "
               f"{time.strftime('%Y-%m-%d')}")
    lines = [f"Measured {machine}; median of {n} (min–max).", "",
             "| case | result | compared |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    table = "\n".join(lines)
    print(table)
    if only == set(CASES):
        # Sections (## …) after the table explain figures: keep them.
        results = HERE / "RESULTS.md"
        old = results.read_text() if results.exists() else ""
        notes = old[old.index("\n## "):] if "\n## " in old else ""
        results.write_text(table + "\n" + notes)


def heap_rows(n: int) -> list[tuple[str, str, str]]:
    """The garbage collector's longest pause while 1M tasks fill the model
    and while 500k more stream through it, with the console's heap policy
    and without (core/heap.py)."""
    runs: dict[str, list[dict]] = {"off": [], "on": []}
    for _ in range(n):  # interleaved: a slower minute hits both alike
        for policy in runs:
            print(f"heap: 1,000,000 tasks, policy {policy} …", file=sys.stderr)
            runs[policy].append(child("benchmarks.heap", "--policy", policy, timeout=1800))

    def longest(policy: str, phase: str) -> list[float]:
        return [r["pauses"].get(phase, {}).get("max_ms", 0.0) for r in runs[policy]]

    def full(policy: str, phase: str) -> list[float]:
        return [r["pauses"].get(phase, {}).get("gen2", {}).get("count", 0)
                for r in runs[policy]]

    rows = []
    for phase, label in (("fill", "while 1,000,000 tasks fill the model"),
                         ("churn", "while 500,000 more stream through it")):
        rows.append((f"longest garbage-collector pause {label} (ms): heap policy on",
                     spread(longest("on", phase), "{:,.0f}"),
                     f"without: {spread(longest('off', phase), '{:,.0f}')}; full "
                     f"collections {spread(full('on', phase), '{:,.0f}')} with, "
                     f"{spread(full('off', phase), '{:,.0f}')} without"))
    rows.append(("the policy's whole-heap sweep, 1M held, run when the operator is idle "
                 "(ms)", spread([r["sweep_ms"] for r in runs["on"]], "{:,.0f}"),
                 "at most once an hour; process RSS with the policy "
                 f"{spread([r['rss_mib'] for r in runs['on']], '{:,.0f}')} MiB, without "
                 f"{spread([r['rss_mib'] for r in runs['off']], '{:,.0f}')}"))
    return rows


def surgery_rows(kind: str, n: int) -> list[tuple[str, str, str]]:
    """Peek of 10k; selective purge of 50k of 100k interleaved, against the
    whole-queue purge of the same 100k and celery.contrib.migrate.move.
    Each run checks what is left on the broker before it reports a time."""
    def runs(case: str, times: int) -> list[dict]:
        return [child("benchmarks.surgery", kind, case, timeout=1800) for _ in range(times)]

    print(f"{kind}: queue surgery, peek …", file=sys.stderr)
    peeks = runs("peek", n)
    seconds = [p["seconds"] for p in peeks]
    compared = (f"{spread([p['counted'] / p['seconds'] for p in peeks], '{:,.0f}')} "
                "messages/s")
    if kind == "rabbitmq":
        compared += ("; all 10,000 back in the queue (broker's count) "
                     f"{spread([p['back_s'] * 1000 for p in peeks], '{:,.0f}')} ms after")
    rows = [(f"peek 10k messages, read and grouped (ms): {kind}",
             spread([s * 1000 for s in seconds], "{:,.0f}"), compared)]

    print(f"{kind}: queue surgery, selective purge …", file=sys.stderr)
    removes = runs("remove", n)
    ours = [r["seconds"] for r in removes]
    order = "kept in order" if all(r["in_order"] for r in removes) else "order NOT kept"
    rows.append((f"selective purge of 50k of 100k interleaved, remove → broker reports 50k "
                 f"(s): {kind}", spread(ours, "{:,.1f}"),
                 f"{spread([r['examined'] / r['seconds'] for r in removes], '{:,.0f}')} "
                 f"messages examined/s; every run left exactly 50,000, all bench.keep, "
                 f"{order}"))
    print(f"{kind}: whole-queue purge of the same 100k …", file=sys.stderr)
    purges = [r["seconds"] for r in runs("purge", n)]
    rows.append((f"whole-queue queue_purge of the same 100k → broker reports 0 (ms): {kind}",
                 spread([p * 1000 for p in purges], "{:,.0f}"),
                 f"the selective purge takes "
                 f"{statistics.median(ours) / statistics.median(purges):,.0f}× as long"))
    # celery's move holds every message it keeps unacknowledged until it
    # stops. On RabbitMQ that slows the broker as they pile up (minutes for
    # 100k) and a stall longer than its timeout ends it half done: not run
    # by default there (`python -m benchmarks.surgery rabbitmq migrate`).
    label = ("celery.contrib.migrate.move of the 50k to a queue, deleted, rest given back "
             f"(s): {kind}")
    if kind == "rabbitmq":
        rows.append((label, "not run: minutes a run",
                     "python -m benchmarks.surgery rabbitmq migrate [--timeout S]"))
        return rows
    print(f"{kind}: celery.contrib.migrate.move …", file=sys.stderr)
    moves = runs("migrate", n)
    done = [m for m in moves if m["complete"]]
    theirs = [m["seconds"] for m in done]
    compared = "" if not done else (
        f"console is {statistics.median(theirs) / statistics.median(ours):.1f}× faster; "
        f"50,000 left, all bench.keep, "
        f"{'kept in order' if all(m['in_order'] for m in done) else 'order not kept'}")
    stopped = [m for m in moves if not m["complete"]]
    if stopped:
        seen = ", ".join(f"{m['seen']:,}" for m in stopped)
        compared += (f"; {len(stopped)} of {n} runs stopped early (idle "
                     f"{stopped[0]['timeout']} s) after {seen} of 100,000")
    rows.append((label, spread(theirs, "{:,.1f}"), compared.lstrip("; ")))
    return rows


# Published events/s the end-to-end target asks for, and the steps of the
# ceiling search (each one run while the previous kept lag ≤ 1 s).
E2E_TARGET = 60_000
# Paced a little above the target: the rate is counted from the first
# publish to the last, so pacing to exactly 60,000 reads 59,9xx.
E2E_PACE = 62_000
E2E_STEPS = (10_000, 20_000, 40_000, 60_000, 80_000, 100_000)


def e2e(kind: str, batch: int, rate: float = 0.0, consumer: str = "console",
        seconds: float = 8.0) -> dict:
    return child("benchmarks.e2e", kind, "--batch", str(batch), "--rate", str(rate),
                 "--consumer", consumer, "--seconds", str(seconds))


def kept_up(run: dict) -> bool:
    return run["lag_s"] is not None and run["lag_s"] <= 1.0 and not run["dropped_by_us"]


def end_to_end_row(kind: str, batch: int, shape: str, n: int,
                   rate: float = 0.0) -> tuple[str, str, str]:
    """Lag from the last publish to the last applied event, and every event
    accounted for: published, delivered to our consumer, applied."""
    runs = [e2e(kind, batch, rate) for _ in range(n)]
    lags = [r["lag_s"] for r in runs if r["lag_s"] is not None]
    incomplete = len(runs) - len(lags)  # never caught up: no last event to time
    delivered = sum(r["delivered"] for r in runs)
    applied = sum(r["applied"] for r in runs)
    dropped = sum(r["dropped_by_us"] for r in runs)
    lost = sum(r["lost_before_us"] for r in runs)
    met = not incomplete and verdict(lags, 1.0) == "met" and dropped == 0
    published = [r["publish_eps"] for r in runs]
    rate_met = not rate or statistics.median(published) >= min(rate, E2E_TARGET)
    result = spread(lags, "{:.3f}") + (f"; {incomplete} runs never caught up" if incomplete else "")
    compared = (f"{runs[0]['producers']} producers published "
                f"{spread(published, '{:,.0f}')} events/s, the console "
                f"applied {spread([r['apply_eps'] for r in runs], '{:,.0f}')}/s; delivered "
                f"{delivered:,}, applied {applied:,}: {dropped:,} dropped by us, {lost:,} lost "
                f"before us; target lag ≤ 1 s and 0 dropped: {'met' if met else 'NOT met'}"
                + ("" if rate_met else
                   f" (but the producers did not reach {min(rate, E2E_TARGET):,.0f}/s)"))
    return (f"end to end, {shape}: last publish → last applied (s): {kind}", result, compared)


def capacity_rows(kind: str, capacity: dict[str, list[float]]) -> list[tuple[str, str, str]]:
    """Events applied per CPU second of the consumer's process (producers
    as fast as they can, lists of 24): what each consumer sustains on a
    core of its own, read the same way on a busy machine."""
    ours = statistics.median(capacity["console"])
    rows = []
    for consumer, values in capacity.items():
        ratio = "" if consumer == "console" else \
            f"console is {ours / statistics.median(values):.1f}× as much"
        rows.append((f"events applied per CPU second of the consumer, lists of 24: {kind}, "
                     f"{consumer}", spread(values, "{:,.0f}"), ratio))
    return rows


def ceiling_row(kind: str, consumer: str, n: int) -> tuple[str, str, str]:
    """The highest published rate (3 producers, lists of 24) a consumer
    applied with lag ≤ 1 s and nothing dropped or lost: the steps are run in
    turn until one fails."""
    ceilings: list[float] = []
    failed_at: list[str] = []
    for _ in range(n):
        best = 0.0
        for step in E2E_STEPS:
            run = e2e(kind, 24, step, consumer, seconds=6.0)
            if not kept_up(run) or run["lost_before_us"]:
                lag = "never caught up" if run["lag_s"] is None else f"lag {run['lag_s']:.1f} s"
                failed_at.append(f"{run['publish_eps']:,.0f}/s: {lag}, "
                                 f"{run['lost_before_us']:,} lost")
                break
            best = max(best, run["publish_eps"])
        ceilings.append(best)
    label = {"console": "console", "celery": "celery EventReceiver + State",
             "flower": "Flower 2.2.0 EventsState"}[consumer]
    return (f"ceiling: highest published events/s with lag ≤ 1 s, lists of 24 "
            f"(events/s): {kind}, {label}", spread(ceilings, "{:,.0f}"),
            "first step missed: " + "; ".join(failed_at) if failed_at
            else f"kept up at every step (targets up to {E2E_STEPS[-1]:,}/s; the rate "
            "shown is what the producers reached)")


if __name__ == "__main__":
    main()
