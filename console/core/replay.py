"""`console replay FILE`: a recording played back into a fresh model.

A recording is JSON lines, one event a line: what `--record` writes
(``core/record.py``) and the shared recorded stream alike. ``Recording``
reads them lazily; a line that is not JSON (a line cut by a kill, a stray
byte) is counted, named in ``first_bad`` and skipped, never raised.

``Replayer`` applies the events to a ``ClusterState`` from a thread, through
the model's ordinary intake, so every screen shows what the live console
showed. The model's clock is the ``ReplayClock``: while an event is applied
it reads that event's ``local_received`` (when the live console received
it; else its ``timestamp``), and between events it runs at ``speed`` times
real time, so ages and rates read as they did. ``speed=None`` is "max": no
waiting at all. Pause, resume and step are the operator's; a step applies
the next event and stays paused.

No broker is involved: replay starts no capture, inspection or probe, and
the console runs read-only (refused in core, ``actions.py``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .state import ClusterState
from .triage import DEFAULT_STUCK_FACTOR, DEFAULT_STUCK_FLOOR

log = logging.getLogger(__name__)

SWEEP_SECONDS = 0.5  # recording time between sweeps of silent workers
MAX_BATCH = 500  # events applied per step at max speed before yielding
_BAD_SHOWN = 120
# An event is a few hundred bytes (Celery clips reprs at 1,024 characters):
# a longer line is not an event, and is not read into memory whole.
MAX_LINE_BYTES = 16 * 2**20


def parse_speed(text: str) -> float | None:
    """``max`` -> None (no waiting); else a positive finite factor."""
    raw = text.strip().lower().lstrip("x×")
    if raw == "max":
        return None
    try:
        speed = float(raw)
    except ValueError:
        raise ValueError(f"{text!r} is not a speed: use a number (1, 10, 0.5) or max") from None
    if not 0 < speed < float("inf"):
        raise ValueError(f"{text!r}: the speed must be a positive number, or max")
    return speed


def event_time(event: object) -> float | None:
    """When the live console received an event, else when it was sent."""
    if isinstance(event, dict):
        for key in ("local_received", "timestamp"):
            value = event.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and value == value and abs(value) < 1e11:
                return float(value)
    return None


class Recording:
    """Events read from one or more files in turn (``FILE.1`` then ``FILE``
    for a rotated recording)."""

    def __init__(self, paths: Sequence[str]):
        self.paths = list(paths)
        self.lines = 0
        self.events = 0
        self.bad = 0
        self.first_bad: str | None = None

    def check(self) -> None:
        """Raise ``OSError`` now for a file that cannot be read."""
        for path in self.paths:
            with open(path, "rb"):
                pass

    def __iter__(self) -> Iterator[Any]:
        for path in self.paths:
            with open(path, "rb") as f:
                for number, raw in enumerate(_lines(f), 1):
                    self.lines += 1
                    if raw is None:
                        self._bad(path, number, f"longer than {MAX_LINE_BYTES:,} bytes")
                        continue
                    if not raw.strip():
                        continue
                    try:
                        event = json.loads(raw)
                    except ValueError as exc:  # not JSON, or not UTF-8
                        cut = not raw.endswith(b"\n")
                        self._bad(path, number, "cut short (the recording was interrupted "
                                  "mid-write)" if cut else f"not JSON: {exc}")
                        continue
                    self.events += 1
                    yield event

    def _bad(self, path: str, number: int, reason: str) -> None:
        self.bad += 1
        if self.first_bad is None:
            self.first_bad = f"{path}, line {number}: {reason}"[:_BAD_SHOWN * 2]
        log.info("replay: skipped %s line %d: %s", path, number, reason[:_BAD_SHOWN])


def _lines(f: Any) -> Iterator[bytes | None]:
    """The file's lines; None for one too long to hold (skipped whole,
    never read into memory at once)."""
    while True:
        raw = f.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = f.readline(MAX_LINE_BYTES)
            yield None
            continue
        yield raw


class ReplayClock:
    """The model's clock during a replay: see the module's docstring."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic):
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.at = 0.0  # recording time when last anchored
        self._anchor = 0.0  # monotonic time of that anchor
        self.speed: float | None = 1.0
        self.running = False
        self.limit = float("inf")  # never ahead of the next event

    def __call__(self) -> float:
        with self._lock:
            if not self.running or self.speed is None:
                return self.at
            return min(self.limit, self.at + (self._monotonic() - self._anchor) * self.speed)

    def set(self, at: float, limit: float = float("inf")) -> None:
        with self._lock:
            self.at, self._anchor, self.limit = at, self._monotonic(), max(at, limit)

    def hold(self, running: bool) -> None:
        """Freeze (pause) or restart the clock where it reads now."""
        now = self()
        with self._lock:
            self.at, self._anchor, self.running = now, self._monotonic(), running

    def due_in(self, at: float) -> float:
        """Real seconds until the clock reads ``at`` (0 at max speed)."""
        if self.speed is None:
            return 0.0
        return max(0.0, (at - self()) / self.speed)


@dataclass(frozen=True)
class ReplayView:
    """What the header says: ``replay ×10, paused, at 09:30:12``."""

    speed: float | None
    paused: bool
    done: bool
    at: float
    applied: int
    bad: int
    first_bad: str | None
    error: str | None

    @property
    def speed_text(self) -> str:
        if self.speed is None:
            return "max"
        return f"{self.speed:g}"


class Replayer:
    """Plays a ``Recording`` into ``state`` from a daemon thread."""

    def __init__(self, recording: Recording, *, speed: float | None = 1.0,
                 max_tasks: int = 100_000, clock: ReplayClock | None = None,
                 stuck_floor: float = DEFAULT_STUCK_FLOOR,
                 stuck_factor: float = DEFAULT_STUCK_FACTOR):
        self.recording = recording
        self.clock = clock or ReplayClock()
        self.clock.speed = speed
        self.state = ClusterState(max_tasks=max_tasks, clock=self.clock,
                                  stuck_floor=stuck_floor, stuck_factor=stuck_factor)
        self._events = iter(recording)
        self._next: Any = None
        self._has_next = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one applier at a time: thread or step
        self._thread: threading.Thread | None = None
        self.paused = False
        self.done = False
        self.applied = 0
        self.error: str | None = None
        self._last_sweep: float | None = None
        self._peek()
        first = event_time(self._next) if self._has_next else None
        self.clock.set(first if first is not None else time.time())
        self.state.set_connection("connected")

    # ------------------------------------------------------------- control
    def start(self) -> Replayer:
        self.clock.hold(not self.paused)
        self._thread = threading.Thread(target=self._run, name="console-replay",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def toggle(self) -> bool:
        """Pause or resume; returns True when now paused."""
        self.set_paused(not self.paused)
        return self.paused

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.clock.hold(not paused and not self.done)
        self._wake.set()

    def step(self) -> bool:
        """Pause, and apply the next event; False at the end."""
        if not self.paused:
            self.set_paused(True)
        with self._lock:
            if not self._has_next:
                return False
            self._apply_next()
        return True

    def view(self) -> ReplayView:
        return ReplayView(self.clock.speed, self.paused, self.done, self.clock(),
                          self.applied, self.recording.bad, self.recording.first_bad,
                          self.error)

    def wait_done(self, timeout: float) -> bool:
        """Tests and headless use: True once every event was applied."""
        deadline = time.monotonic() + timeout
        while not self.done and time.monotonic() < deadline:
            self._stop.wait(0.02)
        return self.done

    # ---------------------------------------------------------------- loop
    def _peek(self) -> None:
        try:
            self._next = next(self._events)
            self._has_next = True
        except StopIteration:
            self._next, self._has_next = None, False
        except OSError as exc:  # the file went away or a read failed
            self._next, self._has_next = None, False
            self.error = f"reading the recording failed: {exc.strerror or exc}"
            log.warning("replay: %s", self.error)

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:  # a bug of ours: logged, the replay stops, the UI stays
            log.exception("internal error in the replay")
            self.error = "the replay stopped on an internal error (see the console's log)"
        self.done = True
        self.clock.hold(False)

    def _loop(self) -> None:
        clock = self.clock
        while not self._stop.is_set():
            if self.paused:
                self._wake.wait(0.25)
                self._wake.clear()
                continue
            with self._lock:
                if not self._has_next:
                    return
                if clock.speed is None:
                    for _ in range(MAX_BATCH):
                        if not self._has_next or self.paused:
                            break
                        self._apply_next()
                    continue
                at = event_time(self._next)
                wait = clock.due_in(at) if at is not None else 0.0
                if wait <= 0:
                    self._apply_next()
                    continue
            # Between events the clock runs, up to the next event's time.
            clock.limit = at if at is not None else clock.limit
            self._wake.wait(min(wait, 0.25))
            self._wake.clear()

    def _apply_next(self) -> None:
        event = self._next
        at = event_time(event)
        if at is not None:
            self.clock.set(at, max(at, self.clock.limit))
        self.state.apply(event)
        self.applied += 1
        now = self.clock.at
        if self._last_sweep is None or now - self._last_sweep >= SWEEP_SECONDS:
            # As capture does while connected: workers whose heartbeats
            # stopped in the recording go offline in the replay too.
            self._last_sweep = now
            self.state.sweep_workers()
        self._peek()
        if self._has_next:
            following = event_time(self._next)
            if following is not None:
                self.clock.limit = max(self.clock.at, following)
