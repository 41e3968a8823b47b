"""Keep the held tasks out of the cyclic garbage collector's full collections.

Every held task is a slotted object, and CPython's cyclic collector tracks
every such object. A full collection visits all of them with the GIL held:
0.75 s at a million tasks, in which neither the capture nor the screen
moves. CPython starts one when the objects promoted to its oldest
generation since the last exceed a quarter of those that survived it: while
the model fills, every few hundred thousand tasks, each longer than the
last (benchmarks/heap.py). Once it is full, a task in is a task out, and
none comes.

The model makes no reference cycles (a task leaves the store and is freed
by its reference count at once; test_heap checks it), so a full collection
finds nothing among the records. So right after each full collection, from
the collector's own callback, the policy moves every object alive to the
permanent generation (``gc.freeze``, a list splice): the next full
collection visits only what came since, and young and middle collections
are untouched. Right after a full collection nothing dead is left to
freeze: whatever was garbage, a closed dialog included, has just been
freed.

What a frozen object cannot do is be collected as part of a cycle once it
is dropped: widgets are cycles (a parent and its children name each other),
so a dialog frozen while open would stay in memory once closed. The app
therefore says whether only its own screens are up (``quiet``: no dialog
and no detail pushed in any mode, asked at the moment of the collection),
and a full collection at any other moment freezes nothing. Whatever is frozen by
mistake (a toast, a widget a screen drops later) is bounded by the sweep:
at most every ``sweep_seconds``, once the operator has not pressed a key,
clicked or scrolled for ``idle_seconds``, if anything was frozen since the
last sweep, everything is unfrozen and collected in one full collection
(the one long pause left, at a moment no key waits on it; forced at twice
the period). A full model adds nothing, so there it sweeps nothing.

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
        # Set by the app: whether only its own long-lived screens are up.
        # Asked from the collector's callback, with the GIL held
        # throughout, so what it reads cannot change under it.
        self.quiet: Callable[[], bool] = lambda: False
        # Something was frozen since the last sweep, other than what the
        # sweep's own collection kept.
        self.unswept = False
        self._sweeping = False
        self.freezes = 0
        self.sweeps = 0
        self.last_sweep = clock()

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
        # Called by the collector once it is done, in whichever thread it
        # ran (the capture's, mostly), with the GIL held: the generations
        # are consistent and hold only what survived.
        if phase != "stop" or info.get("generation") != 2:
            return
        try:
            quiet = self.quiet()
        except Exception:  # an app shutting down: not quiet
            log.debug("heap: the quiet check failed", exc_info=True)
            quiet = False
        if quiet:
            gc.freeze()
            self.freezes += 1
            if not self._sweeping:
                self.unswept = True

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
        seconds. What survives it is frozen again at once if the app is
        quiet (it is alive), at the next quiet full collection if not."""
        start = time.perf_counter()
        gc.unfreeze()
        self._sweeping = True
        try:
            found = gc.collect()
        finally:
            self._sweeping = False
        seconds = time.perf_counter() - start
        self.last_sweep = self.clock()
        self.sweeps += 1
        self.unswept = False
        log.debug("heap sweep: %d unreachable objects, %.3f s, %d frozen after",
                  found, seconds, gc.get_freeze_count())
        return seconds


# The console process's one policy: cli installs it, the app says when it
# is quiet and sweeps on its tick.
HEAP = HeapPolicy()
