"""Every action that changes the cluster, in one place.

Each action validates its input before anything is sent, is refused here
(not only in the UI) under ``--read-only``, is written to the audit log
before it is sent, and returns each target's outcome: ok, the error text,
no reply within the timeout, or unknown when the connection dropped.
"""

from __future__ import annotations

import re
import signal as signals
import time
from dataclasses import dataclass, field

from .audit import AuditLog
from .broker import QueueProbe
from .connection import ConsoleError, Target
from .state import ClusterState

EX_NOPERM = 77
_RATE = re.compile(r"^\s*\d+(\.\d+)?\s*(/\s*[smh])?\s*$")
_QUEUE = re.compile(r"^[^\s\x00-\x1f\x7f]{1,255}$")


class ReadOnlyError(ConsoleError):
    def __init__(self, action: str):
        super().__init__(f"{action} refused: the console runs --read-only.", EX_NOPERM)


class InvalidInput(ValueError):
    """Bad input for an action; the message is meant for the dialog."""


# ----------------------------------------------------------------- validation
def valid_rate(text) -> str | None:
    """``10/s``, ``100/m``, ``5/h``, ``3`` (per second); empty removes it."""
    text = "" if text is None else str(text).strip()
    if not text:
        return None
    if not _RATE.match(text):
        raise InvalidInput(f"rate {text!r} is not a rate: use N/s, N/m or N/h, "
                           "or leave it empty to remove the limit")
    return text.replace(" ", "")


def valid_signal(text) -> str:
    name = str(text or "").strip().upper()
    if name.isdigit():
        try:
            return signals.Signals(int(name)).name
        except ValueError:
            raise InvalidInput(f"no signal number {name}") from None
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name not in signals.Signals.__members__ or name.startswith("SIG_"):
        raise InvalidInput(f"unknown signal {text!r}: try SIGTERM, SIGKILL, SIGINT "
                           "or SIGUSR1")
    return name


def valid_seconds(text, what: str, allow_empty: bool = True) -> float | None:
    text = "" if text is None else str(text).strip()
    if not text:
        if allow_empty:
            return None
        raise InvalidInput(f"{what} is required")
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"{what} {text!r} is not a number of seconds") from None
    if not value > 0 or value != value or value == float("inf"):
        raise InvalidInput(f"{what} must be a positive number of seconds")
    return value


def valid_time_limits(soft, hard) -> tuple[float | None, float | None]:
    soft_s = valid_seconds(soft, "soft limit")
    hard_s = valid_seconds(hard, "hard limit")
    if soft_s is None and hard_s is None:
        raise InvalidInput("give a soft limit, a hard limit, or both")
    if soft_s is not None and hard_s is not None and soft_s >= hard_s:
        raise InvalidInput("the soft limit must be below the hard limit")
    return soft_s, hard_s


def valid_count(text, what: str = "count", minimum: int = 1) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise InvalidInput(f"{what} {text!r} is not a whole number") from None
    if value < minimum:
        raise InvalidInput(f"{what} must be at least {minimum}")
    if value > 10_000:
        raise InvalidInput(f"{what} {value} is too large")
    return value


def valid_autoscale(max_concurrency, min_concurrency) -> tuple[int, int]:
    high = valid_count(max_concurrency, "max")
    low = valid_count(min_concurrency, "min", minimum=0)
    if low > high:
        raise InvalidInput("min must not be above max")
    return high, low


def valid_queue(text) -> str:
    name = str(text or "").strip()
    if not _QUEUE.match(name):
        if not name:
            raise InvalidInput("a queue name is required")
        if len(name) > 255:
            raise InvalidInput(f"a queue name has at most 255 characters ({len(name)} given)")
        raise InvalidInput("a queue name has no spaces or control characters")
    return name


def valid_task_name(text) -> str:
    name = str(text or "").strip()
    if not name or len(name) > 512 or any(c.isspace() for c in name):
        raise InvalidInput("a task name is required, without spaces")
    return name


# -------------------------------------------------------------------- outcome
@dataclass
class Outcome:
    action: str
    targets: list[str]
    arguments: dict
    # target -> {"ok": text} | {"error": text} | {"no_reply": seconds}
    #           | {"unknown": text} | {"purged": n}
    results: dict[str, dict] = field(default_factory=dict)
    status: str = "ok"  # ok | partial | error | unknown | refused
    summary: str = ""
    at: float = 0.0
    audit_id: str | None = None

    def as_dict(self) -> dict:
        return {"action": self.action, "targets": self.targets, "arguments": self.arguments,
                "results": self.results, "status": self.status, "summary": self.summary,
                "at": self.at, "audit_id": self.audit_id}


def _summarize(outcome: Outcome, verb: str) -> None:
    results = outcome.results
    ok = [t for t, r in results.items() if "ok" in r or "purged" in r]
    failed = {t: r["error"] for t, r in results.items() if "error" in r}
    silent = [t for t, r in results.items() if "no_reply" in r]
    unknown = [t for t, r in results.items() if "unknown" in r]
    total = len(results)
    if unknown:
        outcome.status = "unknown"
    elif len(ok) == total and total:
        outcome.status = "ok"
    elif ok:
        outcome.status = "partial"
    else:
        outcome.status = "error"
    parts = [f"{verb} on {len(ok)}/{total}"]
    if failed:
        first = next(iter(failed.items()))
        parts.append(f"error from {first[0]}: {first[1]}"
                     + (f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""))
    if silent:
        parts.append(f"no reply from {', '.join(silent[:3])}"
                     + (f" (+{len(silent) - 3})" if len(silent) > 3 else "")
                     + f" in {results[silent[0]]['no_reply']:g} s")
    if unknown:
        parts.append("outcome unknown: " + results[unknown[0]]["unknown"])
    if not total:
        parts = [f"{verb}: no worker to send it to"]
        outcome.status = "error"
    outcome.summary = "; ".join(parts)


# -------------------------------------------------------------------- actions
class Actions:
    def __init__(self, target: Target, state: ClusterState, audit: AuditLog,
                 read_only: bool = False, timeout: float = 2.0):
        self.target = target
        self.app = target.app
        self.state = state
        self.audit = audit
        self.read_only = read_only
        self.timeout = timeout

    # ------------------------------------------------------------ plumbing
    def _begin(self, action: str, targets, arguments: dict) -> Outcome:
        outcome = Outcome(action, list(targets), arguments, at=time.time())
        if self.read_only:
            self.audit.refused(action, targets, arguments, self.target.masked_url,
                               "read-only")
            outcome.status, outcome.summary = "refused", "refused: read-only"
            self.state.record_action(outcome.as_dict())
            raise ReadOnlyError(action)
        outcome.audit_id = self.audit.attempt(action, targets, arguments,
                                              self.target.masked_url)
        return outcome

    def _finish(self, outcome: Outcome, verb: str, note: str = "") -> Outcome:
        _summarize(outcome, verb)
        if note and outcome.status in ("ok", "partial"):
            outcome.summary += f"; {note}"
        self.audit.outcome(outcome.audit_id, outcome.action, outcome.status,
                           outcome.summary, outcome.results)
        self.state.record_action(outcome.as_dict())
        return outcome

    def _workers(self, destination) -> list[str]:
        if destination:
            return list(destination)
        return self.state.workers_online()

    def _broadcast(self, outcome: Outcome, command: str, expected: list[str],
                   destination, **arguments) -> None:
        """Send one pidbox command and sort the replies per worker."""
        replies: list = []
        sent = False
        try:
            with self.target.connection_for_write(connect_timeout=self.timeout) as conn:
                # Connect before sending: a broker we cannot reach means the
                # command never left (an error), not an unknown outcome.
                conn.ensure_connection(max_retries=1, timeout=self.timeout)
                conn.default_channel  # Redis connects lazily
                sent = True
                # Replies are kept as they arrive (callback), so a connection
                # lost while waiting keeps the ones that came.
                self.app.control.broadcast(
                    command, arguments=arguments, destination=destination,
                    reply=True, timeout=self.timeout, limit=len(expected) or None,
                    connection=conn, callback=replies.append)
        except Exception as exc:
            text = self.target.scrub(f"{type(exc).__name__}: {exc}")
            self._sort_replies(outcome, replies)
            for worker in expected or ["(all workers)"]:
                outcome.results.setdefault(
                    worker, {"unknown": text} if sent else {"error": f"not sent: {text}"})
            return
        self._sort_replies(outcome, replies)
        for worker in expected:
            outcome.results.setdefault(worker, {"no_reply": self.timeout})

    @staticmethod
    def _sort_replies(outcome: Outcome, replies: list) -> None:
        for reply in replies:
            if not isinstance(reply, dict):
                continue
            for worker, body in reply.items():
                if isinstance(body, dict) and "error" in body:
                    outcome.results[worker] = {"error": str(body["error"])}
                elif isinstance(body, dict) and "ok" in body:
                    outcome.results[worker] = {"ok": str(body["ok"])}
                else:
                    outcome.results[worker] = {"ok": str(body)}

    def _control(self, action: str, verb: str, command: str, destination,
                 arguments: dict, targets=None, note: str = "") -> Outcome:
        expected = self._workers(destination)
        outcome = self._begin(action, targets if targets is not None else expected,
                              arguments)
        self._broadcast(outcome, command, expected, destination or None, **arguments)
        return self._finish(outcome, verb, note)

    # --------------------------------------------------------------- tasks
    def revoke(self, task_ids, terminate: bool = False, signal: str = "SIGTERM") -> Outcome:
        ids = [str(t) for t in task_ids if t]
        if not ids:
            raise InvalidInput("no task to revoke")
        arguments = {"task_id": ids, "terminate": bool(terminate)}
        if terminate:
            arguments["signal"] = valid_signal(signal)
        expected = self._workers(None)
        outcome = self._begin("terminate" if terminate else "revoke", ids, arguments)
        self._broadcast(outcome, "revoke", expected, None, **arguments)
        return self._finish(outcome, "terminated" if terminate else "revoked")

    def rate_limit(self, task_name: str, rate, destination=None) -> Outcome:
        name = valid_task_name(task_name)
        rate = valid_rate(rate)
        return self._control("rate_limit", "rate limit set", "rate_limit", destination,
                             {"task_name": name, "rate_limit": rate})

    def time_limit(self, task_name: str, soft=None, hard=None, destination=None,
                   apply_now: bool = False) -> Outcome:
        """Set soft/hard time limits for a task type.

        Celery's worker builds each task type's request class once, with the
        limits of that moment, so a new limit reaches tasks only after a pool
        restart (which rebuilds them). ``apply_now`` sends that restart to the
        workers that accepted the limit, as its own audited action."""
        name = valid_task_name(task_name)
        soft_s, hard_s = valid_time_limits(soft, hard)
        outcome = self._control(
            "time_limit", "time limits set", "time_limit", destination,
            {"task_name": name, "soft": soft_s, "hard": hard_s},
            note="" if apply_now else "new tasks get it after a pool restart (R)")
        if apply_now and outcome.status in ("ok", "partial"):
            accepted = [w for w, r in outcome.results.items() if "ok" in r]
            restart = self.pool_restart(destination=accepted)
            outcome.summary += f"; then {restart.summary}"
        return outcome

    # ------------------------------------------------------------- workers
    def pool_grow(self, n=1, destination=None) -> Outcome:
        return self._control("pool_grow", "pool grown", "pool_grow", destination,
                             {"n": valid_count(n, "processes")})

    def pool_shrink(self, n=1, destination=None) -> Outcome:
        return self._control("pool_shrink", "pool shrunk", "pool_shrink", destination,
                             {"n": valid_count(n, "processes")})

    def autoscale(self, max_concurrency, min_concurrency, destination=None) -> Outcome:
        high, low = valid_autoscale(max_concurrency, min_concurrency)
        return self._control("autoscale", "autoscale set", "autoscale", destination,
                             {"max": high, "min": low})

    def add_consumer(self, queue: str, destination=None) -> Outcome:
        return self._control("add_consumer", "consumer added", "add_consumer", destination,
                             {"queue": valid_queue(queue)})

    def cancel_consumer(self, queue: str, destination=None) -> Outcome:
        return self._control("cancel_consumer", "consumer cancelled", "cancel_consumer",
                             destination, {"queue": valid_queue(queue)})

    def pool_restart(self, destination=None) -> Outcome:
        return self._control("pool_restart", "pool restarted", "pool_restart", destination,
                             {"reload": False})

    def shutdown(self, destination) -> Outcome:
        if not destination:
            raise InvalidInput("name the workers to shut down")
        # Shutdown does not reply: the worker is gone. Success shows as the
        # worker going offline, so no reply is expected here.
        expected = list(destination)
        outcome = self._begin("shutdown", expected, {})
        try:
            with self.target.connection_for_write(connect_timeout=self.timeout) as conn:
                self.app.control.broadcast("shutdown", destination=expected, connection=conn)
            for worker in expected:
                outcome.results[worker] = {"ok": "shutdown sent"}
        except Exception as exc:
            text = self.target.scrub(f"{type(exc).__name__}: {exc}")
            for worker in expected:
                outcome.results[worker] = {"unknown": text}
        return self._finish(outcome, "shutdown sent")

    # -------------------------------------------------------------- queues
    def purge(self, queues) -> Outcome:
        names = [valid_queue(q) for q in queues]
        if not names:
            raise InvalidInput("no queue to purge")
        outcome = self._begin("purge", names, {})
        for name, result in QueueProbe(self.target).purge(names).items():
            if "error" in result and result["error"].startswith("outcome unknown"):
                outcome.results[name] = {"unknown": result["error"]}
            else:
                outcome.results[name] = result
        _summarize(outcome, "purged")
        removed = sum(r.get("purged", 0) for r in outcome.results.values())
        if outcome.status in ("ok", "partial"):
            done = [f"{r['purged']:,} from {q}" for q, r in outcome.results.items()
                    if "purged" in r]
            outcome.summary = f"purged {removed:,} messages ({', '.join(done)})" + (
                "; " + outcome.summary.split("; ", 1)[1] if "; " in outcome.summary else "")
        self.audit.outcome(outcome.audit_id, "purge", outcome.status, outcome.summary,
                           outcome.results)
        self.state.record_action(outcome.as_dict())
        return outcome
