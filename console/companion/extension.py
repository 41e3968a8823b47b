"""The console's eyes inside a worker: a bootstep any Celery 5 app can load.

One line in the app module (or wherever the app is configured)::

    app.steps["worker"].add("console.companion.extension:Companion")

It adds read-only remote-control commands to the worker's pidbox and a
``console_companion`` entry to its ``inspect stats`` reply:

- ``stats`` (asked every inspection round anyway): the extension's version,
  the worker's software versions (Python, celery, kombu, billiard, the app's
  own when it declares one), a fingerprint of its effective configuration,
  and per process — the main process and every pool child — its RSS, CPU
  time, the tasks it ran since it started, and the task it runs now.
- ``console_stacks``: the live Python stack of every thread of every pool
  process (or only the process running ``task_id``, or the ``pids`` asked),
  each thread with the task it runs (id, name, elapsed) and the task's own
  frames marked. Prefork children dump their own stacks on request: each
  child installs a signal handler when it starts, the main process sends it
  the signal and reads its dump back from a private folder (0700). No
  ptrace, no root, and no other process is ever signalled: only the pool's
  own children whose ready file exists, whose parent is this worker.
  Threads and solo pools are read in-process (``sys._current_frames``).

Nothing in it changes the worker, and it costs nothing while not asked: a
signal handler and a task counter per process (one integer increment after
each task, in a receiver of ``task_postrun``), no thread, no timer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import linecache
import mmap
import os
import platform
import shutil
import signal
import sys
import tempfile
import threading
import time
from typing import Any

from celery import bootsteps
from celery.signals import task_postrun, worker_process_init

#: Bumped when a reply changes shape; the console shows it.
VERSION = "1"
#: The key of this extension's entry in ``inspect stats``.
STATS_KEY = "console_companion"
STACKS_COMMAND = "console_stacks"
#: The line to add, as the console quotes it to a worker that lacks it.
INSTALL_LINE = 'app.steps["worker"].add("console.companion.extension:Companion")'

# A real-time signal: Celery and billiard use none of them (SIGUSR1 is
# billiard's soft time limit, SIGUSR2 Celery's remote debugger).
STACK_SIGNAL = getattr(signal, "SIGRTMIN", signal.SIGUSR2) + 6
MAX_FRAMES = 200   # per thread, innermost kept
MAX_WAIT = 5.0     # seconds a request waits for the children's dumps
# Per child: tasks run, started at (ns), and its kernel start time (clock
# ticks since boot), which tells a stale file of a dead child from the live
# child that reused its pid. Each an unsigned 64-bit integer.
_COUNTER_BYTES = 24


class _Process:
    """This process's share: where dumps go and what it counts."""

    directory: str | None = None
    main_pid: int | None = None
    tasks_run = 0
    started_ns = time.time_ns()
    counter: Any = None  # a memoryview over this child's mmap'd counter file
    fingerprint: str | None = None
    versions: dict[str, str] | None = None


# ----------------------------------------------------------------- children
def _count_task(**_: Any) -> None:
    _Process.tasks_run += 1
    if _Process.counter is not None:
        _Process.counter[0] = _Process.tasks_run


def _child_started(**_: Any) -> None:
    """In each prefork child as it starts: the handler first, then the ready
    file, so the main process never signals a child without the handler."""
    directory = _Process.directory
    if directory is None or os.getpid() == _Process.main_pid:
        return
    _Process.tasks_run = 0
    _Process.started_ns = time.time_ns()
    signal.signal(STACK_SIGNAL, _on_dump_signal)
    path = os.path.join(directory, f"{os.getpid()}.proc")
    with open(path, "wb+") as handle:
        handle.write(b"\0" * _COUNTER_BYTES)
        handle.flush()
        mapped = mmap.mmap(handle.fileno(), _COUNTER_BYTES)
    counter = memoryview(mapped).cast("Q")
    counter[1] = _Process.started_ns
    counter[2] = _start_ticks(os.getpid()) or 0
    _Process.counter = counter


def _on_dump_signal(signum: int, frame: Any) -> None:
    # Runs between two bytecodes of whatever the child is doing: it must
    # never raise into the task, so a failure becomes the dump's text.
    directory = _Process.directory
    if directory is None:
        return
    pid = os.getpid()
    try:
        with open(os.path.join(directory, "request")) as handle:
            nonce = handle.read().strip()
        try:
            dump: dict[str, Any] = {"nonce": nonce, **_snapshot(pid, "child", skip=frame)}
        except Exception as exc:
            dump = {"nonce": nonce, "pid": pid, "error": f"{type(exc).__name__}: {exc}"}
        temporary = os.path.join(directory, f"{pid}.json.tmp")
        with open(temporary, "w") as handle:
            json.dump(dump, handle, default=repr)
        os.replace(temporary, os.path.join(directory, f"{pid}.json"))
    except Exception:  # the folder went away: the worker is stopping
        pass


# ------------------------------------------------------------------ reading
def _snapshot(pid: int, role: str, skip: Any = None) -> dict[str, Any]:
    """Every thread's stack of this process, and its numbers."""
    names = {t.ident: t.name for t in threading.enumerate()}
    me = threading.get_ident()
    threads = []
    for ident, frame in sys._current_frames().items():
        if ident == me and skip is not None:
            frame = skip  # the signal handler's own frames are not the child's
        frames, task = _frames(frame, skip_own=ident == me)
        threads.append({"ident": ident, "name": names.get(ident, str(ident)),
                        "frames": frames, "task": task})
    threads.sort(key=lambda t: (t["task"] is None, t["name"]))
    return {"pid": pid, "role": role, **_usage(pid), "threads": threads}


def _frames(frame: Any, skip_own: bool) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Outermost first; the frames of a running task marked ``in_task``."""
    chain = []
    while frame is not None:
        chain.append(frame)
        frame = frame.f_back
    chain.reverse()
    if skip_own:  # the request's own frames (this module) at the top
        while chain and chain[-1].f_code.co_filename == __file__:
            chain.pop()
    out: list[dict[str, Any]] = []
    task = None
    in_task = False
    for item in chain[-MAX_FRAMES:]:
        code = item.f_code
        filename = code.co_filename
        if code.co_name == "trace_task" and filename.endswith(os.path.join("app", "trace.py")):
            task = _task_of(item) or task
            in_task = True
        line = linecache.getline(filename, item.f_lineno).strip()
        out.append({"file": filename, "line": item.f_lineno, "function": code.co_name,
                    "code": line,
                    # Celery's own call into the task is not the task's code.
                    "in_task": in_task and _CELERY not in filename})
    return out, task


def _task_of(frame: Any) -> dict[str, Any] | None:
    try:
        scope = frame.f_locals
        uuid, name = scope.get("uuid"), scope.get("name")
    except Exception:
        return None
    if not isinstance(uuid, str):
        return None
    return {"id": uuid, "name": name if isinstance(name, str) else None}


_CELERY = os.sep + "celery" + os.sep
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as handle:
        # The command name may hold spaces and parentheses: split after it.
        return handle.read().rsplit(")", 1)[1].split()


def _start_ticks(pid: int) -> int | None:
    try:
        return int(_stat_fields(pid)[19])
    except (OSError, ValueError, IndexError):
        return None


def _usage(pid: int) -> dict[str, Any]:
    """RSS (bytes) and CPU time (s) of a process of ours, from /proc."""
    try:
        with open(f"/proc/{pid}/statm") as handle:
            rss = int(handle.read().split()[1]) * _PAGE
        fields = _stat_fields(pid)
        return {"rss": rss, "cpu": (int(fields[11]) + int(fields[12])) / _TICKS,
                "ppid": int(fields[1])}
    except (OSError, ValueError, IndexError):
        if pid != os.getpid():
            return {"rss": None, "cpu": None}
        import resource
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {"rss": None, "max_rss": usage.ru_maxrss * 1024,
                "cpu": usage.ru_utime + usage.ru_stime}


def _read_counter(directory: str, pid: int) -> Any:
    """The child's counter slots, or None: no file, or one left by a dead
    child whose pid this process reused (its handler may not be there yet)."""
    try:
        with open(os.path.join(directory, f"{pid}.proc"), "rb") as handle:
            raw = handle.read(_COUNTER_BYTES)
    except OSError:
        return None
    if len(raw) != _COUNTER_BYTES:
        return None
    counter = memoryview(raw).cast("Q")
    ticks = _start_ticks(pid)
    if ticks is not None and counter[2] != ticks:
        return None
    return counter


def _child_counter(directory: str, pid: int) -> tuple[int | None, float | None]:
    counter = _read_counter(directory, pid)
    if counter is None:
        return None, None
    return counter[0], counter[1] / 1e9 if counter[1] else None


def _prune(directory: str, alive: list[int]) -> None:
    """Forget the files of children that are gone (max_tasks_per_child,
    pool restarts)."""
    keep = {str(p) for p in alive}
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        pid = name.split(".", 1)[0]
        if pid.isdigit() and pid not in keep:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, name))


# -------------------------------------------------------------- the worker
def _pool_kind(worker: Any) -> str:
    pool = getattr(worker, "pool", None)
    module = type(pool).__module__ if pool is not None else ""
    return module.rsplit(".", 1)[-1] or "unknown"


def _child_pids(worker: Any) -> list[int]:
    pool = getattr(worker, "pool", None)
    try:
        info = pool.info if pool is not None else {}
    except Exception:
        return []
    pids = info.get("processes") if isinstance(info, dict) else None
    return [p for p in pids or () if isinstance(p, int) and p != os.getpid()]


def _running(worker: Any) -> dict[str, dict[str, Any]]:
    """Tasks running now, by id: name, process and start (the main
    process's own record of what each child was given)."""
    from celery.worker import state as worker_state

    now = time.time()
    out = {}
    for request in list(worker_state.active_requests):
        started = getattr(request, "time_start", None)
        out[request.id] = {
            "id": request.id, "name": request.name,
            "pid": getattr(request, "worker_pid", None),
            "started": started,
            "elapsed": round(now - started, 3) if started else None}
    return out


def _versions(app: Any) -> dict[str, str]:
    if _Process.versions is None:
        import billiard  # type: ignore[import-untyped]
        import celery
        import kombu

        versions = {"python": platform.python_version(), "celery": celery.__version__,
                    "kombu": kombu.__version__, "billiard": billiard.__version__}
        declared = _app_version(app)
        if declared:
            versions["app"] = declared
        _Process.versions = versions
    return _Process.versions


def _app_version(app: Any) -> str | None:
    """``app.conf.app_version``, else ``__version__`` of the app's module or
    its top package."""
    value = app.conf.get("app_version")
    if value:
        return str(value)
    main = getattr(app, "main", None) or ""
    for name in (main, main.split(".", 1)[0]):
        module = sys.modules.get(name)
        version = getattr(module, "__version__", None)
        if version:
            return str(version)
    return None


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and sorted lists of names: Celery builds some
    settings (``include``) from sets, in a different order per process."""
    def canonical(item: Any) -> Any:
        if isinstance(item, dict):
            return {str(k): canonical(v) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            items = [canonical(v) for v in item]
            return sorted(items) if all(isinstance(v, str) for v in items) else items
        return item

    return json.dumps(canonical(value), sort_keys=True, default=repr)


def config_hash(conf: Any) -> str:
    return hashlib.sha256(canonical_json(conf).encode()).hexdigest()[:12]


def fingerprint(app: Any) -> str:
    """A short hash of the worker's settings as ``inspect conf`` shows them
    (its changes from Celery's defaults, secrets censored): the console's
    doctor hashes that reply the same way, so the two agree."""
    if _Process.fingerprint is None:
        from celery.utils.serialization import jsonify
        from celery.worker import control

        wanted = getattr(control, "_wanted_config_key", None)
        table = jsonify(app.conf.table(with_defaults=False), keyfilter=wanted,
                        unknown_type_filter=repr)
        # The JSON round trip a pidbox reply takes.
        _Process.fingerprint = config_hash(json.loads(json.dumps(table, default=repr)))
    return _Process.fingerprint


def processes(worker: Any) -> list[dict[str, Any]]:
    """The main process and every pool child: usage, tasks run, the task."""
    running = _running(worker)
    by_pid: dict[Any, list[dict[str, Any]]] = {}
    for task in running.values():
        by_pid.setdefault(task["pid"], []).append(task)
    main = os.getpid()
    kind = _pool_kind(worker)
    out = [{"pid": main, "role": "main", **_usage(main), "tasks_run": _Process.tasks_run,
            "started": _Process.started_ns / 1e9,
            "tasks": by_pid.get(main, []) if kind != "prefork" else []}]
    directory = _Process.directory
    children = _child_pids(worker)
    if directory and kind == "prefork":
        _prune(directory, children)
    for pid in children:
        tasks_run, started = _child_counter(directory, pid) if directory else (None, None)
        out.append({"pid": pid, "role": "child", **_usage(pid), "tasks_run": tasks_run,
                    "started": started, "tasks": by_pid.get(pid, [])})
    return out


def stacks(worker: Any, task_id: str | None = None, pids: list[int] | None = None,
           timeout: float = 2.0) -> dict[str, Any]:
    """The reply of ``console_stacks``."""
    kind = _pool_kind(worker)
    running = _running(worker)
    main = os.getpid()
    reply: dict[str, Any] = {"pool": kind, "extension": VERSION, "time": time.time()}
    wanted = {int(p) for p in pids or () if str(p).isdigit()}
    if task_id is not None:
        task = running.get(task_id)
        if task is None:
            reply.update(processes=[], task_missing=True)
            return reply
        if kind == "prefork" and isinstance(task.get("pid"), int):
            wanted = {task["pid"]}
    found = []
    children = _child_pids(worker) if kind == "prefork" else []
    if kind != "prefork" or not wanted or main in wanted:
        found.append(_snapshot(main, "main"))
    targets = [p for p in children if not wanted or p in wanted]
    found.extend(_ask_children(targets, min(max(float(timeout), 0.1), MAX_WAIT)))
    for process in found:
        process.setdefault("tasks_run", _Process.tasks_run if process["pid"] == main else None)
        if process["pid"] != main and _Process.directory:
            process["tasks_run"], process["started"] = _child_counter(
                _Process.directory, process["pid"])
        for thread in process.get("threads", ()):
            task = thread.get("task")
            if task and task.get("id") in running:
                thread["task"] = {**running[task["id"]], "pid": process["pid"]}
        process["tasks"] = [t for t in running.values() if t.get("pid") == process["pid"]
                            or any((th.get("task") or {}).get("id") == t["id"]
                                   for th in process.get("threads", ()))]
    if task_id is not None:
        found = [p for p in found if any(t["id"] == task_id for t in p["tasks"])] or found
    reply["processes"] = found
    return reply


def _ask_children(pids: list[int], timeout: float) -> list[dict[str, Any]]:
    directory = _Process.directory
    if not pids:
        return []
    if directory is None:
        return [{"pid": p, "role": "child", "error": "the extension was loaded after the "
                 "pool started: restart the worker"} for p in pids]
    nonce = f"{time.time_ns()}-{os.getpid()}"
    request = os.path.join(directory, "request")
    with open(request + ".tmp", "w") as handle:
        handle.write(nonce)
    os.replace(request + ".tmp", request)
    asked, out = [], []
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, f"{pid}.json"))
        # Only our own child, which installed the handler: a real-time
        # signal kills a process that has none.
        ready = _read_counter(directory, pid) is not None
        if not ready or _usage(pid).get("ppid") != os.getpid():
            out.append({"pid": pid, "role": "child", **_usage(pid),
                        "error": "this process is not ready for a dump (starting, or "
                                 "started before the extension)"})
            continue
        try:
            os.kill(pid, STACK_SIGNAL)
            asked.append(pid)
        except OSError as exc:
            out.append({"pid": pid, "role": "child", "error": f"cannot signal it: {exc}"})
    deadline = time.monotonic() + timeout
    waiting = set(asked)
    dumps: dict[int, dict[str, Any]] = {}
    while waiting and time.monotonic() < deadline:
        for pid in list(waiting):
            dump = _read_dump(directory, pid, nonce)
            if dump is not None:
                dumps[pid] = dump
                waiting.discard(pid)
        if waiting:
            time.sleep(0.005)
    for pid in asked:
        if pid in dumps:
            dumps[pid].pop("nonce", None)
            out.append(dumps[pid])
        else:
            out.append({"pid": pid, "role": "child", **_usage(pid),
                        "error": f"no dump within {timeout:g} s: the process is busy "
                                 "in C code that holds the GIL, or stopped"})
    return sorted(out, key=lambda p: pids.index(p["pid"]) if p["pid"] in pids else 0)


def _read_dump(directory: str, pid: int, nonce: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(directory, f"{pid}.json")) as handle:
            dump = json.load(handle)
    except (OSError, ValueError):
        return None
    return dump if isinstance(dump, dict) and dump.get("nonce") == nonce else None


# ------------------------------------------------------------ registration
_registered = False


def _register_commands() -> None:
    global _registered
    if _registered:
        return
    from celery.worker.control import inspect_command

    @inspect_command(
        name=STACKS_COMMAND,
        args=[("task_id", str)],
        signature="[task_id]",
        default_timeout=3.0,
        help="Live Python stacks of the pool processes (console companion).")
    def console_stacks(state: Any, task_id: str | None = None, pids: Any = None,
                       timeout: float = 2.0, **kwargs: Any) -> dict[str, Any]:
        return stacks(state.consumer.controller, task_id=task_id,
                      pids=pids if isinstance(pids, list) else None, timeout=timeout)

    _registered = True


class Companion(bootsteps.StartStopStep):
    """The worker bootstep: ``app.steps["worker"].add(Companion)``."""

    label = "console companion"

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.worker = worker

    def create(self, worker: Any) -> None:
        # Before the pool forks its children: they inherit the folder, the
        # receivers and the main pid.
        _register_commands()
        _Process.main_pid = os.getpid()
        _Process.started_ns = time.time_ns()
        if _Process.directory is None:
            _Process.directory = tempfile.mkdtemp(prefix="celery-console-")
        worker_process_init.connect(_child_started, weak=False,
                                    dispatch_uid="console.companion.child")
        task_postrun.connect(_count_task, weak=False, dispatch_uid="console.companion.count")

    def start(self, worker: Any) -> None:
        pass

    def stop(self, worker: Any) -> None:
        self._remove_folder()

    def terminate(self, worker: Any) -> None:
        self._remove_folder()

    def shutdown(self, worker: Any) -> None:
        self._remove_folder()

    @staticmethod
    def _remove_folder() -> None:
        directory, _Process.directory = _Process.directory, None
        if directory and os.getpid() == _Process.main_pid:
            shutil.rmtree(directory, ignore_errors=True)

    def info(self, worker: Any) -> dict[str, Any]:
        app = worker.app
        try:
            procs = processes(worker)
        except Exception as exc:  # never break the stats reply
            procs = [{"pid": os.getpid(), "error": f"{type(exc).__name__}: {exc}"}]
        return {STATS_KEY: {
            "version": VERSION, "commands": [STACKS_COMMAND], "pool": _pool_kind(worker),
            "versions": _versions(app), "fingerprint": fingerprint(app),
            "processes": procs}}


def install(app: Any) -> None:
    """``install(app)`` is the same as the one line above."""
    app.steps["worker"].add(Companion)
