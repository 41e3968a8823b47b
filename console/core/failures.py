"""Failures and retries grouped by cause: exception type plus a normalised
message, so ``Timeout after 3.2s`` and ``Timeout after 9.1s`` are one
group and ``KeyError: 'a'`` and ``ValueError`` are two.

Work happens only on ``task-failed`` and ``task-retried`` events (a few
regular expressions over the first 1,000 characters of the message); the
groups are bounded (the least recently seen goes first), and so is what each
keeps (a few names and workers, the last task ids).
"""

from __future__ import annotations

import re
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass

from .records import TaskRecord, shown_exception

MAX_GROUPS = 500
GROUP_NAMES = 8
GROUP_WORKERS = 8
GROUP_RECENT = 200
_MESSAGE_CHARS = 1_000
_KEY_CHARS = 200

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}")
_HEX = re.compile(r"\b0[xX][0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])"
                  r"[0-9a-fA-F]{8,}\b")
_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SPACES = re.compile(r"\s+")
# ValueError('bad input 1'), billiard.exceptions.TimeLimitExceeded(2,)
_REPR = re.compile(r"([A-Za-z_][\w.]*)\((.*)\)", re.DOTALL)
# A traceback's last line: "ValueError: bad input 1", or a bare "ValueError".
_LINE = re.compile(r"([A-Za-z_][\w.]*)(?::\s*(.*))?", re.DOTALL)
_ONE_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.DOTALL)


def normalise(message: str) -> str:
    """Ids, uuids, hex, quoted values and numbers masked; spaces collapsed."""
    text = _UUID.sub("<id>", message[:_MESSAGE_CHARS])
    text = _HEX.sub("<hex>", text)
    text = _QUOTED.sub("<str>", text)
    text = _NUMBER.sub("<n>", text)
    return _SPACES.sub(" ", text).strip()[:_KEY_CHARS]


def split_exception(exception: object, traceback: object) -> tuple[str, str]:
    """``(type, message)`` of a task's exception as Celery reports it: the
    repr (``ValueError('bad input 1')``), a ``Type: message`` line, a bare
    type, or free text (type empty)."""
    shown = shown_exception(exception, traceback)
    if shown is None:
        return "", ""
    text = (shown if isinstance(shown, str) else str(shown)).strip()[:_MESSAGE_CHARS]
    match = _REPR.fullmatch(text)
    if match is not None:
        kind, args = match.group(1), match.group(2).strip()
        if _ONE_STRING.fullmatch(args) and not kind.endswith("KeyError"):
            # One message: its text, as str(exc) reads (KeyError's str keeps
            # the quotes: its argument is a key, a value to mask).
            args = args[1:-1]
        return kind, args
    match = _LINE.fullmatch(text)
    if match is not None:
        return match.group(1), (match.group(2) or "").strip()
    return "", text


def cause_key(exception: object, traceback: object) -> tuple[str, str]:
    kind, message = split_exception(exception, traceback)
    return kind, normalise(message)


@dataclass(frozen=True)
class FailureGroupView:
    """One cause: every failure (or retry) whose exception type and
    normalised message are these."""

    gid: int
    kind: str                   # "failure" | "retry"
    exc_type: str
    message: str                # normalised: <n>, <str>, <id>, <hex>
    count: int
    first_seen: float
    last_seen: float
    names: tuple[str, ...]      # the first few task names (``more_names`` beyond)
    more_names: int
    workers: tuple[str, ...]
    more_workers: int
    example: str                # the newest task id
    example_exception: object
    example_traceback: object
    recent: tuple[str, ...]     # the newest task ids, newest first (bounded)

    @property
    def cause(self) -> str:
        if self.exc_type and self.message:
            return f"{self.exc_type}: {self.message}"
        return self.exc_type or self.message or "(no exception reported)"


EXTRA_LIMIT = 1024


class _Group:
    __slots__ = ("gid", "exc_type", "message", "count", "first_seen", "last_seen",
                 "names", "extra_names", "workers", "extra_workers", "example",
                 "example_exception", "example_traceback", "recent")

    def __init__(self, gid: int, exc_type: str, message: str, now: float):
        self.gid = gid
        self.exc_type = exc_type
        self.message = message
        self.count = 0
        self.first_seen = self.last_seen = now
        self.names: list[str] = []
        self.workers: list[str] = []
        # Distinct names and workers past the first few, each counted once
        # (a set, bounded: past EXTRA_LIMIT the count says "at least").
        self.extra_names: set[str] = set()
        self.extra_workers: set[str] = set()
        self.example = ""
        self.example_exception: object = None
        self.example_traceback: object = None
        self.recent: deque[str] = deque(maxlen=GROUP_RECENT)


class GroupTable:
    """The groups of one kind (failures, or retries), least recently seen
    first; past ``MAX_GROUPS`` the least recently seen is dropped."""

    def __init__(self, kind: str, limit: int = MAX_GROUPS):
        self.kind = kind
        self.limit = limit
        self._groups: OrderedDict[tuple[str, str], _Group] = OrderedDict()
        self._next_gid = 1
        self.dropped = 0
        self.total = 0
        # The views, kept until the next add: a screen reads them every tick.
        self._views: list[FailureGroupView] | None = None

    def add(self, task: TaskRecord, now: float) -> None:
        key = cause_key(task.exception, task.traceback)
        self._views = None
        groups = self._groups
        group = groups.get(key)
        if group is None:
            if len(groups) >= self.limit:
                groups.popitem(last=False)
                self.dropped += 1
            group = groups[key] = _Group(self._next_gid, key[0], key[1], now)
            self._next_gid += 1
        else:
            groups.move_to_end(key)
        self.total += 1
        group.count += 1
        group.last_seen = now
        name = task.name
        if isinstance(name, str) and name not in group.names:
            if len(group.names) < GROUP_NAMES:
                group.names.append(name)
            elif len(group.extra_names) < EXTRA_LIMIT:
                group.extra_names.add(name)
        worker = task.worker
        if worker and worker not in group.workers:
            if len(group.workers) < GROUP_WORKERS:
                group.workers.append(worker)
            elif len(group.extra_workers) < EXTRA_LIMIT:
                group.extra_workers.add(worker)
        group.example = task.uuid
        group.example_exception = task.exception
        group.example_traceback = task.traceback
        group.recent.append(task.uuid)

    def __len__(self) -> int:
        return len(self._groups)

    def views(self) -> list[FailureGroupView]:
        """Most recently seen first (a new list; the views are shared)."""
        if self._views is None:
            self._views = [self._view(g) for g in reversed(self._groups.values())]
        return list(self._views)

    def view(self, gid: int) -> FailureGroupView | None:
        found = next((g for g in self._groups.values() if g.gid == gid), None)
        return None if found is None else self._view(found)

    def _view(self, g: _Group) -> FailureGroupView:
        return FailureGroupView(
            gid=g.gid, kind=self.kind, exc_type=g.exc_type, message=g.message,
            count=g.count, first_seen=g.first_seen, last_seen=g.last_seen,
            names=tuple(g.names), more_names=len(g.extra_names), workers=tuple(g.workers),
            more_workers=len(g.extra_workers), example=g.example,
            example_exception=g.example_exception, example_traceback=g.example_traceback,
            recent=tuple(reversed(g.recent)))


def group_parts(group: FailureGroupView) -> dict[str, str]:
    """A group row as the Failures filter reads it."""
    return {"type": group.exc_type.lower(), "message": group.message.lower(),
            "name": " ".join(group.names).lower(), "worker": " ".join(group.workers).lower(),
            "kind": group.kind}


def names_text(names: Iterable[str], more: int) -> str:
    text = ", ".join(names)
    return f"{text} +{more}" if more else text
