"""`console --record FILE`: every event received, appended as JSON lines.

The capture thread hands each batch to ``Recorder.write`` just before the
model applies it (one call in ``capture.py``). A batch becomes one
``os.write`` of its lines: nothing waits in a user-space buffer, so what the
model saw is in the file (the kernel's page cache) the moment the model has
it, and the file is evidence after the console exits, crashes or is
SIGKILLed. A kill can leave at most a partial last line, which replay
counts as bad and skips (``core/replay.py``). Nothing is fsynced: a machine
that loses power may lose the last seconds.

- One line per event, exactly the event as it arrived (the dict Celery's
  receiver decoded, with its ``local_received``), in the format of the
  shared recorded stream, so both replay alike.
- Bounded: when the next batch would take the file past ``max_bytes`` it is
  renamed ``FILE.1`` (replacing an older one) and a new ``FILE`` begins, so
  at most about twice ``max_bytes`` is on disk.
- Mode 0600 (the events hold task arguments and results).
- Never the broker's credentials: the broker's URL, and its password when
  it is 4 characters or more (shorter ones are masked inside the URL only,
  as everywhere: replacing 3 letters everywhere mangles text and hides
  nothing), are masked wherever an event holds them (JSON-escaped).
- Messages that do not decode at all (not JSON) are counted by the live
  model as malformed but are not events, and are not recorded.
- Per event: one ``json.dumps``; per batch: one ``join``, one ``in`` per
  password, one write. A write that fails (disk full) is counted and
  logged, never raised into the capture thread.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from .secrets import MASK, MIN_FREE_TEXT_PASSWORD, mask_url, passwords_in

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 256 * 2**20
MIN_MAX_BYTES = 64 * 2**10
_LOG_FIRST_ERRORS = 5
_LOG_EVERY_ERROR = 1_000
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20,
          "mb": 2**20, "mib": 2**20, "g": 2**30, "gb": 2**30, "gib": 2**30}


class RecordError(Exception):
    """The recording cannot start: the message says why, for a person."""


def parse_size(text: str) -> int:
    """``256MB``, ``64k``, ``1G``, ``1048576`` -> bytes (binary units)."""
    raw = text.strip().lower().replace(" ", "")
    number = raw.rstrip("kmgibB")
    unit = raw[len(number):]
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{text!r} is not a size: use e.g. 256MB, 64k or 1G") from None
    if unit not in _UNITS:
        raise ValueError(f"{text!r}: unknown unit {unit!r} (use k, MB or G)")
    size = int(value * _UNITS[unit])
    if size < MIN_MAX_BYTES:
        raise ValueError(f"{text!r} is too small: a recording rotates at 64k at the least")
    return size


@dataclass(frozen=True)
class RecorderView:
    """What the header and status line say about the recording."""

    path: str
    events: int
    bytes: int
    rotations: int
    errors: int
    last_error: str | None


class Recorder:
    """Appends event batches to ``path``; see the module's docstring."""

    def __init__(self, path: str, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 broker_url: str | None = None):
        self.path = os.path.abspath(os.path.expanduser(path))
        self.max_bytes = max_bytes
        # As they would read inside a JSON string: the broker's URLs whole
        # (whatever their password's length), then their passwords alone
        # (long enough not to mangle other text, as everywhere we mask).
        urls = [u for u in (broker_url or "").split(";") if passwords_in(u)]
        self._secrets = tuple(dict.fromkeys(
            [(_in_json(u), _in_json(mask_url(u))) for u in urls]
            + [(_in_json(p), MASK) for p in passwords_in(broker_url)
               if len(p) >= MIN_FREE_TEXT_PASSWORD]))
        self._lock = threading.Lock()
        self._fd: int | None = None
        self.size = 0
        self.events = 0
        self.rotations = 0
        self.errors = 0
        self.unrecordable = 0
        self.last_error: str | None = None

    # ----------------------------------------------------------- lifecycle
    def open(self) -> Recorder:
        """Open (or append to) the file; raises ``RecordError`` with a
        message for a person when it cannot be written."""
        try:
            self._open()
        except OSError as exc:
            raise RecordError(f"cannot record to {self.path}: "
                              f"{exc.strerror or exc}") from None
        return self

    def _open(self) -> None:
        folder = os.path.dirname(self.path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.fchmod(fd, 0o600)  # an existing file keeps no wider mode
            size = os.fstat(fd).st_size
            if size and not _ends_with_newline(self.path, size):
                # A recording cut mid-line (a kill): the next line starts
                # clean, so only that cut line is lost, not ours too.
                size += os.write(fd, b"\n")
        except OSError:
            os.close(fd)
            raise
        self._fd, self.size = fd, size

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                try:
                    os.close(self._fd)
                except OSError as exc:
                    log.warning("closing the recording %s: %s", self.path, exc)
                self._fd = None

    def __enter__(self) -> Recorder:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------- write
    def write(self, events: Sequence[object]) -> None:
        """Append one batch, as it arrived. Never raises."""
        lines = []
        dumps = json.dumps
        for event in events:
            try:
                lines.append(dumps(event, default=repr))
            except (TypeError, ValueError):  # non-string keys, a cycle
                self.unrecordable += 1
        if not lines:
            return
        lines.append("")
        text = "\n".join(lines)
        for secret, masked in self._secrets:
            if secret in text:
                text = text.replace(secret, masked)
        data = text.encode("utf-8", "backslashreplace")
        with self._lock:
            if self._fd is None:
                return
            try:
                if self.size and self.size + len(data) > self.max_bytes:
                    self._rotate()
                _write_all(self._fd, data)
            except OSError as exc:
                self._failed(exc)
                return
            self.size += len(data)
            self.events += len(lines) - 1

    def _rotate(self) -> None:
        assert self._fd is not None
        os.close(self._fd)
        self._fd = None
        os.replace(self.path, self.path + ".1")
        self._open()
        self.rotations += 1

    def _failed(self, exc: OSError) -> None:
        self.errors += 1
        self.last_error = exc.strerror or str(exc)
        if self.errors <= _LOG_FIRST_ERRORS or self.errors % _LOG_EVERY_ERROR == 0:
            log.error("recording to %s failed (#%d): %s", self.path, self.errors, exc)
        if self._fd is None:  # a rotation that failed half-way: try again
            try:
                self._open()
            except OSError:
                pass

    def view(self) -> RecorderView:
        return RecorderView(self.path, self.events, self.size, self.rotations,
                            self.errors, self.last_error)


def _in_json(text: str) -> str:
    return json.dumps(text)[1:-1]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _ends_with_newline(path: str, size: int) -> bool:
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1) == b"\n"
