"""The companion Celery app: ``celery -A console.companion worker``."""

from __future__ import annotations

from celery import Celery
from celery.signals import celeryd_init

from console.companion import config

app = Celery("console.companion", include=["console.companion.tasks"])
app.conf.update(config.build_config())


@celeryd_init.connect
def _leave_backlog_alone(sender=None, instance=None, options=None, **kwargs):
    # The backlog queue has to be in task_queues so the console knows it, but
    # a worker started without -Q consumes every declared queue and would
    # drain it. Skip it unless -Q names it. This runs before the worker
    # applies -Q/-X, and an empty -Q leaves this deselection in place.
    if getattr(instance, "app", None) is not app:
        return  # the signal is global: only touch our own workers
    if not (options or {}).get("queues"):
        app.amqp.queues.deselect(config.BACKLOG_QUEUE)
