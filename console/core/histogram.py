"""A bounded streaming histogram for latencies: fixed log-scale buckets.

Adding is O(1) (one logarithm, two list increments) and the memory is
fixed per histogram (two lists, made on the first value), whatever the
number of values. A quantile is read from the buckets, not from the
values: it is the representative of the bucket holding the value of that
rank, so its **relative error is at most 1 %** (``RELATIVE_ERROR``) for
values between ``LOWEST`` (10 µs) and ``HIGHEST`` (10⁵ s, about 28 hours).
Values below ``LOWEST`` read as ``LOWEST`` and values above ``HIGHEST`` as
``HIGHEST``.

Bucket ``i`` (1 ≤ i) holds the values in ``[LOWEST·γ^(i-1), LOWEST·γ^i)``
and reads as ``LOWEST·γ^i · 2/(γ+1)``: the value of that rank is within
``(γ-1)/(γ+1)`` of it, relatively (the DDSketch construction). Quantiles are
nearest-rank: the value at rank ``ceil(q·n)`` of the sorted values.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from itertools import accumulate

RELATIVE_ERROR = 0.01
GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
LOWEST = 1e-5
HIGHEST = 1e5
_LOG_GAMMA = math.log(GAMMA)
_INV_LOG_GAMMA = 1 / _LOG_GAMMA
_LOG_LOWEST = math.log(LOWEST)
_log = math.log
BUCKETS = math.ceil(math.log(HIGHEST / LOWEST) / _LOG_GAMMA) + 1
# Buckets are summed in blocks too, so a quantile walks the block sums and
# one block (about 70 numbers) instead of every bucket.
_BLOCK_BITS = 5
_BLOCKS = (BUCKETS >> _BLOCK_BITS) + 1
_MIDDLE = 2 / (GAMMA + 1)


def bucket_of(value: float) -> int:
    if value <= LOWEST:
        return 0
    index = int((_log(value) - _LOG_LOWEST) * _INV_LOG_GAMMA) + 1
    return index if index < BUCKETS else BUCKETS - 1


def bucket_value(index: int) -> float:
    if index <= 0:
        return LOWEST
    if index >= BUCKETS - 1:
        return HIGHEST
    return float(LOWEST * GAMMA ** index * _MIDDLE)


class LogHistogram:
    """Counts per log-scale bucket, plus the exact count, sum and maximum."""

    __slots__ = ("count", "total", "highest", "last", "_buckets", "_blocks",
                 "_read_at", "_read")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.highest = 0.0
        self.last = 0.0
        self._buckets: list[int] | None = None
        self._blocks: list[int] | None = None
        self._read_at = -1
        self._read: tuple[float, float, float] | None = None

    def add(self, value: float) -> None:
        # bucket_of, inlined: this runs for most task events.
        if value <= LOWEST:
            index = 0
            if value < 0:
                value = 0.0  # clocks of two hosts: a little skew reads as none
        else:
            index = int((_log(value) - _LOG_LOWEST) * _INV_LOG_GAMMA) + 1
            if index >= BUCKETS:
                index = BUCKETS - 1
        buckets = self._buckets
        if buckets is None:
            buckets = self._buckets = [0] * BUCKETS
            self._blocks = [0] * _BLOCKS
        buckets[index] += 1
        self._blocks[index >> _BLOCK_BITS] += 1  # type: ignore[index]
        self.count += 1
        self.total += value
        self.last = value
        if value > self.highest:
            self.highest = value

    def quantile(self, q: float) -> float | None:
        """The value at rank ``ceil(q·n)``, within ``RELATIVE_ERROR``."""
        found = self.quantiles((q,))
        return found[0] if found else None

    def quantiles(self, qs: tuple[float, ...]) -> tuple[float, ...] | None:
        buckets, blocks = self._buckets, self._blocks
        if not self.count or buckets is None or blocks is None:
            return None
        sums = list(accumulate(blocks))
        out = []
        for q in qs:
            rank = max(1, math.ceil(q * self.count))
            block = bisect_left(sums, rank)
            before = sums[block - 1] if block else 0
            start = block << _BLOCK_BITS
            inside = list(accumulate(buckets[start:start + (1 << _BLOCK_BITS)]))
            out.append(bucket_value(start + bisect_left(inside, rank - before)))
        return tuple(out)

    def percentiles(self) -> tuple[float, float, float] | None:
        """p50, p95, p99; recomputed only when values were added since."""
        if self._read_at != self.count:
            found = self.quantiles((0.5, 0.95, 0.99))
            if found is None:
                return None
            self._read = (found[0], found[1], found[2])
            self._read_at = self.count
        return self._read

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None
