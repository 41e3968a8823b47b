"""A screen that reads something slow (the workers, the broker) off the UI
thread: on opening and on request, never two reads at once, a failure said
on screen and logged."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .screens.frame import FramedScreen as _Screen  # what it is mixed into
else:
    _Screen = object

log = logging.getLogger(__name__)


class ReadsOffThread(_Screen):
    reading = False

    def read(self) -> Any:
        """Runs on a thread: ask the cluster."""
        raise NotImplementedError

    def read_finished(self, result: Any, error: str | None) -> None:
        """On the UI thread: keep what came (``result`` None on ``error``)."""

    def draw(self) -> None:
        """Redraw, reading or not."""

    def start_reading(self) -> None:
        if self.reading:
            return
        self.reading = True
        self.draw()
        self.run_worker(self._read_job, thread=True, group=type(self).__name__,
                        exit_on_error=False)

    def _read_job(self) -> None:
        result, error = None, None
        try:
            result = self.read()
        except Exception as exc:  # a broker error, or a bug of ours: said and logged
            log.exception("%s: reading failed", type(self).__name__)
            error = self.app.target.scrub(f"{type(exc).__name__}: {exc}")
        self.app.call_from_thread(self._read_done, result, error)

    def _read_done(self, result: Any, error: str | None) -> None:
        self.reading = False
        self.read_finished(result, error)
        self.draw()
