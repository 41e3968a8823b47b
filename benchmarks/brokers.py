"""Broker-side timings: purge of 100k messages and inspection rounds.
Uses the same real-broker helpers as the tests (own vhost / Redis db)."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from brokers import (broker_depth, companion_app, fill_queue, rabbitmq_env,  # noqa: E402
                     redis_env, running_worker)

from console.core.actions import Actions  # noqa: E402
from console.core.audit import AuditLog  # noqa: E402
from console.core.connection import Target  # noqa: E402
from console.core.inspector import Inspector  # noqa: E402
from console.core.state import ClusterState  # noqa: E402


def purge_seconds(broker, messages: int = 100_000) -> float:
    app = companion_app(broker)
    fill_queue(broker, app, "reports", messages)
    assert broker_depth(broker, app, "reports") == messages
    with tempfile.TemporaryDirectory() as tmp:
        actions = Actions(Target(app), ClusterState(), AuditLog(Path(tmp) / "a.jsonl"))
        started = time.perf_counter()
        outcome = actions.purge(["reports"])  # what "confirm" runs
        while broker_depth(broker, app, "reports") != 0:
            time.sleep(0.001)
        elapsed = time.perf_counter() - started
    assert outcome.results["reports"].count == messages, outcome.results
    return elapsed


def inspection_seconds(broker, workers: int = 2) -> dict:
    """One `stats` round: ours (limit= known workers) vs a fixed-timeout round
    as Flower and `celery inspect` do it."""
    app = companion_app(broker)
    with tempfile.TemporaryDirectory() as tmp:
        hosts = []
        contexts = [running_worker(broker, Path(tmp), name=f"bench{i}") for i in range(workers)]
        try:
            for context in contexts:
                hosts.append(context.__enter__())
            state = ClusterState()
            inspector = Inspector(Target(app), state, timeout=1.0)
            ours, fixed = [], []
            for _ in range(3):
                started = time.perf_counter()
                result = inspector.run(("stats",), destination=hosts)[0]
                ours.append(time.perf_counter() - started)
                assert sorted(result.replies) == sorted(hosts), result
                started = time.perf_counter()
                replies = app.control.inspect(timeout=1.0).stats() or {}
                fixed.append(time.perf_counter() - started)
                assert set(hosts) <= set(replies)
        finally:
            for context in reversed(contexts):
                context.__exit__(None, None, None)
    return {"limit_s": sorted(ours)[1], "fixed_s": sorted(fixed)[1]}


if __name__ == "__main__":
    kind, case = sys.argv[1], sys.argv[2]
    broker = rabbitmq_env() if kind == "rabbitmq" else redis_env()
    try:
        if case == "purge":
            print(json.dumps({"seconds": purge_seconds(broker)}))
        else:
            print(json.dumps(inspection_seconds(broker)))
    finally:
        broker.close()
