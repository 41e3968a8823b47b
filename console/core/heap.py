"""Keep the held tasks out of the cyclic garbage collector's full collections.

Every held task is a slotted object, and CPython's cyclic collector tracks
every such object. A full collection visits all of them with the GIL held:
0.7 s at a million tasks, in which neither the capture nor the screen
moves. CPython starts one when the objects promoted to its oldest
generation since the last exceed a quarter of those that survived it: while
the model fills, every few hundred thousand tasks, each longer than the
last (benchmarks/heap.py). Once it is full, a task in is a task out, and
none comes.

The model makes no reference cycles (a task leaves the store and is freed
by its reference count at once; test_heap checks it), so a full collection
finds nothing among the records. So after each full collection, at the
app's next tick, the policy moves every object alive to the permanent
generation (``gc.freeze``, a list splice): the next full collection visits
only what came since, and young and middle collections are untouched.

What a frozen object cannot do is be collected as part of a cycle: widgets
are (a parent and its children name each other), so a dialog frozen while
open would stay in memory once closed. The freeze therefore waits for a
tick with only the console's own screens up (no dialog, no detail screen
pushed), after a young collection; and at most every ``sweep_seconds``,
once the operator has not typed for ``idle_seconds``, if anything was
frozen since the last sweep, everything is unfrozen and collected in one
full collection, which bounds whatever was frozen by mistake (the one long
pause left, at a moment no key waits on it; a full model adds nothing, so
it sweeps nothing).

Installed by the ``console`` command only: a process that makes many
consoles (the tests) would keep every finished one's widgets frozen.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

SWEEP_SECONDS = 3600.0
IDLE_SECONDS = 10.0


class HeapPolicy:
    def __init__(self, sweep_seconds: float = SWEEP_SECONDS,
                 idle_seconds: float = IDLE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.sweep_seconds = sweep_seconds
        self.idle_seconds = idle_seconds
        self.clock = clock
        self.installed = False
        # A full collection ran since the last freeze.
        self.collected = False
        # Something was frozen since the last sweep (not counting the
        # freeze that follows the sweep's own collection).
        self.unswept = False
        self._swept = False
        self.freezes = 0
        self.sweeps = 0
        self.last_sweep = clock()
        self.last_sweep_seconds = 0.0

    def install(self) -> None:
        if not self.installed:
            gc.callbacks.append(self._after_collection)
            self.installed = True
            self.last_sweep = self.clock()

    def uninstall(self) -> None:
        """Stop freezing and give every frozen object back to the collector."""
        if self.installed:
            gc.callbacks.remove(self._after_collection)
            self.installed = False
            gc.unfreeze()

    def _after_collection(self, phase: str, info: dict[str, Any]) -> None:
        # Called by the collector, in whichever thread it ran: only noted.
        if phase == "stop" and info.get("generation") == 2:
            self.collected = True

    def settle(self) -> bool:
        """Freeze what is alive, if a full collection ran since the last
        freeze; called when nothing short-lived is on the screen. A young
        collection first, so a cycle dropped since is not frozen."""
        if not (self.installed and self.collected):
            return False
        self.collected = False
        gc.collect(1)
        gc.freeze()
        self.freezes += 1
        if self._swept:
            self._swept = False
        else:
            self.unswept = True
        return True

    def sweep_due(self, idle_for: float) -> bool:
        """Whether to sweep now, the operator idle for ``idle_for`` seconds:
        once a period when idle, and at twice the period whatever they do;
        never if nothing was frozen since the last."""
        if not (self.installed and self.unswept):
            return False
        waited = self.clock() - self.last_sweep
        return (waited >= self.sweep_seconds and idle_for >= self.idle_seconds) \
            or waited >= 2 * self.sweep_seconds

    def sweep(self) -> float:
        """One full collection over everything, frozen or not; returns its
        seconds. What survives is frozen again at the next ``settle``."""
        start = time.perf_counter()
        gc.unfreeze()
        found = gc.collect()
        self.last_sweep_seconds = seconds = time.perf_counter() - start
        self.last_sweep = self.clock()
        self.sweeps += 1
        self.unswept, self._swept = False, True
        log.debug("heap sweep: %d unreachable objects, %.3f s, %d frozen after",
                  found, seconds, gc.get_freeze_count())
        return seconds


# The console process's one policy: cli installs it, the app's tick settles
# and sweeps.
HEAP = HeapPolicy()
