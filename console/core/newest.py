"""The held tasks in first-seen order, newest first, kept up to date by the
model's changes instead of copied on every redraw.

Copying 100k task references is not the pointer copy it looks like: every
reference taken (and every one dropped with the previous copy) writes the
record's reference count, and the records lie scattered in memory, so a copy
cost 3–5 ms of cache misses per Tasks-screen tick, more than drawing the
screen. ``NewestFirst`` keeps one list and applies only what changed since
the last tick (a few hundred new and evicted tasks at 5,000 events/s).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, SupportsIndex, TypeVar, overload

from .records import TaskRecord

if TYPE_CHECKING:
    from .state import ClusterState

T = TypeVar("T")


def descending_seq(task: TaskRecord) -> int:
    return -task.seq


class TaskRows(list[TaskRecord]):
    """Tasks in descending creation number (newest first seen first): finds a
    task by bisection rather than by comparing it with every row."""

    def index(self, task: TaskRecord, *args: SupportsIndex) -> int:
        if args or not isinstance(getattr(task, "seq", None), int):
            return super().index(task, *args)
        i = bisect_left(self, -task.seq, key=descending_seq)
        if i < len(self) and self[i] is task:
            return i
        raise ValueError(f"{task!r} is not in the list")


class NewestFirst:
    """One ``ClusterState``'s held tasks, newest first seen first. Not thread
    safe: one reader (the UI thread) calls ``update``; the list it returns
    changes in place at the next ``update`` and at no other time."""

    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self.rows = TaskRows()
        self._seq = -1
        self._evictions = 0

    def update(self) -> TaskRows:
        new, gone, self._seq, self._evictions = \
            self.state.first_seen_changes(self._seq, self._evictions)
        rows = self.rows
        if gone is None:
            rows[:] = new
            return rows
        if gone:
            self._drop(gone)
        if new:
            rows[:0] = new
        return rows

    def _drop(self, seqs: list[int]) -> None:
        """Remove the evicted tasks with one pass over the rows from the
        newest of them to the end. The least recently updated go first,
        nearly always among the oldest first seen, so that pass is short;
        in the worst case it is the copy this class exists to avoid."""
        rows = self.rows
        if not rows:
            return
        # Newer than our newest row: first seen and evicted between updates.
        drop = {seq for seq in seqs if seq <= rows[0].seq}
        if not drop:
            return
        start = bisect_left(rows, -max(drop), key=descending_seq)
        rows[start:] = [t for t in rows[start:] if t.seq not in drop]


class Reversed(Sequence[T]):
    """A list read back to front, without copying it (oldest first)."""

    def __init__(self, rows: list[T]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return list(self)[index]
        size = len(self._rows)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("index out of range")
        return self._rows[size - 1 - index]

    def __iter__(self) -> Iterator[T]:
        return reversed(self._rows)

    def __reversed__(self) -> Iterator[T]:
        return iter(self._rows)

    def index(self, task: Any, *args: Any) -> int:
        if args:
            return super().index(task, *args)
        return len(self._rows) - 1 - self._rows.index(task)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, tuple, Sequence)) and not isinstance(other, str):
            return len(self) == len(other) and all(a is b or a == b
                                                   for a, b in zip(self, other, strict=False))
        return NotImplemented

    # Unhashable, as a list; typeshed types object.__hash__ as a method.
    __hash__ = None  # type: ignore[assignment]
