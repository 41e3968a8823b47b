"""`console --demo`: a whole Celery cluster with no broker to install.

Two real prefork `celery worker` processes of the companion app, its `celery
beat` (a fast schedule of harmless tasks) and a load
generator talk over kombu's filesystem transport in a private temp dir
(events and pidbox broadcasts cross processes there). Every process and file
it made goes away on exit, however the console ends.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import IO, Any

from .core.connection import Target

# (hostname, queues): different queues so queue views have something to show.
DEMO_WORKERS = (
    ("alpha@demo", "default,emails"),
    ("beta@demo", "default,reports,slow"),
)
DEMO_LOAD_RATE = 4.0  # tasks/s: busy enough to watch, light on 2 cores

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: the child gets SIGTERM if the console dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class DemoCluster:
    """Context manager: start the cluster on enter, remove it on exit."""

    def __init__(self, workers=DEMO_WORKERS, load_rate: float = DEMO_LOAD_RATE,
                 concurrency: int = 2, root: str | None = None, beat: bool = True):
        self.workers = workers
        self.beat = beat
        self.load_rate = load_rate
        self.concurrency = concurrency
        self.root = root
        self._own_root = root is None
        self.processes: dict[str, subprocess.Popen] = {}
        self._logs: list[IO[bytes]] = []
        self._previous_handlers: dict[
            int, Callable[[int, FrameType | None], Any] | int | signal.Handlers | None] = {}
        self._closed = False
        self._closing = False

    # ------------------------------------------------------------ lifecycle
    def __enter__(self) -> DemoCluster:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        if self._own_root:
            self.root = tempfile.mkdtemp(prefix="celery-console-demo-")
        atexit.register(self.close)
        if _in_main_thread():
            # SIGHUP: the SSH session or terminal went away.
            for signum in (signal.SIGTERM, signal.SIGHUP):
                self._previous_handlers[signum] = signal.signal(signum, self._on_signal)
        try:
            env = self.environment()
            for hostname, queues in self.workers:
                self._spawn(hostname, [
                    sys.executable, "-m", "celery", "-A", "console.companion",
                    "worker", "-P", "prefork", "-c", str(self.concurrency),
                    "-Q", queues, "--hostname", hostname, "-l", "INFO",
                    "--without-mingle", "--without-gossip",
                ], env)
            if self.beat:
                # The companion's fast schedule (config.BEAT_SCHEDULE): the
                # Beat screen shows runs within seconds.
                self._spawn("beat", [
                    sys.executable, "-m", "celery", "-A", "console.companion", "beat",
                    "-s", os.path.join(self.root or "", "beat-schedule"), "--pidfile=",
                    "-l", "INFO",
                ], env)
            if self.load_rate > 0:
                self._spawn("load", [
                    sys.executable, "-m", "console.companion.load",
                    "--rate", str(self.load_rate), "--duration", "0",
                ], env)
        except BaseException:
            self.close()
            raise

    def environment(self) -> dict:
        env = dict(os.environ)
        env.update(self.settings())
        env["PYTHONUNBUFFERED"] = "1"
        # billiard's pymp-* folders (prefork) go under the cluster's root,
        # removed with it, not left in the temp folder.
        assert self.root is not None  # start() made it, or it was given
        env["TMPDIR"] = env["TEMP"] = env["TMP"] = self.root
        return env

    def settings(self) -> dict:
        return {
            "CELERY_BROKER_URL": "filesystem://",
            "CELERY_RESULT_BACKEND": f"file://{self.root}/results",
            "CONSOLE_FS_ROOT": self.root,
        }

    def _spawn(self, name: str, argv: list[str], env: dict) -> None:
        assert self.root is not None  # start() made it, or it was given
        log = open(os.path.join(self.root, f"{name.split('@')[0]}.log"), "ab")
        self._logs.append(log)
        # Output goes to files: nothing a worker prints reaches the screen.
        self.processes[name] = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent)

    def target(self) -> Target:
        """The companion app, configured for this cluster's folder."""
        # Set before the companion is imported: it makes its result folder
        # at import, which must be the cluster's, not one in the temp folder.
        for key, value in self.settings().items():
            os.environ[key] = value
        from .companion import app, config

        app.conf.broker_url = "filesystem://"
        app.conf.broker_transport = "console.companion.fstransport:Transport"
        app.conf.result_backend = self.settings()["CELERY_RESULT_BACKEND"]
        app.conf.broker_transport_options = config.ensure_filesystem_folders(self.root)
        return Target(app=app, app_name="console.companion (demo)")

    def close(self, timeout: float = 0.5) -> None:
        """Stop every process we started, then remove the folder."""
        if self._closed:
            return
        self._closed = True
        self._closing = True
        for name, process in self.processes.items():
            # SIGQUIT is Celery's cold shutdown. It still takes ~5 s here, so
            # after a short grace the groups are killed: the cluster lives in
            # a temp dir we delete anyway, and `q` must quit within 2 s.
            stop = signal.SIGTERM if name in ("load", "beat") else signal.SIGQUIT
            _signal_one(process, stop)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait(2)
        # Prefork children live in the same process group; make sure none
        # outlived its parent.
        for process in self.processes.values():
            _signal_group(process, signal.SIGKILL)
        for log in self._logs:
            log.close()
        if self._own_root and self.root:
            shutil.rmtree(self.root, ignore_errors=True)
        if _in_main_thread():
            for signum, handler in self._previous_handlers.items():
                signal.signal(signum, handler)
            self._previous_handlers.clear()
        atexit.unregister(self.close)

    def _on_signal(self, signum, frame):
        # Unwinds through the `with` block (and Textual's run loop), so
        # close() runs; then exit with the conventional status. A second
        # signal while closing is ignored: raising then would cut close()
        # short and leave processes and files behind.
        if self._closing:
            return
        self.close()
        if signum == signal.SIGHUP:
            # The terminal is gone: there is nothing to restore, and Textual's
            # shutdown can block writing to it. Everything we own is cleaned.
            os._exit(128 + signum)
        # SystemExit unwinds Textual so it restores the terminal, but a
        # library that catches BaseException where the signal lands can
        # swallow it (seen once in a loaded test run). Everything we own is
        # already cleaned, so a watchdog makes sure the process does end.
        watchdog = threading.Timer(5.0, os._exit, args=(128 + signum,))
        watchdog.daemon = True
        watchdog.start()
        raise SystemExit(128 + signum)

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes.values()]


def _signal_one(process: subprocess.Popen, signum: int) -> None:
    try:
        process.send_signal(signum)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
