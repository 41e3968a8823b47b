"""Opening a named context: its Target, read-only flag, queues and audit file.

The console attaches to one context at a time. Switching (`:ctx NAME`)
opens the other one afresh; each context keeps its own model, so nothing
of one cluster shows in the other's screens.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .config import Config, Context
from .connection import Target, load_app

# The environment before any context set CELERY_BROKER_URL (load_app sets
# it, because Celery reads it before an app's broker_url): restored before
# each context opens, so one context's URL never leaks into the next.
_ORIGINAL_BROKER_ENV = os.environ.get("CELERY_BROKER_URL")


@dataclass(frozen=True)
class Opened:
    """A context made ready to attach to. ``read_only`` is the context's
    own flag OR'ed with the command line's: never less than the file says."""

    name: str | None
    target: Target
    read_only: bool
    queues: tuple[str, ...]
    audit_log: str | None


def open_context(context: Context, *, read_only: bool = False,
                 queues: tuple[str, ...] = (), audit_log: str | None = None,
                 broker: str | None = None) -> Opened:
    """Load the context's app (if any) and put its password into its URL.
    ``broker`` (``-b``) replaces the context's URL, keeping its password
    source; ``audit_log`` from the command line wins over the context's."""
    if _ORIGINAL_BROKER_ENV is None:
        os.environ.pop("CELERY_BROKER_URL", None)
    else:
        os.environ["CELERY_BROKER_URL"] = _ORIGINAL_BROKER_ENV
    if broker:
        context = _replace_broker(context, broker)
    if context.app:
        target = load_app(context.app, None)
        url = context.url(target.broker_url) if context.broker or context.password_source \
            else None
        if url:
            target = load_app(context.app, url, app=target.app)
            target.app_name = context.app
    else:
        target = load_app(None, context.url())
    return Opened(context.name, target, read_only or context.read_only,
                  tuple(dict.fromkeys((*context.queues, *queues))),
                  audit_log or context.audit_log)


def _replace_broker(context: Context, broker: str) -> Context:
    from dataclasses import replace

    return replace(context, broker=broker)


def context_rows(config: Config, current: str | None = None) -> list[dict[str, object]]:
    """What `console contexts` prints: never a password, only where it comes from."""
    return [{"name": c.name, "current": c.name == current,
             "default": c.name == config.default_context,
             "app": c.app, "broker": c.masked_broker, "password": c.password_source,
             "queues": list(c.queues), "read_only": c.read_only,
             "audit_log": c.audit_log, "description": c.description}
            for c in config.contexts.values()]
