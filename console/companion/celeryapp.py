"""The companion Celery app: ``celery -A console.companion worker``."""

from __future__ import annotations

import functools
import logging
import os

from celery import Celery, bootsteps
from celery.signals import celeryd_init

from console.companion import config

logger = logging.getLogger(__name__)

app = Celery("console.companion", include=["console.companion.tasks"])
app.conf.update(config.build_config())


class ResultCleanup(bootsteps.StartStopStep):
    """Deletes expired results from a ``file://`` store on the worker's own
    timer. Celery leaves this to beat's ``celery.backend_cleanup``, which a
    companion worker does not run, so the folder only grew."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.entry = None

    def start(self, worker):
        backend = worker.app.backend
        if type(backend).__name__ != "FilesystemBackend":
            return
        cleanup = getattr(backend, "cleanup", None)
        if cleanup is not None and worker.timer is not None:
            guarded = functools.partial(_cleanup, cleanup)
            guarded()
            self.entry = worker.timer.call_repeatedly(config.RESULT_CLEANUP_EVERY, guarded)

    def stop(self, worker):
        if self.entry is not None:
            self.entry.cancel()
            self.entry = None


def _cleanup(cleanup) -> None:
    # Workers sharing one folder race on the same files: one that another
    # removed first is not an error, and never stops a worker.
    try:
        cleanup()
    except OSError as exc:
        logger.warning("result cleanup: %s", exc)


app.steps["worker"].add(ResultCleanup)
# The console's eyes inside the worker (stacks, per-process memory,
# versions): the one line any app adds. CONSOLE_COMPANION_EXTENSION=0 leaves
# it out, to see how the console treats a worker without it.
if os.environ.get("CONSOLE_COMPANION_EXTENSION", "1") != "0":
    app.steps["worker"].add("console.companion.extension:Companion")


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
