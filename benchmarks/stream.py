"""A realistic synthetic event stream: the recorded real stream's task
lifecycles, re-keyed with fresh uuids and shifted times, with worker
heartbeats between them. Generated lazily so it costs no memory."""

from __future__ import annotations

import json
import uuid as uuidlib
from pathlib import Path

RECORDED = Path(__file__).resolve().parents[1] / "tests" / "data" / "celery-5.7-events.jsonl"


def lifecycles() -> list[list[dict]]:
    by_task: dict[str, list[dict]] = {}
    for line in RECORDED.read_text().splitlines():
        event = json.loads(line)
        if event.get("type", "").startswith("task-") and event.get("uuid"):
            by_task.setdefault(event["uuid"], []).append(event)
    return [events for events in by_task.values() if len(events) >= 3]


def events(tasks: int, start: float = 1_800_000_000.0):
    """Yield the events of ``tasks`` task lifecycles (~4 events each)."""
    templates = lifecycles()
    now = start
    for n in range(tasks):
        template = templates[n % len(templates)]
        new_id = str(uuidlib.uuid4())
        offset = now - template[0]["timestamp"]
        for event in template:
            out = dict(event)
            out["uuid"] = new_id
            out["root_id"] = new_id
            out["timestamp"] = event["timestamp"] + offset
            out["local_received"] = out["timestamp"]
            yield out
        now += 0.001
        if n % 500 == 0:
            for host in ("alpha@rec-host", "beta@rec-host"):
                yield {"type": "worker-heartbeat", "hostname": host, "freq": 2.0,
                       "timestamp": now, "local_received": now, "active": 1,
                       "processed": n, "loadavg": [0.5, 0.4, 0.3], "clock": n,
                       "sw_ident": "py-celery", "sw_ver": "5.7.0", "sw_sys": "Linux"}
