"""The console's own log: internal errors with their tracebacks.

Bad input from the cluster is counted and shown; an exception in the
console's own code is a bug, and it goes here with its traceback, so it is
never swallowed. The file sits beside the audit log (0600), rotates at a few
megabytes, and never holds a broker password: every line is scrubbed of the
URL's password before it is written.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from .audit import default_audit_path
from .secrets import scrub

MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 2
_HANDLER_NAME = "celery-console-file"


def default_log_path() -> Path:
    """$XDG_STATE_HOME/celery-console/console.log (beside the audit log)."""
    return default_audit_path().with_name("console.log")


class _ScrubbingFormatter(logging.Formatter):
    def __init__(self, broker_url: str | None) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s")
        self.broker_url = broker_url
        self.more_urls: list[str] = []  # contexts switched to (`:ctx`)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return scrub(text, self.broker_url, *self.more_urls)


def also_scrub(broker_url: str) -> None:
    """The log also hides this URL's password (a context switched to)."""
    for handler in logging.getLogger("console").handlers:
        formatter = handler.formatter
        if handler.get_name() == _HANDLER_NAME and isinstance(formatter, _ScrubbingFormatter):
            formatter.more_urls.append(broker_url)


def setup_logging(path: str | os.PathLike[str] | None = None,
                  broker_url: str | None = None, level: int = logging.INFO) -> Path:
    """Send the ``console`` loggers to ``path`` (default beside the audit
    log); returns the path. Calling it again replaces the handler."""
    target = Path(path) if path else default_log_path()
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Created 0600 before the handler opens it (it appends).
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    os.close(fd)
    handler = logging.handlers.RotatingFileHandler(
        target, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(_ScrubbingFormatter(broker_url))
    logger = logging.getLogger("console")
    for old in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(old)
        old.close()
    logger.addHandler(handler)
    logger.setLevel(level)
    # The console's own log only: nothing reaches the terminal under the TUI.
    logger.propagate = False
    return target
