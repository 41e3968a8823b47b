"""`python -m benchmarks [--quick] [--no-brokers]`: every case, each repeated
(median of 3, min–max shown), the peers measured in the same run, one table.
Writes the table to benchmarks/RESULTS.md as well."""

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


def child(*args: str, timeout: float = 900) -> dict:
    out = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                         timeout=timeout, cwd=HERE.parent)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def spread(values: list[float], fmt: str) -> str:
    if not values:
        return "—"
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-brokers", action="store_true",
                        help="skip purge and inspection (they need RabbitMQ and Redis)")
    parser.add_argument("--only", default="intake,screens,brokers,startup",
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
    med = {m: {k: statistics.median(r[k] for r in intake[m]) for k in ("filling_eps", "held_eps")}
           for m in MODELS if intake[m]}
    for key, label in (("filling_eps", "intake while filling (events/s)"),
                       ("held_eps", f"intake with {args.tasks // 1000}k tasks held (events/s)")):
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
                     + " (Pilot's own cost); target ≤ 50"))
        for key, label, target in (
                ("tick_p95_ms", "Tasks redraw tick p95 (ms), 100k held, 5k events/s", "≤ 10"),
                ("filter_max_ms", "filter over 100k tasks (ms)", "≤ 100"),
                ("sort_max_ms", "sort over 100k tasks (ms)", "≤ 100")):
            rows.append((label, spread([s[key] for s in screens], "{:.1f}"),
                         f"target {target}"))

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
                         f"fixed-timeout round (Flower, celery inspect): {spread(fixed, '{:,.0f}')}"))

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
    if only == {"intake", "screens", "brokers", "startup"}:
        (HERE / "RESULTS.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
