"""Reading a worker's inspection replies: what the worker detail screen and
the worker dialogs show, kept here so it is tested without a screen."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .views import REGISTERED_ITEMS, parse_registered, queue_names

if TYPE_CHECKING:
    from .state import ClusterState

__all__ = ["REGISTERED_ITEMS", "parse_registered", "queue_names", "registered",
           "consumed_queues", "task_names"]


def registered(state: ClusterState, hostname: str) -> list[tuple[str, dict[str, str]]]:
    view = state.worker_view(hostname)
    return view.registered if view is not None else []


def consumed_queues(state: ClusterState, hostname: str) -> tuple[str, ...]:
    view = state.worker_view(hostname)
    return view.queues if view is not None else ()


def task_names(state: ClusterState, hostnames: Iterable[str]) -> list[str]:
    """Task types registered on any of these workers, or seen in events."""
    names = {name for host in hostnames for name, _ in registered(state, host)}
    if not names:
        names = {t.name for t in state.recent_tasks(5_000) if isinstance(t.name, str)}
    return sorted(names)
