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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .audit import AuditLog
from .broker import QueueProbe
from .connection import ConsoleError, Target
from .filters import FilterError, RowFilter
from .messages import parse_match
from .rerun import RerunPlan
from .state import ClusterState
from .stores import ActionView
from .surgery import Surgeon
from .views import OutcomeStatus, ResultKind, TargetResult, pidbox_scope


def _summary_name(value: object, width: int) -> str:
    """A name in a summary: one line, bounded (the screens render it)."""
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"

EX_NOPERM = 77
_RATE = re.compile(r"^\s*\d+(\.\d+)?\s*(/\s*[smh])?\s*$")
_QUEUE = re.compile(r"^[^\s\x00-\x1f\x7f]{1,255}$")


class ReadOnlyError(ConsoleError):
    def __init__(self, action: str):
        super().__init__(f"{action} refused: the console runs --read-only.", EX_NOPERM)


class InvalidInput(ValueError):
    """Bad input for an action; the message is meant for the dialog."""


# ----------------------------------------------------------------- validation
# Words that remove a limit: removing one is an explicit choice, never what
# an empty field means (a rate limit protects something downstream).
REMOVE_WORDS = frozenset({"none", "off", "no limit", "unlimited"})
NO_LIMIT = "no limit"


def valid_rate(text: object) -> str | None:
    """``10/s``, ``100/m``, ``5/h``, ``3`` (per second); ``none`` or ``off``
    removes the limit (so does ``None`` from code). Empty is nothing to do:
    refused, so an untouched field never changes the cluster."""
    if text is None:
        return None
    rate = str(text).strip()
    if not rate:
        raise InvalidInput("nothing to do: type a rate (10/s, 100/m, 5/h), "
                           "or none to remove the limit")
    if rate.lower() in REMOVE_WORDS:
        return None
    if not _RATE.match(rate):
        raise InvalidInput(f"rate {rate!r} is not a rate: use N/s, N/m or N/h, "
                           "or none to remove the limit")
    return rate.replace(" ", "")


def valid_signal(text: object) -> str:
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


def valid_seconds(text: object, what: str, allow_empty: bool = True) -> float | None:
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


def valid_time_limits(soft: object, hard: object) -> tuple[float | None, float | None]:
    soft_s = valid_seconds(soft, "soft limit")
    hard_s = valid_seconds(hard, "hard limit")
    if soft_s is None and hard_s is None:
        raise InvalidInput("give a soft limit, a hard limit, or both")
    if soft_s is not None and hard_s is not None and soft_s >= hard_s:
        raise InvalidInput("the soft limit must be below the hard limit")
    return soft_s, hard_s


def valid_count(text: object, what: str = "count", minimum: int = 1) -> int:
    if text is None or not str(text).strip():
        raise InvalidInput(f"nothing to do: type the {what}")
    try:
        value = int(str(text).strip())
    except ValueError:
        raise InvalidInput(f"{what} {text!r} is not a whole number") from None
    if value < minimum:
        raise InvalidInput(f"{what} must be at least {minimum}")
    if value > 10_000:
        raise InvalidInput(f"{what} {value} is too large")
    return value


def valid_autoscale(max_concurrency: object, min_concurrency: object) -> tuple[int, int]:
    high = valid_count(max_concurrency, "max")
    low = valid_count(min_concurrency, "min", minimum=0)
    if low > high:
        raise InvalidInput("min must not be above max")
    return high, low


def valid_queue(text: object) -> str:
    name = str(text or "").strip()
    if not _QUEUE.match(name):
        if not name:
            raise InvalidInput("a queue name is required")
        if len(name) > 255:
            raise InvalidInput(f"a queue name has at most 255 characters ({len(name)} given)")
        raise InvalidInput("a queue name has no spaces or control characters")
    return name


def valid_task_name(text: object) -> str:
    name = str(text or "").strip()
    if not name or len(name) > 512 or any(c.isspace() for c in name):
        raise InvalidInput("a task name is required, without spaces")
    return name


# -------------------------------------------------------------------- outcome
@dataclass
class Outcome:
    """An action being carried out; ``view()`` is what gets recorded."""

    action: str
    targets: list[str]
    arguments: dict[str, Any]
    results: dict[str, TargetResult] = field(default_factory=dict)
    status: OutcomeStatus = OutcomeStatus.OK
    summary: str = ""
    at: float = 0.0
    audit_id: str | None = None

    def view(self) -> ActionView:
        return ActionView(self.action, tuple(self.targets), dict(self.arguments),
                          dict(self.results), self.status, self.summary, self.at,
                          self.audit_id)

    def audit_results(self) -> dict[str, dict[str, Any]]:
        return {target: result.as_dict() for target, result in self.results.items()}


def _names(names: list[str], shown: int = 3) -> str:
    return ", ".join(names[:shown]) + (f" (+{len(names) - shown})" if len(names) > shown else "")


def summarize(results: Mapping[str, TargetResult], verb: str,
              timeout: float | None = None) -> tuple[OutcomeStatus, str]:
    """The status and one line saying what happened to every target."""
    by_kind: dict[ResultKind, list[str]] = {kind: [] for kind in ResultKind}
    for target, result in results.items():
        by_kind[result.kind].append(target)
    total = len(results)
    if not total:
        return OutcomeStatus.ERROR, f"{verb}: no worker to send it to"
    ok = by_kind[ResultKind.OK]
    if by_kind[ResultKind.UNKNOWN]:
        status = OutcomeStatus.UNKNOWN
    elif len(ok) == total:
        status = OutcomeStatus.OK
    elif ok:
        status = OutcomeStatus.PARTIAL
    else:
        status = OutcomeStatus.ERROR
    parts = [f"{verb} on {len(ok)}/{total}"]
    failed = by_kind[ResultKind.ERROR] + by_kind[ResultKind.NOT_SENT]
    if failed:
        first = results[failed[0]]
        label = "not sent" if first.kind is ResultKind.NOT_SENT else "error from"
        parts.append(f"{label} {failed[0]}: {first.text}"
                     + (f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""))
    silent = by_kind[ResultKind.NO_REPLY]
    if silent:
        parts.append(f"no reply from {_names(silent)}"
                     + (f" in {timeout:g} s" if timeout is not None else ""))
    unknown = by_kind[ResultKind.UNKNOWN]
    if unknown:
        parts.append("outcome unknown: " + results[unknown[0]].text)
    return status, "; ".join(parts)


# -------------------------------------------------------------------- actions
class Actions:
    def __init__(self, target: Target, state: ClusterState, audit: AuditLog,
                 read_only: bool = False, timeout: float = 2.0):
        self.target = target
        self.app = target.app
        self.state = state
        self.audit = audit
        self._read_only = False
        self.read_only = read_only
        self.timeout = timeout

    @property
    def read_only(self) -> bool:
        return self._read_only

    @read_only.setter
    def read_only(self, value: bool) -> None:
        # A read-only console (or context) stays read-only: no key, command
        # or code path makes it writable (a new context opens new Actions).
        if self._read_only and not value:
            raise ReadOnlyError("making the console writable")
        self._read_only = bool(value)

    # ------------------------------------------------------------ plumbing
    def _begin(self, action: str, targets: Iterable[str], arguments: dict[str, Any],
               workers: list[str] | None = None) -> Outcome:
        """Refuse (read-only, or no worker to send to), or audit the attempt."""
        outcome = Outcome(action, list(targets), arguments, at=time.time())
        if self.read_only:
            self.audit.refused(action, outcome.targets, arguments, self.target.masked_url,
                               "read-only")
            outcome.status, outcome.summary = OutcomeStatus.REFUSED, "refused: read-only"
            self.state.record_action(outcome.view())
            raise ReadOnlyError(action)
        if workers is not None and not workers:
            raise InvalidInput("no worker online to send it to: nothing sent "
                               "(ctrl+r looks for workers)")
        outcome.audit_id = self.audit.attempt(action, outcome.targets, arguments,
                                              self.target.masked_url)
        return outcome

    def _finish(self, outcome: Outcome, verb: str, note: str = "",
                timeout: float | None = None,
                wording: Callable[[Outcome], str] | None = None) -> Outcome:
        """The one way every action ends: status and summary from the
        per-target results, the audit outcome line, the Action log.
        ``wording`` rewords the first part of a summary that did something."""
        outcome.status, outcome.summary = summarize(outcome.results, verb, timeout)
        if outcome.status in (OutcomeStatus.OK, OutcomeStatus.PARTIAL):
            if wording is not None:
                rest = outcome.summary.split("; ", 1)[1:]
                outcome.summary = "; ".join([wording(outcome), *rest])
            if note:
                outcome.summary += f"; {note}"
        self.audit.outcome(outcome.audit_id, outcome.action, outcome.status.value,
                           outcome.summary, outcome.audit_results())
        self.state.record_action(outcome.view())
        return outcome

    def _workers(self, destination: Iterable[str] | None) -> list[str]:
        """The workers an action goes to: the ones named, or every online
        worker. Never "whoever is out there": with none known, nothing is
        sent (the dialog said nobody would act on it)."""
        return list(destination) if destination else self.state.workers_online()

    def _broadcast(self, outcome: Outcome, command: str, expected: list[str],
                   **arguments: Any) -> None:
        """Send one pidbox command to ``expected`` and sort the replies per
        worker. The round names its destination whenever it sets a limit
        (``pidbox_scope``): a reply from a worker we did not count must not
        end the wait before one we did."""
        replies: list[Any] = []
        sent = False
        destination, limit = pidbox_scope(expected)
        try:
            with self.target.connection_for_write(connect_timeout=self.timeout) as conn:
                # Connect before sending: a broker we cannot reach means the
                # command never left (not sent), not an unknown outcome.
                conn.ensure_connection(max_retries=1, timeout=self.timeout)
                conn.default_channel  # noqa: B018 -- Redis connects lazily
                sent = True
                # Replies are kept as they arrive (callback), so a connection
                # lost while waiting keeps the ones that came.
                self.app.control.broadcast(
                    command, arguments=arguments, destination=destination,
                    reply=True, timeout=self.timeout, limit=limit,
                    connection=conn, callback=replies.append)
        except Exception as exc:
            text = self.target.scrub(f"{type(exc).__name__}: {exc}")
            self._sort_replies(outcome, replies, expected)
            for worker in expected:
                outcome.results.setdefault(worker, TargetResult(
                    ResultKind.UNKNOWN if sent else ResultKind.NOT_SENT, text))
            return
        self._sort_replies(outcome, replies, expected)
        for worker in expected:
            outcome.results.setdefault(worker, TargetResult(
                ResultKind.NO_REPLY, f"no reply within {self.timeout:g} s"))

    @staticmethod
    def _sort_replies(outcome: Outcome, replies: list[Any], expected: list[str]) -> None:
        """Keep the replies of the workers asked, and only those."""
        asked = set(expected)
        for reply in replies:
            if not isinstance(reply, dict):
                continue
            for worker, body in reply.items():
                if not isinstance(worker, str) or worker not in asked:
                    continue
                if isinstance(body, dict) and "error" in body:
                    outcome.results[worker] = TargetResult(ResultKind.ERROR, str(body["error"]))
                elif isinstance(body, dict) and "ok" in body:
                    outcome.results[worker] = TargetResult(ResultKind.OK, str(body["ok"]))
                else:
                    outcome.results[worker] = TargetResult(ResultKind.OK, str(body))

    def _control(self, action: str, verb: str, command: str,
                 destination: Iterable[str] | None, arguments: dict[str, Any],
                 note: str = "") -> Outcome:
        expected = self._workers(destination)
        outcome = self._begin(action, expected, arguments, workers=expected)
        self._broadcast(outcome, command, expected, **arguments)
        return self._finish(outcome, verb, note, timeout=self.timeout)

    # --------------------------------------------------------------- tasks
    def revoke(self, task_ids: Iterable[str], terminate: bool = False,
               signal: str = "SIGTERM") -> Outcome:
        """Revoke (and optionally signal) tasks on every online worker: the
        ones the dialog names, and only those."""
        ids = [str(t) for t in task_ids if t]
        if not ids:
            raise InvalidInput("no task to revoke")
        arguments: dict[str, Any] = {"task_id": ids, "terminate": bool(terminate)}
        if terminate:
            arguments["signal"] = valid_signal(signal)
        expected = self._workers(None)
        outcome = self._begin("terminate" if terminate else "revoke", ids, arguments,
                              workers=expected)
        self._broadcast(outcome, "revoke", expected, **arguments)
        finished = self._finish(outcome, "terminated" if terminate else "revoked",
                                timeout=self.timeout)
        if any(r.ok for r in finished.results.values()):
            # Shown at once, until the worker's own event says what became
            # of each task (REVOKED when a countdown comes due).
            self.state.mark_console_action(ids, "term sent" if terminate
                                           else "revoke sent")
        return finished

    def rate_limit(self, task_name: str, rate: str | None,
                   destination: Iterable[str] | None = None,
                   previous: str | None = None) -> Outcome:
        """``previous``: the limit the operator saw before (the dialog's
        "now"), named in the summary beside the new one."""
        name = valid_task_name(task_name)
        valid = valid_rate(rate)
        change = f"{previous or '?'} → {valid or NO_LIMIT}" if previous is not None \
            else f"now {valid or NO_LIMIT}"
        return self._control("rate_limit", "rate limit set", "rate_limit", destination,
                             {"task_name": name, "rate_limit": valid},
                             note=f"{_summary_name(name, 80)}: {change}")

    def time_limit(self, task_name: str, soft: object = None, hard: object = None,
                   destination: Iterable[str] | None = None,
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
        if apply_now and outcome.status in (OutcomeStatus.OK, OutcomeStatus.PARTIAL):
            accepted = [w for w, r in outcome.results.items() if r.ok]
            restart = self.pool_restart(destination=accepted)
            outcome.summary += f"; then {restart.summary}"
        return outcome

    # ------------------------------------------------------------- workers
    def pool_grow(self, n: object = 1, destination: Iterable[str] | None = None) -> Outcome:
        return self._control("pool_grow", "pool grown", "pool_grow", destination,
                             {"n": valid_count(n, "processes")})

    def pool_shrink(self, n: object = 1, destination: Iterable[str] | None = None) -> Outcome:
        return self._control("pool_shrink", "pool shrunk", "pool_shrink", destination,
                             {"n": valid_count(n, "processes")})

    def autoscale(self, max_concurrency: object, min_concurrency: object,
                  destination: Iterable[str] | None = None) -> Outcome:
        high, low = valid_autoscale(max_concurrency, min_concurrency)
        return self._control("autoscale", "autoscale set", "autoscale", destination,
                             {"max": high, "min": low})

    def add_consumer(self, queue: str, destination: Iterable[str] | None = None) -> Outcome:
        return self._control("add_consumer", "consumer added", "add_consumer", destination,
                             {"queue": valid_queue(queue)})

    def cancel_consumer(self, queue: str,
                        destination: Iterable[str] | None = None) -> Outcome:
        return self._control("cancel_consumer", "consumer cancelled", "cancel_consumer",
                             destination, {"queue": valid_queue(queue)})

    def pool_restart(self, destination: Iterable[str] | None = None) -> Outcome:
        return self._control("pool_restart", "pool restarted", "pool_restart", destination,
                             {"reload": False})

    def shutdown(self, destination: Iterable[str]) -> Outcome:
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
                outcome.results[worker] = TargetResult(ResultKind.OK, "shutdown sent")
        except Exception as exc:
            text = self.target.scrub(f"{type(exc).__name__}: {exc}")
            for worker in expected:
                outcome.results[worker] = TargetResult(ResultKind.UNKNOWN, text)
        return self._finish(outcome, "shutdown sent")

    # -------------------------------------------------------------- queues
    def purge(self, queues: Iterable[str]) -> Outcome:
        names = [valid_queue(q) for q in queues]
        if not names:
            raise InvalidInput("no queue to purge")
        outcome = self._begin("purge", names, {})
        started = time.time()
        outcome.results.update(QueueProbe(self.target).purge(names))
        finished = self._finish(outcome, "purged", wording=_purged)
        purged = [q for q, r in finished.results.items() if r.ok]
        if purged:
            # Their messages are gone: PENDING forever would be a lie.
            self.state.mark_purged(purged, before=started)
        return finished


    def purge_matching(self, queue: str, match: str, revoke_held: bool = False) -> Outcome:
        """Remove only the messages of ``queue`` that match (the Tasks filter
        language over message fields); keep every other. ``revoke_held``:
        also revoke, by id, the matching tasks workers already hold."""
        name = valid_queue(queue)
        chosen = valid_match(match, required=True)
        assert chosen is not None  # required: an empty match was refused
        arguments: dict[str, Any] = {"match": chosen.text}
        if revoke_held:
            arguments["revoke_held"] = True
        outcome = self._begin("purge_matching", [name], arguments)
        surgeon = Surgeon(self.target, self.timeout * 2)
        result = surgeon.remove(name, chosen)
        outcome.results[name] = result.result()
        if result.removed_ids:
            self.state.mark_console_action(result.removed_ids, "purged")
        note = self._revoke_held(surgeon, name, chosen) if revoke_held else ""
        return self._finish(outcome, "removed", note=note, wording=_surgery)

    def move(self, source: str, destination: str, match: str | None = None) -> Outcome:
        """Move the messages of ``source`` that match (all, with no match) to
        ``destination``, declared like the source when it does not exist."""
        name, dest = valid_queue(source), valid_queue(destination)
        if name == dest:
            raise InvalidInput("the destination is the source queue")
        chosen = valid_match(match)
        arguments: dict[str, Any] = {"destination": dest,
                                     "match": chosen.text if chosen else ""}
        outcome = self._begin("move", [name], arguments)
        result = Surgeon(self.target, self.timeout * 2).move(name, dest, chosen)
        outcome.results[name] = result.result()
        return self._finish(outcome, "moved", wording=_surgery)

    # --------------------------------------------------------------- re-run
    def rerun(self, plans: Iterable[RerunPlan], queue: str | None = None,
              countdown: object = None) -> Outcome:
        """Send each task again with its arguments (as planned by
        ``core.rerun.plan`` or edited), to its queue or the one given.
        Every plan must be ready: a truncated or unreadable repr was refused
        before this, and is refused here again."""
        chosen = list(plans)
        if not chosen:
            raise InvalidInput("no task to re-run")
        blocked = [p for p in chosen if not p.ready]
        if blocked:
            first = blocked[0]
            raise InvalidInput(f"{plural_text(len(blocked), 'task')} cannot be re-run as "
                               f"known: {first.uuid}: {first.problem or 'no arguments'}")
        target_queue = valid_queue(queue) if queue and str(queue).strip() else None
        delay = valid_seconds(countdown, "countdown")
        arguments: dict[str, Any] = {
            "names": sorted({p.name for p in chosen if p.name}),
            "sources": sorted({p.source for p in chosen})}
        if target_queue:
            arguments["queue"] = target_queue
        if delay:
            arguments["countdown"] = delay
        outcome = self._begin("rerun", [p.uuid for p in chosen], arguments)
        sent = False
        try:
            with self.target.connection_for_write(connect_timeout=self.timeout) as conn:
                conn.ensure_connection(max_retries=1, timeout=self.timeout)
                sent = True
                with self.app.producer_or_acquire(conn.Producer()) as producer:
                    for p in chosen:
                        options: dict[str, Any] = dict(p.options)
                        if target_queue:
                            options["queue"] = target_queue
                        elif p.queue:
                            options["queue"] = p.queue
                            if p.routing_key:
                                options["routing_key"] = p.routing_key
                        if delay:
                            options["countdown"] = delay
                        result = self.app.send_task(p.name, args=p.args, kwargs=p.kwargs,
                                                    producer=producer, **options)
                        outcome.results[p.uuid] = TargetResult(ResultKind.OK,
                                                               f"sent as {result.id}")
                        self.state.record_rerun(p.uuid, result.id)
        except Exception as exc:
            text = self.target.scrub(f"{type(exc).__name__}: {exc}")
            for p in chosen:
                outcome.results.setdefault(p.uuid, TargetResult(
                    ResultKind.UNKNOWN if sent else ResultKind.NOT_SENT, text))
        return self._finish(outcome, "re-run", wording=_reran)

    def _revoke_held(self, surgeon: Surgeon, queue: str, chosen: RowFilter) -> str:
        held = surgeon.held(queue)
        ids = [t.id for t in held.matching(chosen)]
        if held.error:
            return f"workers' held tasks not read: {held.error}"
        if not ids:
            return "no matching task held by workers"
        revoked = self.revoke(ids)
        return f"{len(ids):,} held by workers: {revoked.summary}"


def valid_match(text: object, required: bool = False) -> RowFilter | None:
    """A message match (``name:reports.rebuild args:2024``), checked before
    anything is sent: a typo names the closest field, and an empty match
    is refused where it would mean every message."""
    raw = "" if text is None else str(text).strip()
    if not raw:
        if required:
            raise InvalidInput("nothing to match: type a filter (name:…, args:…); "
                               "a whole-queue purge is P")
        return None
    try:
        chosen = parse_match(raw)
    except FilterError as exc:
        raise InvalidInput(str(exc)) from None
    if chosen is None or not chosen:
        raise InvalidInput("nothing to match")
    return chosen


def plural_text(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _reran(outcome: Outcome) -> str:
    """``re-ran 1 task: 4f2a9c1e… sent as 9b1d…``."""
    done = [(t, r.text) for t, r in outcome.results.items() if r.ok]
    if len(done) == 1:
        return f"re-ran {done[0][0]}: {done[0][1]}"
    return f"re-ran {len(done):,} tasks"


def _surgery(outcome: Outcome) -> str:
    """``flood: 50,000 removed, 500 kept``."""
    return "; ".join(f"{q}: {r.text}" for q, r in outcome.results.items())


def _purged(outcome: Outcome) -> str:
    """``purged 100,000 messages (100,000 from reports)``."""
    done = [(q, r.count or 0) for q, r in outcome.results.items() if r.ok]
    removed = sum(n for _, n in done)
    return f"purged {removed:,} messages ({', '.join(f'{n:,} from {q}' for q, n in done)})"
