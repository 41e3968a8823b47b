"""A sort of a million rows in two steps: its first rows, then the rest.

Sorting a million tasks by id takes about 550 ms of one ``list.sort`` on
this project's machines, and most of it is reading the ids, scattered over
the heap, in the order of the comparisons. ``SortPass`` has the interface
of ``filters.Selection`` (``step``, ``finish``, ``found``, ``progress``,
``seconds``, ``longest``), so the Tasks screen runs either the same way,
and a filter's pass then the sort of its result:

1. the first step reads every row's key (in C for an attribute) and finds
   the first rows of the sorted order without sorting the rest: a sample of
   the keys gives a bound a few thousand rows in, ``compress`` keeps the rows
   before it (in C), and only those are sorted. They are exactly the first
   rows of the whole sort, ties in the rows' own order (a stable sort's).
   The screen shows them (about 140 ms over a million tasks);
2. the next step is the whole ``list.sort``. Made in pieces instead
   (pieces sorted, then merged two by two, each a step), the same sort
   took four times as long over a million ids, its longest step 400 ms: a
   merge reads the keys in sorted order, every one a cache miss, and the
   last merge alone cost most of a whole sort. One sort after the first
   rows are on screen costs the least in all.

The result is ``sorted(rows, key=key, reverse=reverse)``, equal keys in the
rows' order. With a filter, the filter's own stepped pass (a ``Selection``)
runs first, a step at a time.
"""

from __future__ import annotations

import operator
import random
import time
from collections.abc import Callable
from functools import partial
from itertools import compress, islice
from typing import Any, Protocol

#: How many first rows the first step finds (a screenful and then some).
HEAD = 1_000
_SAMPLE = 2_048


def _itself(row: Any) -> Any:
    return row


class _Pass(Protocol):
    found: list[Any]

    def step(self, rows: int) -> bool: ...


class SortPass:
    def __init__(self, rows: Any, key: Callable[[Any], Any] | None, reverse: bool,
                 head: int | None = None, first_rows: bool = True) -> None:
        # ``first_rows=False``: a refresh nobody sees until it is done (the
        # rows on screen stay): straight to the whole sort.
        # ``rows`` is a list (copied: the caller's may change between two
        # steps) or a filter's pass whose result is sorted once it is done.
        self._source: _Pass | None = None if isinstance(rows, list) else rows
        self._rows: list[Any] = list(rows) if self._source is None else []
        self._key = key if key is not None else _itself  # as list.sort's
        self._reverse = reverse
        self._head = max(1, HEAD if head is None else head)
        self._started = not first_rows
        self.found: list[Any] = []
        self.done = False
        self.seconds = 0.0
        self.longest = 0.0

    @property
    def stage(self) -> str:
        return "filtering, then sorting" if self._source is not None else "sorting"

    @property
    def long_step_next(self) -> bool:
        """The first rows are found and the next step is the whole sort."""
        return self._started and self._source is None and not self.done

    @property
    def total(self) -> int | None:
        """Rows shown when done, once the filter (if any) has run."""
        return None if self._source is not None else len(self._rows)

    @property
    def progress(self) -> float:
        if self.done:
            return 1.0
        if self._source is not None:
            return float(getattr(self._source, "progress", 0.0))
        # The first rows are about a fifth of the work.
        return 0.2 if self._started else 0.0

    def step(self, rows: int) -> bool:
        """One piece of the work (a filter's step; the first rows, or all
        of it when there are at most ``rows``; the rest); True once sorted."""
        if self.done:
            return True
        started = time.perf_counter()
        try:
            self._next(max(1, rows))
        finally:
            took = time.perf_counter() - started
            self.seconds += took
            self.longest = max(self.longest, took)
        return self.done

    def finish(self) -> list[Any]:
        """The whole order now."""
        while not self.step(1 << 30):
            pass
        return self.found

    def _next(self, rows: int) -> None:
        if self._source is not None:
            if not self._source.step(rows):
                return
            # On to the first rows in the same step: never an empty table
            # between the filter's result and the sort's first rows.
            self._rows, self._source = list(self._source.found), None
        if not self._started and len(self._rows) > rows:
            self._started = True
            self.found = self._first_rows()
            return
        self.found = sorted(self._rows, key=self._key, reverse=self._reverse)
        self._rows = self.found  # (its length is the total)
        self._started = self.done = True

    def _first_rows(self) -> list[Any]:
        """The first ``head`` rows of the sorted order (fewer if the sample
        was unlucky: still the first ones), without sorting the rest."""
        keys = list(map(self._key, self._rows))
        count, reverse = len(keys), self._reverse
        sample = sorted(random.Random(count).sample(keys, min(_SAMPLE, count)))
        at = min(len(sample) - 1, int(self._head / count * len(sample) * 4) + 16)
        bound = sample[-1 - at] if reverse else sample[at]
        # Rows strictly before the bound: in C (compress over a map).
        before = partial(operator.lt if reverse else operator.gt, bound)
        ahead = sorted(compress(range(count), map(before, keys)),
                       key=keys.__getitem__, reverse=reverse)
        if len(ahead) < self._head:
            # Then those equal to the bound, in the rows' order (stable).
            ahead.extend(islice(compress(range(count), map(partial(operator.eq, bound), keys)),
                                self._head - len(ahead)))
        return list(map(self._rows.__getitem__, ahead[:self._head]))
