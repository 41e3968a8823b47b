"""Reading a worker's inspection replies: what the worker detail screen and
the worker dialogs show, kept here so it is tested without a screen."""

from __future__ import annotations

import re

# Asked of `registered` so the limits set from the console can be read back.
REGISTERED_ITEMS = ("rate_limit", "soft_time_limit", "time_limit")
_ENTRY = re.compile(r"^(?P<name>\S+)(?:\s+\[(?P<info>.*)\])?$")


def parse_registered(entry) -> tuple[str, dict[str, str]]:
    """``"tasks.add [rate_limit=10/s time_limit=30]"`` → name and limits."""
    match = _ENTRY.match(str(entry).strip())
    if match is None:
        return str(entry), {}
    limits = {}
    for item in (match.group("info") or "").split():
        key, sep, value = item.partition("=")
        if sep:
            limits[key] = value
    return match.group("name"), limits


def reply(state, hostname: str, kind: str):
    """(received_at, reply or None, error or None), or None if never asked."""
    return state.inspection(hostname, kind)


def registered(state, hostname: str) -> list[tuple[str, dict[str, str]]]:
    entry = reply(state, hostname, "registered")
    if not entry or not isinstance(entry[1], list):
        return []
    return [parse_registered(e) for e in entry[1]]


def queue_names(active_queues) -> list[str]:
    """The queue names in one worker's ``active_queues`` reply, sorted."""
    if not isinstance(active_queues, list):
        return []
    return sorted(q["name"] for q in active_queues if isinstance(q, dict) and q.get("name"))


def consumed_queues(state, hostname: str) -> list[str]:
    entry = reply(state, hostname, "active_queues")
    return queue_names(entry[1]) if entry else []


def task_names(state, hostnames) -> list[str]:
    """Task types registered on any of these workers, or seen in events."""
    names = {name for host in hostnames for name, _ in registered(state, host)}
    if not names:
        names = {t.name for t in state.recent_tasks(5_000) if t.name}
    return sorted(names)
