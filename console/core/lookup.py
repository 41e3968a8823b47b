"""Look up a task that is not held: what the result backend knows, and
what any worker still holds (``query_task``). For `:task UUID` and
``console task UUID``."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .connection import Target

log = logging.getLogger(__name__)

BACKEND_FIELDS = ("status", "result", "traceback", "date_done", "name", "args", "kwargs",
                  "worker", "retries", "queue", "parent_id", "children")


@dataclass(frozen=True)
class Lookup:
    uuid: str
    backend: str | None  # the backend's kind, None when the app has none
    meta: dict[str, Any] | None = None  # the backend's fields it has
    backend_error: str | None = None
    workers: dict[str, Any] = field(default_factory=dict)  # host -> [state, request]
    workers_error: str | None = None

    @property
    def known(self) -> bool:
        """The backend has more than Celery's answer for any id (PENDING)."""
        return bool(self.meta and (self.meta.get("status") != "PENDING"
                                   or self.meta.get("name"))) or bool(self.workers)

    def lines(self) -> list[tuple[str, str]]:
        """(label, text): what a screen or the terminal shows."""
        out: list[tuple[str, str]] = [("task", self.uuid)]
        if self.backend is None:
            out.append(("backend", "the app has no result backend: only what workers "
                                   "still hold can be known"))
        elif self.backend_error:
            out.append(("backend", f"{self.backend}: unreadable ({self.backend_error})"))
        elif self.meta is not None:
            if self.meta.get("status") == "PENDING" and not self.meta.get("name"):
                out.append(("backend", f"{self.backend}: nothing stored for this id "
                                       "(Celery says PENDING for any id it does not know)"))
            else:
                out.append(("backend", self.backend))
                for key in BACKEND_FIELDS:
                    if self.meta.get(key) not in (None, "", [], {}):
                        out.append((key, str(self.meta[key])))
        if self.workers_error:
            out.append(("workers", f"not asked: {self.workers_error}"))
        elif self.workers:
            for host, info in sorted(self.workers.items()):
                out.append((f"held by {host}", str(info)))
        else:
            out.append(("workers", "no worker holds it now"))
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"uuid": self.uuid, "backend": self.backend, "meta": self.meta,
                "backend_error": self.backend_error, "workers": self.workers,
                "workers_error": self.workers_error, "known": self.known}


def lookup(target: Target, uuid: str, timeout: float = 1.0,
           workers: list[str] | None = None) -> Lookup:
    app = target.app
    configured = app.conf.result_backend
    backend = None if not configured or configured == "disabled" else \
        type(app.backend).__name__
    meta: dict[str, Any] | None = None
    backend_error = None
    if backend is not None:
        try:
            raw = app.backend.get_task_meta(uuid)
            meta = {k: raw.get(k) for k in BACKEND_FIELDS if k in raw}
        except Exception as exc:  # said on screen; the workers are still asked
            backend_error = target.scrub(f"{type(exc).__name__}: {exc}")
    held: dict[str, Any] = {}
    workers_error = None
    try:
        from .views import pidbox_scope
        destination, limit = pidbox_scope(workers or ())
        with target.connection_for_read(connect_timeout=timeout * 2) as conn:
            replies = app.control.inspect(timeout=timeout, connection=conn,
                                          destination=destination,
                                          limit=limit).query_task(uuid) or {}
        for host, found in replies.items():
            if isinstance(found, dict) and uuid in found:
                held[str(host)] = found[uuid]
    except Exception as exc:
        workers_error = target.scrub(f"{type(exc).__name__}: {exc}")
    return Lookup(uuid, backend, meta, backend_error, held, workers_error)
