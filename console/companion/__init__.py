"""A small, realistic Celery cluster to point the console at, and the
extension that lets the console see inside any worker.

Start a worker with ``celery -A console.companion worker`` and feed it with
``python -m console.companion.load``. Your own workers load the extension
with one line (see ``console/companion/extension.py``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["app"]


def __getattr__(name: str) -> Any:
    # The companion app is made on first use, not on import: a worker of
    # another app that loads ``console.companion.extension`` must not get
    # the companion's app (and its settings) as a side effect.
    if name == "app":
        from console.companion.celeryapp import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
