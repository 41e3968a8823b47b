"""The models compared: ours, Celery's State, Flower's EventsState."""

from __future__ import annotations


def make(name: str, max_tasks: int = 100_000):
    """An object with .apply(event) for the named model, or None if absent."""
    if name == "console":
        from console.core.state import ClusterState

        state = ClusterState(max_tasks=max_tasks)
        return state.apply
    if name == "celery":
        from celery.events.state import State

        state = State(max_tasks_in_memory=max_tasks)
        return state.event
    if name == "flower":
        try:
            from flower.events import EventsState
        except ImportError:
            return None
        state = EventsState(max_tasks_in_memory=max_tasks)
        return state.event
    raise ValueError(name)


MODELS = ("console", "celery", "flower")
