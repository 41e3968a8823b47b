"""A small, realistic Celery cluster to point the console at.

Start a worker with ``celery -A console.companion worker`` and feed it with
``python -m console.companion.load``.
"""

from console.companion.celeryapp import app

__all__ = ["app"]
