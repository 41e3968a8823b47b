"""Re-run a task with the same arguments, honestly.

The arguments come, in this order, from the result backend when the app
stores them (``result_extended``), else from the event's ``args``/``kwargs``
reprs read with ``ast.literal_eval`` — never ``eval``. A repr Celery cut
(``argsrepr_maxsize``, 1,024 by default: long strings end ``...'`` and
deep or long containers hold ``...``), one the console clipped, or one
that is not a literal (``<object at 0x…>``) is refused with the reason;
the dialog then offers the text to edit. Nothing here sends anything:
``Actions.rerun`` does, audited, and refused under ``--read-only``.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .connection import Target
from .records import MAX_VALUE_CHARS
from .views import TaskView

log = logging.getLogger(__name__)


class NotALiteral(ValueError):
    """The text cannot be the task's arguments as they were."""


@dataclass(frozen=True)
class RerunPlan:
    """One task to send again: what, with which arguments, and where from."""

    uuid: str  # the original
    name: str | None
    args: tuple[Any, ...] | None = None
    kwargs: dict[str, Any] | None = None
    source: str = ""  # "the result backend", "the task's events", "edited"
    queue: str | None = None
    routing_key: str | None = None
    args_text: str = ""  # what is known, for the editable field
    kwargs_text: str = ""
    problem: str | None = None  # why it cannot be re-run as it was
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.problem is None and self.name is not None and self.args is not None \
            and self.kwargs is not None

    @property
    def verdict(self) -> str:
        """``as it was``, ``needs editing``, ``cannot``: the preflight's word."""
        if self.ready:
            return "as it was"
        return "cannot" if self.name is None else "needs editing"

    def edited(self, args_text: str, kwargs_text: str) -> RerunPlan:
        """The plan with arguments typed by the operator (checked here)."""
        args = literal_args(args_text, limit=None)
        kwargs = literal_kwargs(kwargs_text, limit=None)
        return replace(self, args=args, kwargs=kwargs, source="edited", problem=None,
                       args_text=args_text, kwargs_text=kwargs_text)


def _walk(value: Any) -> Any:
    """Every value inside ``value`` (containers opened)."""
    yield value
    if isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _walk(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(key)
            yield from _walk(item)


def literal(text: object, what: str, limit: int | None) -> Any:
    """``text`` read as a Python literal, refused when it cannot be the
    value as it was: not a literal, holding ``...``, a string ending in
    ``...`` (how Celery cuts one), or as long as a cut repr gets."""
    if not isinstance(text, str):
        raise NotALiteral(f"no {what} known")
    source = text.strip()
    if limit is not None and len(source) >= limit - 8:
        raise NotALiteral(f"the {what} repr is {len(source):,} characters, the length Celery "
                          f"cuts reprs at ({limit:,}): it may be truncated")
    if len(source) >= MAX_VALUE_CHARS - 1:
        raise NotALiteral(f"the {what} repr was clipped to {MAX_VALUE_CHARS:,} characters "
                          "by the console")
    try:
        value = ast.literal_eval(source)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise NotALiteral(f"the {what} repr is not a Python literal "
                          f"({_head(source)}): it cannot be read back") from None
    for item in _walk(value):
        if item is Ellipsis:
            raise NotALiteral(f"the {what} repr holds '...': Celery cut it (it is truncated)")
        cut = (isinstance(item, str) and item.endswith("...")) or (
            isinstance(item, bytes) and item.endswith(b"..."))
        if cut:
            raise NotALiteral(f"a string in the {what} ends with '...', which is how Celery "
                              "cuts a long one: it may be truncated")
    return value


def literal_args(text: object, limit: int | None) -> tuple[Any, ...]:
    value = literal(text, "args", limit)
    if isinstance(value, list):
        value = tuple(value)
    if not isinstance(value, tuple):
        raise NotALiteral("args must be a tuple or a list, e.g. (2, 3)")
    return value


def literal_kwargs(text: object, limit: int | None) -> dict[str, Any]:
    value = literal(text, "kwargs", limit)
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise NotALiteral("kwargs must be a dict with string keys, e.g. {'n': 1}")
    return value


def _head(text: str, width: int = 40) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


# ----------------------------------------------------------------- planning
def backend_meta(target: Target, uuid: str) -> Mapping[str, Any] | None:
    """What the result backend knows of a task, or None (no backend, or it
    has nothing)."""
    app = target.app
    if not app.conf.result_backend or app.conf.result_backend == "disabled":
        return None
    try:
        meta = app.backend.get_task_meta(uuid)
    except Exception as exc:  # an unreachable backend: the events still serve
        log.info("result backend unreadable for %s: %s", uuid, target.scrub(exc))
        return None
    return meta if isinstance(meta, Mapping) else None


def plan(target: Target, view: TaskView | None, uuid: str,
         meta: Mapping[str, Any] | None = None) -> RerunPlan:
    """How ``uuid`` would be re-run: the backend's arguments first (when
    the app stores them), else the event reprs, else the reason it cannot."""
    limit_args = getattr(target.app.amqp, "argsrepr_maxsize", 1024)
    limit_kwargs = getattr(target.app.amqp, "kwargsrepr_maxsize", 1024)
    name = view.name if view is not None else None
    queue = view.queue if view is not None else None
    routing_key = view.routing_key if view is not None else None
    meta = meta if meta is not None else backend_meta(target, uuid)
    if meta and meta.get("name") and "args" in meta and "kwargs" in meta:
        args, kwargs = meta.get("args"), meta.get("kwargs")
        if isinstance(args, (list, tuple)) and isinstance(kwargs, dict):
            return RerunPlan(uuid, str(meta["name"]), tuple(args), dict(kwargs),
                             "the result backend", meta.get("queue") or queue,
                             routing_key, repr(tuple(args)), repr(kwargs))
    if name is None:
        name = str(meta["name"]) if meta and meta.get("name") else None
    if name is None:
        return RerunPlan(uuid, None, problem="its task name is not known (no event and "
                                             "no extended result in the backend)")
    args_text = view.args if view is not None and isinstance(view.args, str) else ""
    kwargs_text = view.kwargs if view is not None and isinstance(view.kwargs, str) else ""
    base = RerunPlan(uuid, name, source="the task's events", queue=queue,
                     routing_key=routing_key, args_text=args_text,
                     kwargs_text=kwargs_text or "{}")
    if view is None or not args_text:
        return replace(base, problem="its arguments are not known: no task-received event "
                                     "and no extended result (result_extended=True)")
    try:
        args = literal_args(args_text, limit_args)
        kwargs = literal_kwargs(kwargs_text or "{}", limit_kwargs)
    except NotALiteral as exc:
        return replace(base, problem=str(exc))
    return replace(base, args=args, kwargs=kwargs)
