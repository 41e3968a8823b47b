"""The audit log: one JSON line per action attempt and one per outcome.

The attempt line is written, flushed and fsynced *before* anything is sent,
so even a console killed right after leaves a record of what it tried. The
file is created 0600 and never holds a credential.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .secrets import scrub


def default_audit_path() -> Path:
    """$XDG_STATE_HOME/celery-console/audit.jsonl (~/.local/state/…)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state")
    return Path(base) / "celery-console" / "audit.jsonl"


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return str(os.getuid())


class AuditLog:
    def __init__(self, path: str | os.PathLike[str] | None = None,
                 broker_url: str | None = None):
        self.path = Path(path) if path else default_audit_path()
        self.broker_url = broker_url
        self._lock = threading.Lock()
        self.user = _user()
        self.host = socket.gethostname()

    def _write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, default=str, ensure_ascii=False)
        line = scrub(line, self.broker_url) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.fchmod(fd, 0o600)  # also tightens a file made by hand
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)

    def attempt(self, action: str, targets: Iterable[str], arguments: dict[str, Any],
                broker: str) -> str:
        """Record an action about to be sent; returns its id."""
        action_id = uuid.uuid4().hex[:12]
        self._write({"id": action_id, "phase": "attempt", "time": time.time(),
                     "user": self.user, "host": self.host, "broker": broker,
                     "action": action, "targets": list(targets), "arguments": arguments})
        return action_id

    def outcome(self, action_id: str | None, action: str, status: str, summary: str,
                per_target: dict[str, Any]) -> None:
        self._write({"id": action_id, "phase": "outcome", "time": time.time(),
                     "user": self.user, "host": self.host, "action": action,
                     "status": status, "summary": summary, "outcome": per_target})

    def refused(self, action: str, targets: Iterable[str], arguments: dict[str, Any],
                broker: str,
                reason: str) -> None:
        self._write({"id": uuid.uuid4().hex[:12], "phase": "refused", "time": time.time(),
                     "user": self.user, "host": self.host, "broker": broker,
                     "action": action, "targets": list(targets), "arguments": arguments,
                     "status": "refused", "summary": reason})
