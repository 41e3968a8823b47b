"""Per-second counters over a sliding window.

A ring of one-second buckets: adding is O(1) whatever the rate, and the
history doubles as the data for throughput sparklines.
"""

from __future__ import annotations


class RateWindow:
    __slots__ = ("seconds", "_counts", "_stamps")

    def __init__(self, seconds: int = 300):
        self.seconds = seconds
        self._counts = [0] * seconds
        self._stamps = [-1] * seconds

    def add(self, now: float, n: int = 1) -> None:
        second = int(now)
        i = second % self.seconds
        if self._stamps[i] != second:
            self._stamps[i] = second
            self._counts[i] = 0
        self._counts[i] += n

    def history(self, now: float, span: int) -> list[int]:
        """Counts per whole second, oldest first, ending with the last full second."""
        span = min(span, self.seconds - 1)
        last = int(now) - 1
        out = []
        for second in range(last - span + 1, last + 1):
            i = second % self.seconds
            out.append(self._counts[i] if self._stamps[i] == second else 0)
        return out

    def rate(self, now: float, span: int = 10) -> float:
        """Mean per second over the last ``span`` full seconds."""
        history = self.history(now, span)
        return sum(history) / len(history) if history else 0.0
