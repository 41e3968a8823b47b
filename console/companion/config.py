"""Settings for the companion cluster, as plain data and small functions.

Everything is computed from an environment mapping so tests and the console
can build exactly what a worker started with the same environment would use.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping

from celery.schedules import crontab
from kombu import Exchange, Queue

#: Queues a companion worker consumes by default.
WORKER_QUEUES = ("default", "emails", "reports", "slow")
#: Declared so the console lists it, but consumed by no default worker: it
#: only grows, which gives purge something to do.
BACKLOG_QUEUE = "backlog"
ALL_QUEUES = WORKER_QUEUES + (BACKLOG_QUEUE,)
DEFAULT_QUEUE = "default"

RESULTS_DIRNAME = "celery-console-results"
RESULT_EXPIRES = 3600  # seconds
RESULT_CLEANUP_EVERY = 300  # seconds

_TASKS = "console.companion.tasks."
TASK_ROUTES = {
    _TASKS + "send_email": {"queue": "emails"},
    _TASKS + "render_report": {"queue": "reports"},
    _TASKS + "slow": {"queue": "slow"},
    _TASKS + "long_running": {"queue": "slow"},
}


# Periodic tasks for `celery -A console.companion beat` (the demo runs one):
# fast, harmless, each its own task name, so the console's Beat screen shows
# last runs within seconds and a stopped beat as late within seconds.
BEAT_SCHEDULE = {
    "ping-every-2s": {"task": _TASKS + "beat_ping", "schedule": 2.0},
    "rollup-every-5s": {"task": _TASKS + "beat_rollup", "schedule": 5.0, "args": (5,)},
    "digest-every-minute": {"task": _TASKS + "beat_digest", "schedule": crontab()},
}


def beat_schedule() -> dict:
    """A copy per app: each gets its own entries."""
    return {name: dict(entry) for name, entry in BEAT_SCHEDULE.items()}


def make_queues(names=ALL_QUEUES) -> tuple[Queue, ...]:
    # One direct exchange per queue, named after it, so the console's
    # exchange and binding views show a mapping that reads at a glance.
    return tuple(
        Queue(name, Exchange(name, type="direct"), routing_key=name)
        for name in names
    )


def filesystem_transport_options(root) -> dict:
    """kombu filesystem transport options rooted at ``root``.

    In and out share one folder so every process started with the same root
    (workers, load generator, console) sees the same queues.
    """
    root = os.path.abspath(os.fspath(root))
    queue = os.path.join(root, "queue")
    return {
        "data_folder_in": queue,
        "data_folder_out": queue,
        "control_folder": os.path.join(root, "control"),
        "processed_folder": os.path.join(root, "processed"),
        "store_processed": False,
        # The transport polls the folder; its 1 s default makes a demo feel
        # sluggish, and 0.1 s of listdir() is cheap.
        "polling_interval": 0.1,
    }


def ensure_filesystem_folders(root) -> dict:
    """Create the folders the filesystem transport needs; return the options.

    kombu only creates the control folder itself and fails on a missing data
    folder, so a fresh root has to be prepared before anyone connects.
    """
    options = filesystem_transport_options(root)
    for key in ("data_folder_in", "data_folder_out", "control_folder",
                "processed_folder"):
        os.makedirs(options[key], exist_ok=True)
    return options


def default_results_dir() -> str:
    return os.path.join(tempfile.gettempdir(), RESULTS_DIRNAME)


def result_backend_url(environ: Mapping[str, str] | None = None) -> str:
    """``CELERY_RESULT_BACKEND`` if set, else a ``file://`` store in tmp.

    The directory of a ``file://`` backend is created because Celery's
    filesystem backend refuses to start when it is missing.
    """
    environ = os.environ if environ is None else environ
    url = environ.get("CELERY_RESULT_BACKEND") or (
        "file://" + default_results_dir())
    if url.startswith("file://"):
        path = url[len("file://"):]
        if path.startswith("localhost/"):
            path = path[len("localhost"):]
        os.makedirs(path, exist_ok=True)
    return url


def broker_transport_options(environ: Mapping[str, str] | None = None) -> dict:
    # Redis's queue_order_strategy and priority steps stay at kombu's
    # defaults: nothing here relies on priorities.
    # CONSOLE_BROKER_TRANSPORT_OPTIONS (JSON) adds any, as a real app's
    # config would: {"master_name": "mymaster"} for sentinel://,
    # {"global_keyprefix": "tenant:"} for a shared Redis.
    environ = os.environ if environ is None else environ
    extra = environ.get("CONSOLE_BROKER_TRANSPORT_OPTIONS")
    options: dict = json.loads(extra) if extra else {}
    root = environ.get("CONSOLE_FS_ROOT")
    if root:
        options.update(ensure_filesystem_folders(root))
    return options


def filesystem_transport(environ: Mapping[str, str] | None = None) -> dict:
    """On a filesystem root, kombu's filesystem transport with atomic writes
    (see fstransport.py): the stock one loses about 1% of messages."""
    environ = os.environ if environ is None else environ
    if not environ.get("CONSOLE_FS_ROOT"):
        return {}
    return {"broker_transport": "console.companion.fstransport:Transport"}


def broker_use_ssl(environ: Mapping[str, str] | None = None) -> dict:
    """TLS to the broker, as a real app sets ``broker_use_ssl``, from
    CONSOLE_BROKER_SSL_CA (and _CERT/_KEY for a client certificate): the
    Redis transport's ``ssl_*`` names for rediss://, py-amqp's otherwise."""
    import ssl

    environ = os.environ if environ is None else environ
    ca = environ.get("CONSOLE_BROKER_SSL_CA")
    if not ca:
        return {}
    cert, key = environ.get("CONSOLE_BROKER_SSL_CERT"), environ.get("CONSOLE_BROKER_SSL_KEY")
    url = environ.get("CELERY_BROKER_URL", "")
    prefix = "ssl_" if url.startswith(("rediss:", "redis:", "sentinel:")) else ""
    options = {f"{prefix}ca_certs": ca, f"{prefix}cert_reqs": ssl.CERT_REQUIRED}
    if cert and key:
        options.update({f"{prefix}certfile": cert, f"{prefix}keyfile": key})
    return options


def build_config(environ: Mapping[str, str] | None = None) -> dict:
    """All settings for the companion app.

    ``broker_url`` is deliberately absent: Celery reads ``CELERY_BROKER_URL``
    itself and otherwise falls back to its own default.
    """
    return {
        "result_backend": result_backend_url(environ),
        "broker_transport_options": broker_transport_options(environ),
        "broker_use_ssl": broker_use_ssl(environ) or None,
        **filesystem_transport(environ),
        "broker_connection_retry_on_startup": True,
        "task_queues": make_queues(),
        "task_default_queue": DEFAULT_QUEUE,
        "task_routes": dict(TASK_ROUTES),
        # The console is built on events; a worker that needs -E to be
        # visible would look dead.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "task_track_started": True,
        "task_acks_late": False,
        # Task durations range from microseconds to a minute. With a
        # multiplier of 1 a busy worker does not hoard quick tasks behind
        # slow ones, so queue depths in the broker show the real backlog and
        # a second worker gets a fair share.
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": 2,
        # Lets the console's "pool restart" remote control actually work.
        "worker_pool_restarts": True,
        "beat_schedule": beat_schedule(),
        # Results are kept an hour; on a file:// store the worker deletes
        # older ones itself (celeryapp.ResultCleanup): a companion left
        # running under load used to leave ~13,000 files behind.
        "result_expires": RESULT_EXPIRES,
        # The backend keeps each task's name, args and kwargs, so the
        # console re-runs a task with its arguments exactly (event reprs are
        # cut at 1,024 characters). CONSOLE_RESULT_EXTENDED=0 turns it off.
        "result_extended": (environ if environ is not None else os.environ).get(
            "CONSOLE_RESULT_EXTENDED", "1") != "0",
        # A task that hangs must not hold its process for ever (the doctor
        # reports a cluster without limits); the longest companion task
        # takes a minute. A hard limit only: with a default soft limit set,
        # a hard limit the console sets lower than it (`t`, soft empty) was
        # never applied by the pool (tests/test_actions.py).
        "task_time_limit": 900,
        **conf_overrides(environ),
    }


def conf_overrides(environ: Mapping[str, str] | None = None) -> dict:
    """``CONSOLE_CONF``: a JSON object of settings that win over the ones
    above — a worker on another config, for the doctor's tests and demos."""
    environ = os.environ if environ is None else environ
    text = environ.get("CONSOLE_CONF")
    if not text:
        return {}
    overrides = json.loads(text)
    if not isinstance(overrides, dict):
        raise ValueError("CONSOLE_CONF must be a JSON object of Celery settings")
    return overrides
