"""celery-console: an operator console for Celery clusters, in the terminal."""

__version__ = "0.1.0"
