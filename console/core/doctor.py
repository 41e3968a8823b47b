"""Doctor: settings across the workers that will hurt, each with the
evidence it was read from (``inspect conf/stats/report/active_queues/
registered``, the companion extension's versions where present, and the
runtimes and countdowns this console saw).

Core builds typed findings; the doctor screen and ``console doctor`` only
render them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..companion.extension import canonical_json, config_hash
from .insight import extension_of
from .secrets import mask_url
from .views import parse_registered, pidbox_scope, queue_names

if TYPE_CHECKING:
    from .connection import Target
    from .state import ClusterState

#: A queue whose tasks ran this long (seconds) holds "long" tasks.
LONG_TASK = 10.0
#: Celery's defaults, for settings a ``conf`` reply leaves out.
DEFAULT_PREFETCH_MULTIPLIER = 4
DEFAULT_VISIBILITY_TIMEOUT = 3600.0
KINDS = ("conf", "stats", "report", "active_queues", "registered", "scheduled")
LIMITS = ("time_limit", "soft_time_limit")


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # "warning" or "error"
    title: str
    subject: str  # a worker, a queue, or "cluster"
    evidence: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WorkerFacts:
    """What one worker answered (None: it did not answer that inspection)."""

    hostname: str
    conf: Mapping[str, Any] | None = None
    stats: Mapping[str, Any] | None = None
    report: str | None = None
    queues: tuple[str, ...] | None = None
    registered: tuple[tuple[str, Mapping[str, str]], ...] | None = None
    software: str | None = None  # from heartbeats: "py-celery 5.7.0"

    @property
    def versions(self) -> dict[str, str]:
        """celery, kombu, python…: the extension's, else read from ``report``."""
        extension = extension_of(self.stats)
        if extension is not None and extension.versions:
            return dict(extension.versions)
        found: dict[str, str] = {}
        for name, key in (("celery", "celery"), ("kombu", "kombu"), ("python", "py"),
                          ("billiard", "billiard")):
            match = re.search(rf"(?:^|\s){key}:(\S+)", self.report or "")
            if match:
                found[name] = match.group(1)
        version = re.search(r"\d+(?:\.\d+)+\S*", self.software or "")
        if "celery" not in found and version:  # heartbeats: "py-celery 5.7.0 Linux"
            found["celery"] = version.group(0)
        return found

    @property
    def fingerprint(self) -> str | None:
        """A hash of the ``conf`` reply, as the extension computes it (theirs
        is not used: a worker without it must compare alike)."""
        return conf_hash(self.conf)

    @property
    def concurrency(self) -> int | None:
        pool = (self.stats or {}).get("pool")
        if isinstance(pool, dict):
            processes = pool.get("processes")
            if isinstance(processes, list) and processes:
                return len(processes)
            size = pool.get("max-concurrency")
            return size if isinstance(size, int) else None
        return None

    @property
    def prefetch_multiplier(self) -> tuple[float | None, str]:
        """(multiplier, where it comes from)."""
        prefetch = (self.stats or {}).get("prefetch_count")
        processes = self.concurrency
        if isinstance(prefetch, int) and processes:
            return prefetch / processes, (f"prefetches {prefetch} for {processes} "
                                          f"process{'es' if processes != 1 else ''}")
        if self.conf is not None:
            value = self.conf.get("worker_prefetch_multiplier", DEFAULT_PREFETCH_MULTIPLIER)
            if isinstance(value, (int, float)):
                return float(value), f"worker_prefetch_multiplier = {value}"
        return None, ""


def conf_hash(conf: Mapping[str, Any] | None) -> str | None:
    """The same hash as the extension's fingerprint of the same settings."""
    return None if conf is None else config_hash(conf)


@dataclass(frozen=True)
class Observations:
    """What the console saw of the tasks themselves."""

    # queue -> (longest runtime seen, the task that took it)
    runtimes: Mapping[str, tuple[float, str]] = field(default_factory=dict)
    # (seconds from sending to its eta, task name, task id), the longest
    longest_countdown: tuple[float, str, str] | None = None
    transport: str | None = None  # the console's own broker: "redis", "amqp", …


@dataclass(frozen=True)
class Diagnosis:
    workers: tuple[str, ...]
    findings: tuple[Finding, ...]
    missing: tuple[str, ...] = ()  # asked, never answered
    at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"workers": list(self.workers), "missing": list(self.missing), "at": self.at,
                "findings": [f.as_dict() for f in self.findings]}


# --------------------------------------------------------------- findings
def diagnose(workers: Sequence[WorkerFacts], seen: Observations = Observations(),
             missing: Iterable[str] = (), at: float = 0.0) -> Diagnosis:
    findings: list[Finding] = []
    for worker in workers:
        findings.extend(_conf_checks(worker))
        findings.extend(_no_queue(worker))
    findings.extend(_no_time_limits(workers))
    findings.extend(_prefetch(workers, seen))
    findings.extend(_visibility(workers, seen))
    findings.extend(_mixed(workers))
    return Diagnosis(tuple(w.hostname for w in workers), tuple(findings),
                     tuple(missing), at)


def _setting(conf: Mapping[str, Any], key: str, default: str) -> str:
    return f"{key} = {conf[key]!r}" if key in conf else f"{key} not set ({default})"


# (code, title, does it apply to a conf, the settings it reads, why it hurts)
CONF_CHECKS: tuple[tuple[str, str, Any, tuple[str, ...], str], ...] = (
    ("events-off", "task events off in its configuration",
     lambda conf: conf.get("worker_send_task_events") is not True,
     ("worker_send_task_events",),
     "it sends task events only while a console or Flower broadcasts enable_events; "
     "after a restart it is invisible until then (set worker_send_task_events = True, "
     "or start it with -E)"),
    ("acks-late-lost", "acks_late without reject_on_worker_lost",
     lambda conf: conf.get("task_acks_late") is True
     and conf.get("task_reject_on_worker_lost") is not True,
     ("task_acks_late", "task_reject_on_worker_lost"),
     "a task whose process dies (OOM kill, SIGKILL) is acknowledged as failed, not "
     "given back to the queue: acks_late does not protect it"),
)


def _conf_checks(worker: WorkerFacts) -> list[Finding]:
    """The findings one worker's own settings give, each with the settings read."""
    conf = worker.conf
    if conf is None:
        return []
    return [Finding(code, "warning", title, worker.hostname, (
        *("conf: " + _setting(conf, key, "Celery's default: False") for key in keys), why))
        for code, title, applies, keys, why in CONF_CHECKS if applies(conf)]


def _no_queue(worker: WorkerFacts) -> list[Finding]:
    if worker.queues is None or worker.queues:
        return []
    return [Finding("no-queue", "error", "consumes no queue", worker.hostname, (
        "active_queues: [] — it takes no task at all",))]


def _no_time_limits(workers: Sequence[WorkerFacts]) -> list[Finding]:
    confs = [w for w in workers if w.conf is not None]
    if not confs:
        return []
    if any(w.conf and (w.conf.get("task_time_limit") or w.conf.get("task_soft_time_limit"))
           for w in confs):
        return []
    types = {name: limits for w in workers for name, limits in w.registered or ()}
    limited = [name for name, limits in types.items()
               if any(limits.get(k) not in (None, "None") for k in LIMITS)]
    if limited:
        return []
    return [Finding("no-time-limits", "warning", "no time limits anywhere", "cluster", (
        f"conf of {', '.join(w.hostname for w in confs)}: task_time_limit and "
        "task_soft_time_limit not set",
        f"registered: none of {len(types)} task types declares time_limit or "
        "soft_time_limit",
        "a task that hangs holds its process for ever"))]


def _prefetch(workers: Sequence[WorkerFacts], seen: Observations) -> list[Finding]:
    out = []
    for queue, (runtime, name) in sorted(seen.runtimes.items()):
        if runtime < LONG_TASK:
            continue
        evidence = []
        for worker in workers:
            if queue not in (worker.queues or ()):
                continue
            multiplier, source = worker.prefetch_multiplier
            if multiplier is not None and multiplier > 1:
                evidence.append(f"{worker.hostname} {source} (multiplier {multiplier:g}): "
                                "each process holds more tasks behind the one it runs "
                                "while other workers may idle")
        if evidence:
            out.append(Finding(
                "prefetch-long", "warning",
                "prefetch multiplier > 1 on a queue of long tasks", queue,
                (f"{name} ran {runtime:,.1f} s (the longest seen on {queue})", *evidence,
                 "set worker_prefetch_multiplier = 1 (and acks_late) for long tasks")))
    return out


def _visibility(workers: Sequence[WorkerFacts], seen: Observations) -> list[Finding]:
    if seen.longest_countdown is None:
        return []
    redis = [w for w in workers if _transport(w) == "redis"]
    if not redis and seen.transport != "redis":
        return []
    countdown, name, uuid = seen.longest_countdown
    shortest: tuple[float, str] | None = None
    for worker in redis or workers:
        options = (worker.conf or {}).get("broker_transport_options")
        timeout = options.get("visibility_timeout") if isinstance(options, dict) else None
        value = float(timeout) if isinstance(timeout, (int, float)) \
            else DEFAULT_VISIBILITY_TIMEOUT
        source = (f"{worker.hostname}: visibility_timeout = {value:g} s"
                  + ("" if isinstance(timeout, (int, float)) else " (kombu's default)"))
        if shortest is None or value < shortest[0]:
            shortest = (value, source)
    if shortest is None or countdown <= shortest[0]:
        return []
    return [Finding("visibility-timeout", "error",
                    "Redis visibility_timeout shorter than a countdown: tasks will run twice",
                    "cluster", (
                        f"{name} {uuid}: eta {countdown:,.0f} s after it was sent",
                        shortest[1],
                        "Redis gives an unacknowledged message to another worker after "
                        "visibility_timeout: the same task runs again"))]


def _transport(worker: WorkerFacts) -> str | None:
    broker = (worker.stats or {}).get("broker")
    transport = broker.get("transport") if isinstance(broker, dict) else None
    return str(transport) if transport else None


def _mixed(workers: Sequence[WorkerFacts]) -> list[Finding]:
    by_queue: dict[str, list[WorkerFacts]] = {}
    for worker in workers:
        for queue in worker.queues or ():
            by_queue.setdefault(queue, []).append(worker)
    out = []
    for queue, members in sorted(by_queue.items()):
        if len(members) < 2:
            continue
        versions = {w.hostname: {k: v for k, v in w.versions.items()
                                 if k in ("celery", "kombu")} for w in members}
        # Different where both are known: a worker whose kombu is unknown
        # (no extension, no report) differs from none on kombu.
        if any(len({v[key] for v in versions.values() if key in v}) > 1
               for key in ("celery", "kombu")):
            out.append(Finding("mixed-versions", "warning",
                               "workers of one queue on different celery/kombu versions",
                               queue, tuple(f"{host}: " + (", ".join(
                                   f"{k} {v}" for k, v in sorted(found.items())) or "unknown")
                                   for host, found in sorted(versions.items()))))
        prints = {w.hostname: w.fingerprint for w in members if w.fingerprint}
        if len(set(prints.values())) > 1:
            out.append(Finding("mixed-config", "warning",
                               "workers of one queue on different configurations", queue,
                               (*(f"{host}: config {fp}" for host, fp in sorted(prints.items())),
                                *_conf_differences(members))))
    return out


def _conf_differences(workers: Sequence[WorkerFacts], limit: int = 6) -> list[str]:
    confs = {w.hostname: w.conf for w in workers if w.conf is not None}
    keys = sorted({k for conf in confs.values() for k in conf})
    lines = []
    for key in keys:
        # Celery censors secrets in its reply; URLs are masked again in case
        # a setting it does not know holds one.
        values = {host: mask_url(canonical_json(conf.get(key)))
                  for host, conf in confs.items()}
        if len(set(values.values())) > 1:
            lines.append(f"differs in {key}: " + ", ".join(
                f"{host} {value[:60]}" for host, value in sorted(values.items())))
    if len(lines) > limit:
        lines = lines[:limit] + [f"… and {len(lines) - limit} more settings"]
    return lines


# --------------------------------------------------------------- evidence
def facts_from_replies(hostnames: Iterable[str], replies: Mapping[str, Mapping[str, Any]],
                       software: Mapping[str, str] | None = None) -> list[WorkerFacts]:
    """``replies[kind][hostname]`` → one ``WorkerFacts`` per worker."""
    def reply(kind: str, host: str) -> Any:
        value = replies.get(kind, {}).get(host)
        if isinstance(value, dict) and set(value) == {"error"}:
            return None
        return value

    out = []
    for host in hostnames:
        conf, stats, report = reply("conf", host), reply("stats", host), reply("report", host)
        queues, registered = reply("active_queues", host), reply("registered", host)
        out.append(WorkerFacts(
            hostname=host,
            conf=conf if isinstance(conf, dict) else None,
            stats=stats if isinstance(stats, dict) else None,
            report=str(report.get("ok")) if isinstance(report, dict) else None,
            queues=queue_names(queues) if isinstance(queues, list) else None,
            registered=tuple(parse_registered(e) for e in registered)
            if isinstance(registered, list) else None,
            software=(software or {}).get(host)))
    return out


def observations(state: ClusterState | None, scheduled: Mapping[str, Any] | None = None,
                 transport: str | None = None, now: float | None = None,
                 limit: int = 100_000) -> Observations:
    """Longest runtime per queue and longest countdown, from the tasks the
    console holds and the workers' ``scheduled`` replies."""
    runtimes: dict[str, tuple[float, str]] = {}
    countdown: tuple[float, str, str] | None = None

    def consider(seconds: float, name: object, uuid: object) -> None:
        nonlocal countdown
        if countdown is None or seconds > countdown[0]:
            countdown = (seconds, str(name or "?"), str(uuid or "?"))

    for task in state.recent_tasks(limit) if state is not None else ():
        queue = task.queue or task.routing_key
        if isinstance(task.runtime, (int, float)) and isinstance(queue, str):
            if task.runtime > runtimes.get(queue, (-1.0, ""))[0]:
                runtimes[queue] = (float(task.runtime), str(task.name or "?"))
        eta = _timestamp(task.eta)
        sent = task.sent or task.received
        if eta is not None and isinstance(sent, (int, float)):
            consider(eta - sent, task.name, task.uuid)
    for items in (scheduled or {}).values():
        for item in items if isinstance(items, list) else ():
            eta = _timestamp(item.get("eta")) if isinstance(item, dict) else None
            request = item.get("request") if isinstance(item, dict) else None
            if eta is not None and now is not None and isinstance(request, dict):
                consider(eta - now, request.get("name"), request.get("id"))
    return Observations(runtimes, countdown, transport)


def _timestamp(value: object) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def collect(target: Target, hostnames: Sequence[str] | None = None,
            timeout: float = 1.0) -> tuple[list[str], dict[str, dict[str, Any]], list[str]]:
    """Ask every worker (found by ping when none is named) the inspections
    the doctor reads: (workers, replies by kind, those that never answered)."""
    app = target.app
    replies: dict[str, dict[str, Any]] = {}
    with target.connection_for_read(connect_timeout=timeout * 4) as conn:
        if not hostnames:
            pongs = app.control.inspect(timeout=timeout, connection=conn).ping() or {}
            hostnames = sorted(pongs)
        expected = list(hostnames)
        destination, limit = pidbox_scope(expected)
        for kind in KINDS:
            inspect = app.control.inspect(destination=destination, limit=limit,
                                          timeout=timeout, connection=conn)
            method = getattr(inspect, kind)
            arguments = LIMITS if kind == "registered" else ()
            replies[kind] = {h: r for h, r in (method(*arguments) or {}).items()
                             if h in expected}
    answered = {h for by_host in replies.values() for h in by_host}
    return expected, replies, [h for h in expected if h not in answered]


def transport_of(target: Target) -> str | None:
    try:
        return str(target.app.connection_for_read().transport_cls)
    except Exception:  # an unknown scheme: the workers' stats still say
        return None


def examine(target: Target, state: ClusterState | None = None,
            hostnames: Sequence[str] | None = None, timeout: float = 1.0,
            now: float | None = None) -> Diagnosis:
    """Everything at once: ask the workers, read what was seen, diagnose."""
    import time

    now = time.time() if now is None else now
    workers, replies, missing = collect(target, hostnames, timeout)
    software = {}
    if state is not None:
        software = {w.hostname: w.software for w in state.worker_views(now)
                    if w.software}
    facts = facts_from_replies([w for w in workers if w not in missing], replies, software)
    seen = observations(state, replies.get("scheduled"), transport_of(target), now)
    return diagnose(facts, seen, missing, now)


def diagnosis_lines(diagnosis: Diagnosis) -> list[tuple[str, str]]:
    """``(kind, text)`` lines for the terminal and the doctor screen alike:
    ``summary``, ``warning``/``error`` (a finding's title), ``evidence``,
    ``ok``, ``note``. Text is cluster data: the caller renders it literally."""
    count = len(diagnosis.workers)
    lines = [("summary", f"{count} worker{'s' if count != 1 else ''} examined"
              + (f": {', '.join(diagnosis.workers)}" if diagnosis.workers else ""))]
    if diagnosis.missing:
        lines.append(("note", f"no answer from {', '.join(diagnosis.missing)}"))
    if not diagnosis.findings:
        lines.append(("ok", "no findings" if diagnosis.workers else
                      "no worker answered: nothing to examine"))
    for finding in diagnosis.findings:
        lines.append((finding.severity, f"{finding.title} — {finding.subject}"))
        lines.extend(("evidence", f"  {line}") for line in finding.evidence)
    return lines


def facts_from_state(state: ClusterState, now: float) -> list[WorkerFacts]:
    """The facts in the model's last inspection replies (no ``report``):
    for a model with no broker behind it (the sample cluster)."""
    views = [w for w in state.worker_views(now) if w.inspections]
    replies: dict[str, dict[str, Any]] = {}
    for view in views:
        for kind in KINDS:
            reply = view.reply(kind)
            if reply is not None:
                replies.setdefault(kind, {})[view.hostname] = reply
    answered = [v.hostname for v in views if v.reply("stats") is not None]
    return facts_from_replies(answered, replies,
                              {v.hostname: v.software for v in views if v.software})
