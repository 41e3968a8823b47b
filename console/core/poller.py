"""A daemon thread that runs one job on a schedule and on demand.

Rounds never overlap (the next starts after the last ended), and being a
daemon, a job stuck in a driver call cannot keep the process alive on quit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Poller:
    def __init__(self, name: str, job: Callable[[], object], interval: float,
                 on_error: Callable[[BaseException], None] | None = None):
        self.name = name
        self.job = job
        self.interval = interval
        self.on_error = on_error
        self.rounds = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Poller:
        self._thread.start()
        return self

    def trigger(self) -> None:
        """Run a round now (or right after the one in flight)."""
        self._wake.set()

    def stop(self, timeout: float = 0.5) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.job()
            except Exception as exc:  # keep polling whatever one round did
                # Rounds report broker trouble themselves: what escapes is ours.
                log.exception("internal error in a %s round", self.name)
                if self.on_error is not None:
                    self.on_error(exc)
            self.rounds += 1
            self._wake.wait(self.interval)
