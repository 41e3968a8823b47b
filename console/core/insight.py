"""What the companion extension tells about a worker from inside: its
processes (memory, CPU, tasks run, the task each runs), versions, config
fingerprint, and on request the live Python stack of every pool process.

The extension answers in ``inspect stats`` (so every inspection round
learns which workers have it) and in its own ``console_stacks`` command.
Replies are cluster data: parsed defensively into frozen views here, shown
only through ``console/text.py``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..companion.extension import INSTALL_LINE, STACKS_COMMAND, STATS_KEY
from .connection import Target
from .views import pidbox_scope

__all__ = ["INSTALL_LINE", "NOT_INSTALLED", "Frame", "RunningTask", "ThreadStack",
           "ProcessInfo", "Extension", "StackReport", "extension_of", "read_stacks"]

NOT_INSTALLED = ("the console companion is not installed on this worker — add one line "
                 "to its app: " + INSTALL_LINE)
MAX_TEXT = 1_000


def _str(value: object, limit: int = MAX_TEXT) -> str | None:
    return None if value is None else str(value)[:limit]


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


@dataclass(frozen=True)
class Frame:
    file: str
    line: int | None
    function: str
    code: str
    in_task: bool  # the running task's own code (not Celery's, not the pool's)


@dataclass(frozen=True)
class RunningTask:
    id: str
    name: str | None
    elapsed: float | None  # seconds running when the worker answered
    pid: int | None


@dataclass(frozen=True)
class ThreadStack:
    name: str
    task: RunningTask | None
    frames: tuple[Frame, ...]


@dataclass(frozen=True)
class ProcessInfo:
    pid: int | None
    role: str  # "main" or "child"
    rss: int | None  # bytes
    cpu: float | None  # seconds, user + system
    tasks_run: int | None  # since this process started
    started: float | None
    tasks: tuple[RunningTask, ...] = ()
    threads: tuple[ThreadStack, ...] = ()
    error: str | None = None

    @property
    def label(self) -> str:
        return f"{self.role} process {self.pid if self.pid is not None else '?'}"


@dataclass(frozen=True)
class Extension:
    """The extension's entry in one worker's ``stats`` reply."""

    version: str
    pool: str | None
    versions: Mapping[str, str]
    fingerprint: str | None
    processes: tuple[ProcessInfo, ...]


def _task(raw: object) -> RunningTask | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        return None
    return RunningTask(id=raw["id"][:255], name=_str(raw.get("name"), 255),
                       elapsed=_float(raw.get("elapsed")), pid=_int(raw.get("pid")))


def _frame(raw: object) -> Frame | None:
    if not isinstance(raw, dict):
        return None
    return Frame(file=_str(raw.get("file")) or "?", line=_int(raw.get("line")),
                 function=_str(raw.get("function"), 255) or "?",
                 code=_str(raw.get("code")) or "", in_task=raw.get("in_task") is True)


def _process(raw: object) -> ProcessInfo | None:
    if not isinstance(raw, dict):
        return None
    tasks = tuple(t for t in map(_task, raw.get("tasks") or ()) if t is not None)
    threads = []
    for thread in raw.get("threads") or ():
        if isinstance(thread, dict):
            frames = tuple(f for f in map(_frame, thread.get("frames") or ()) if f is not None)
            threads.append(ThreadStack(name=_str(thread.get("name"), 255) or "?",
                                       task=_task(thread.get("task")), frames=frames))
    return ProcessInfo(pid=_int(raw.get("pid")), role=_str(raw.get("role"), 20) or "?",
                       rss=_int(raw.get("rss")), cpu=_float(raw.get("cpu")),
                       tasks_run=_int(raw.get("tasks_run")), started=_float(raw.get("started")),
                       tasks=tasks, threads=tuple(threads), error=_str(raw.get("error")))


def _processes(raw: object) -> tuple[ProcessInfo, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(p for p in map(_process, raw) if p is not None)


def extension_of(stats: object) -> Extension | None:
    """The extension's entry in a ``stats`` reply, or None: not installed."""
    entry = stats.get(STATS_KEY) if isinstance(stats, dict) else None
    if not isinstance(entry, dict):
        return None
    versions = entry.get("versions")
    return Extension(
        version=_str(entry.get("version"), 20) or "?", pool=_str(entry.get("pool"), 40),
        versions={str(k)[:40]: str(v)[:80] for k, v in versions.items()}
        if isinstance(versions, dict) else {},
        fingerprint=_str(entry.get("fingerprint"), 64),
        processes=_processes(entry.get("processes")))


@dataclass(frozen=True)
class StackReport:
    """One worker's answer to a stack request."""

    hostname: str
    installed: bool
    at: float
    pool: str | None = None
    processes: tuple[ProcessInfo, ...] = ()
    error: str | None = None
    task_id: str | None = None
    task_missing: bool = False  # asked for a task this worker does not run
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """One line saying why there is no stack, or empty."""
        if not self.installed:
            return NOT_INSTALLED
        if self.error:
            return self.error
        if self.task_missing:
            return f"the task {self.task_id} is not running on this worker (any more)"
        return ""

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def parse_stacks(hostname: str, reply: object, task_id: str | None = None,
                 at: float | None = None) -> StackReport:
    at = time.time() if at is None else at
    if isinstance(reply, dict) and set(reply) == {"error"}:
        error = str(reply["error"])
        if STACKS_COMMAND in error and "KeyError" in error:
            return StackReport(hostname, installed=False, at=at, task_id=task_id)
        return StackReport(hostname, installed=True, at=at, error=error[:MAX_TEXT],
                           task_id=task_id)
    if not isinstance(reply, dict):
        return StackReport(hostname, installed=True, at=at, task_id=task_id,
                           error=f"unexpected reply: {str(reply)[:200]}")
    return StackReport(hostname, installed=True, at=at, pool=_str(reply.get("pool"), 40),
                       processes=_processes(reply.get("processes")), task_id=task_id,
                       task_missing=reply.get("task_missing") is True)


# Why a worker may not answer a stack request. The solo pool runs each task
# on the thread that answers remote control: it answers between tasks only.
NO_REPLY_WHY = (": the worker is gone or busy; a solo pool answers only between tasks, "
                "the threads or prefork pool also while they run")


def read_stacks(target: Target, hostnames: list[str] | None = None,
                task_id: str | None = None, pids: list[int] | None = None,
                timeout: float = 3.0) -> list[StackReport]:
    """Ask workers for their stacks: ``hostnames`` (each is waited for), or
    every worker (the whole timeout). A worker that does not answer gets a
    report saying so. Read-only: it changes nothing on the worker."""
    arguments: dict[str, Any] = {"timeout": max(0.5, timeout - 1.0)}
    if task_id is not None:
        arguments["task_id"] = task_id
    if pids:
        arguments["pids"] = list(pids)
    destination, limit = pidbox_scope(hostnames or ())
    with target.connection_for_read(connect_timeout=timeout) as conn:
        replies = target.app.control.broadcast(
            STACKS_COMMAND, arguments=arguments, destination=destination, limit=limit,
            reply=True, timeout=timeout, connection=conn) or []
    now = time.time()
    merged: dict[str, object] = {}
    for item in replies:
        if isinstance(item, dict):
            merged.update({str(h): r for h, r in item.items()})
    reports = [parse_stacks(h, r, task_id, now) for h, r in sorted(merged.items())
               if not hostnames or h in hostnames]
    for host in hostnames or ():
        if host not in merged:
            reports.append(StackReport(host, installed=True, at=now, task_id=task_id,
                                       error=f"no reply within {timeout:g} s{NO_REPLY_WHY}"))
    return reports


# ------------------------------------------------------------------ reading
def mib(value: int | None) -> str:
    return "—" if value is None else f"{value / 2**20:,.1f} MiB"


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} s"


def task_label(task: RunningTask) -> str:
    running = f" for {seconds(task.elapsed)}" if task.elapsed is not None else ""
    return f"{task.name or '?'} {task.id}{running}"


def process_line(process: ProcessInfo) -> str:
    run = "—" if process.tasks_run is None else f"{process.tasks_run:,}"
    return (f"{process.label}  RSS {mib(process.rss)}  CPU {seconds(process.cpu)}  "
            f"tasks run {run}")


def report_lines(report: StackReport) -> list[tuple[str, str]]:
    """A stack report as ``(kind, text)`` lines, Python-traceback style, for
    the terminal and the stack screen alike. Kinds: ``worker``, ``process``,
    ``task``, ``thread``, ``frame``, ``task-frame``, ``code``, ``note``,
    ``error``. Text is cluster data: the caller renders it literally."""
    pool = f"  ({report.pool} pool)" if report.pool else ""
    lines = [("worker", f"worker {report.hostname}{pool}")]
    if report.message:
        lines.append(("error", report.message))
        return lines
    for process in report.processes:
        lines.append(("process", process_line(process)))
        for task in process.tasks:
            lines.append(("task", f"running {task_label(task)}"))
        if process.error:
            lines.append(("error", process.error))
        for thread in process.threads:
            doing = f"  — task {task_label(thread.task)}" if thread.task else ""
            lines.append(("thread", f"thread {thread.name}{doing}"))
            for frame in thread.frames:
                kind = "task-frame" if frame.in_task else "frame"
                line = "?" if frame.line is None else str(frame.line)
                lines.append((kind, f'  File "{frame.file}", line {line}, in {frame.function}'))
                if frame.code:
                    lines.append(("code", f"    {frame.code}"))
    if not report.processes:
        lines.append(("note", "no process answered"))
    return lines
