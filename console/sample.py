"""A deterministic sample cluster: fixed clock, hostnames and uuids.

Snapshot tests, Pilot tests and the screenshots in the README all draw this
same model, so a change on screen is a change in the code, never in the data.
"""

from __future__ import annotations

import random
from datetime import timedelta

from celery import Celery
from celery.schedules import crontab

from .core.connection import Target
from .core.state import ClusterState
from .core.stores import ActionView
from .core.views import OutcomeStatus, ResultKind, TargetResult

NOW = 1_795_339_800.0  # a fixed "now" (2026-11-22 09:30 UTC)
SAMPLE_BROKER = "amqp://ops:s3cret-pw@rabbit.internal:5672/prod"

WORKERS = (
    ("alpha@web-1", "default,emails", 4, 0.82),
    ("beta@web-2", "default,reports,slow", 4, 1.37),
    ("gamma@batch-1", "reports,slow", 2, 3.91),
)
TASKS = (
    ("console.companion.tasks.add", "default", "({a}, {b})", "{sum}", 0.002),
    ("console.companion.tasks.send_email", "emails", "('user{n}@example.com', 'Welcome')",
     "{{'status': 'sent'}}", 0.15),
    ("console.companion.tasks.render_report", "reports", "('rpt-{n}',)",
     "{{'pages': 5}}", 0.61),
    ("console.companion.tasks.flaky", "default", "({n},)", "{{'attempts': 2}}", 0.01),
)
TRACEBACK = (
    'Traceback (most recent call last):\n'
    '  File "/srv/app/tasks.py", line 41, in send_email\n'
    '    smtp.send(to, subject)\n'
    'ValueError: smtp: 550 mailbox unavailable\n')


# The sample app's periodic tasks (the Beat screen, `8`).
SAMPLE_BEAT = {
    "ping-every-10s": {"task": "console.companion.tasks.add", "schedule": 10.0,
                       "args": (1, 1)},
    "sync-invoices": {"task": "billing.sync_invoices", "schedule": timedelta(minutes=5)},
    "hourly-digest": {"task": "console.companion.tasks.send_email",
                      "schedule": crontab(minute=0)},
    "nightly-rollup": {"task": "reports.nightly_rollup",
                       "schedule": crontab(hour=2, minute=30)},
}
# The extended sample watched for this long; its sync-invoices runs stopped
# at NOW - 1700 s (late: 2 × 5 minutes have passed).
WATCHED_FOR = 3000.0
WORKFLOW_ROOT = "0000f100-5a3e-4c1d-9b7f-00000000f100"
WORKFLOW_GROUP = "0000f1a7-5a3e-4c1d-9b7f-0000000090a1"


def sample_target() -> Target:
    app = Celery("sample", set_as_current=False)
    app.conf.broker_url = SAMPLE_BROKER
    app.conf.task_default_queue = "default"
    app.conf.beat_schedule = SAMPLE_BEAT
    return Target(app=app, app_name="sample", url=SAMPLE_BROKER)


def sample_state(tasks: int = 240, seed: int = 7, extended: bool = False) -> ClusterState:
    """A busy three-worker cluster a minute into an incident. ``extended``
    adds, first seen before everything else, a workflow (a chord started
    by a task, a chain with retries) and the runs of a periodic task that
    stopped (the Beat screen's late entry)."""
    clock = [NOW - 120.0]
    state = ClusterState(max_tasks=100_000, clock=lambda: clock[0])
    rng = random.Random(seed)

    def at(t: float) -> None:
        clock[0] = t

    if extended:
        _sample_beat_runs(state, at)
        _sample_workflow(state, at)

    for i, (host, _queues, _concurrency, load) in enumerate(WORKERS):
        at(NOW - 120.0 + i)
        state.apply({"type": "worker-online", "hostname": host, "freq": 2.0,
                     "timestamp": clock[0], "pid": 4100 + i, "sw_ident": "py-celery",
                     "sw_ver": "5.7.0", "sw_sys": "Linux", "active": 0, "processed": 0,
                     "loadavg": [load, load * 0.8, load * 0.6]})
    for n in range(tasks):
        name, queue, args, result, runtime = TASKS[n % len(TASKS)]
        host = WORKERS[n % 2 if queue != "reports" else 1 + n % 2][0]
        uuid = f"{n:08x}-5a3e-4c1d-9b7f-{rng.getrandbits(48):012x}"
        start = NOW - 110.0 + n * (109.0 / tasks)
        a, b = rng.randrange(100), rng.randrange(100)
        fields = {"uuid": uuid, "name": name, "hostname": host, "queue": queue,
                  "routing_key": queue, "args": args.format(a=a, b=b, n=n),
                  "kwargs": "{}", "retries": 0}
        at(start)
        state.apply(dict(fields, type="task-sent", hostname="producer@api-1",
                         timestamp=start))
        at(start + 0.01)
        state.apply(dict(fields, type="task-received", timestamp=start + 0.01))
        if n >= tasks - 6:
            continue  # the newest few are still queued on their worker
        at(start + 0.02)
        state.apply({"type": "task-started", "uuid": uuid, "hostname": host,
                     "timestamp": start + 0.02})
        end = start + 0.02 + runtime
        at(end)
        if n % 23 == 5:
            state.apply({"type": "task-failed", "uuid": uuid, "hostname": host,
                         "timestamp": end,
                         "exception": "ValueError('smtp: 550 mailbox unavailable')",
                         "traceback": TRACEBACK})
        elif n % 31 == 7:
            state.apply({"type": "task-revoked", "uuid": uuid, "hostname": host,
                         "timestamp": end, "terminated": True, "signum": 15})
        elif n >= tasks - 12:
            continue  # running
        else:
            state.apply({"type": "task-succeeded", "uuid": uuid, "hostname": host,
                         "timestamp": end, "runtime": runtime,
                         "result": result.format(sum=a + b)})
    # gamma's last heartbeat is old (it is offline); the others are fresh.
    for i, (host, _queues, _concurrency, load) in reversed(list(enumerate(WORKERS))):
        at(NOW - 1.5 + i * 0.4 if host != "gamma@batch-1" else NOW - 95.0)
        state.apply({"type": "worker-heartbeat", "hostname": host, "freq": 2.0,
                     "timestamp": clock[0], "active": 2 if i < 2 else 0,
                     "processed": 80 + 17 * i,
                     "loadavg": [load, load * 0.8, load * 0.6]})
    at(NOW)
    _sample_history(state)
    state.set_connection("connected")
    if extended:
        state.connection.since = NOW - WATCHED_FOR
    _sample_inspections(state)
    _sample_queues(state)
    return state


def _sample_beat_runs(state: ClusterState, at) -> None:
    """beat sent billing.sync_invoices every 5 minutes, then stopped."""
    state.watch_task_names((e["task"] for e in SAMPLE_BEAT.values()),
                           since=NOW - WATCHED_FOR)
    for i in range(5):
        start = NOW - 2900.0 + 300.0 * i
        uuid = f"0000b{i:03x}-5a3e-4c1d-9b7f-00000000bea7"
        for kind, host, offset in (("task-sent", "beat@cron-1", 0.0),
                                   ("task-received", "alpha@web-1", 0.01),
                                   ("task-started", "alpha@web-1", 0.02),
                                   ("task-succeeded", "alpha@web-1", 0.42)):
            at(start + offset)
            state.apply({"type": kind, "uuid": uuid, "name": "billing.sync_invoices",
                         "hostname": host, "timestamp": start + offset, "root_id": uuid,
                         "queue": "default", "args": "()", "kwargs": "{}", "retries": 0,
                         **({"runtime": 0.4} if kind == "task-succeeded" else {})})


def _sample_workflow(state: ClusterState, at) -> None:
    """A nightly report: fan_out starts a chord of four render_report (the
    last retried once) whose callback sums them, and a chain send_email →
    flaky, still running after a retry."""
    prefix = "console.companion.tasks."
    root = WORKFLOW_ROOT
    start = NOW - 130.0

    def run(uuid, name, parent, steps, t0, **extra):
        for n, (kind, offset) in enumerate(steps):
            event = {"type": f"task-{kind}", "uuid": uuid, "timestamp": t0 + offset,
                     "hostname": "producer@api-1" if kind == "sent" else "beta@web-2"}
            if kind in ("sent", "received"):
                event.update(name=name, root_id=root, queue="default", args="()",
                             kwargs="{}", retries=extra.get("retries_at", {}).get(n, 0),
                             parent_id=uuid if kind == "sent" and n else parent, **{
                                 k: v for k, v in extra.items() if k != "retries_at"})
            if kind == "succeeded":
                event.update(runtime=offset - steps[n - 1][1], result="None")
            if kind == "retried":
                event.update(exception="Retry in 1s")
            at(t0 + offset)
            state.apply(event)

    done = (("sent", 0.0), ("received", 0.01), ("started", 0.02), ("succeeded", 0.05))
    run(root, prefix + "fan_out", None, done, start)
    for i in range(4):
        uuid = f"0000f2{i:02x}-5a3e-4c1d-9b7f-0000000000c{i}"
        steps = ((("sent", 0.0), ("received", 0.01), ("started", 0.02),
                  ("retried", 0.3), ("sent", 0.31), ("received", 0.8), ("started", 0.81),
                  ("succeeded", 1.4)) if i == 3 else
                 (("sent", 0.0), ("received", 0.01), ("started", 0.02),
                  ("succeeded", 0.63 + 0.01 * i)))
        run(uuid, prefix + "render_report", root, steps, start + 0.04,
            group=WORKFLOW_GROUP, retries_at={4: 1, 5: 1})
    unlock = "0000f1aa-5a3e-4c1d-9b7f-0000000000aa"
    waits = (("sent", 0.0), ("received", 1.0), ("started", 1.01), ("retried", 1.02),
             ("sent", 1.03), ("received", 2.0), ("started", 2.01), ("retried", 2.02),
             ("sent", 2.03), ("received", 3.0), ("started", 3.01), ("succeeded", 3.02))
    run(unlock, "celery.chord_unlock", root, waits, start + 0.045,
        retries_at={4: 1, 5: 1, 8: 2, 9: 2})
    run("0000f1cb-5a3e-4c1d-9b7f-0000000000cb", prefix + "total", unlock, done, start + 3.1)
    email = "0000f1e0-5a3e-4c1d-9b7f-0000000000e0"
    run(email, prefix + "send_email", root, done, start + 0.046)
    run("0000f1f1-5a3e-4c1d-9b7f-0000000000f1", prefix + "flaky", email,
        (("sent", 0.0), ("received", 0.01), ("started", 0.02), ("retried", 0.03),
         ("sent", 0.04), ("received", 0.5), ("started", 0.51)), start + 0.1,
        retries_at={4: 1, 5: 1})
# What the model saw in the five minutes before: tasks since evicted, which
# live on only in the per type figures and the failure groups (Task types,
# Failures). (name, tasks, runtime median, spread, wait, fail every, causes).
HISTORY = (
    ("console.companion.tasks.add", 900, 0.002, 0.4, 0.01, 0, ()),
    ("console.companion.tasks.send_email", 420, 0.15, 0.5, 0.4, 23, (
        "ValueError('smtp: 550 mailbox unavailable')",
        "SMTPServerDisconnected('Connection unexpectedly closed: timed out after {t}s')")),
    ("console.companion.tasks.render_report", 160, 0.61, 0.3, 2.5, 9, ("TIME_LIMIT",)),
    ("console.companion.tasks.flaky", 300, 0.01, 0.6, 0.05, 0, ()),
    ("billing.charge_card", 240, 0.42, 0.35, 0.2, 12, (
        "CardDeclined('card ending {n} declined for order {n}')",)),
    ("search.reindex_document", 600, 0.08, 0.8, 6.0, 15, (
        "TimeoutError('Timeout after {t}s')", "KeyError('{word}')")),
    ("auth.send_login_code", 520, 0.03, 0.3, 0.02, 0, ()),
    ("reports.rebuild_all", 40, 38.0, 0.4, 45.0, 0, ()),
)
HOSTS = ("alpha@web-1", "beta@web-2", "gamma@batch-1")
TIME_LIMIT = (
    "Traceback (most recent call last):\n"
    '  File "/srv/venv/lib/python3.11/site-packages/billiard/pool.py", line 745, '
    "in on_hard_timeout\n    raise TimeLimitExceeded(job._timeout)\n"
    "billiard.exceptions.TimeLimitExceeded: TimeLimitExceeded(90,)\n")


def _sample_history(state: ClusterState) -> None:
    from .core.failures import split_exception
    from .core.records import TaskRecord

    rng = random.Random(1515)
    triage = state.triage
    for t, (name, tasks, median, spread, wait, fail_every, causes) in enumerate(HISTORY):
        for i in range(tasks):
            at = NOW - 300.0 + (i + rng.random()) * (290.0 / tasks)
            task = TaskRecord(f"{t:02x}{i:06x}-7c2e-4d1a-8b3f-{rng.getrandbits(48):012x}")
            task.name, task.worker = name, HOSTS[i % (3 if median > 1 else 2)]
            # Busier in the last two minutes: the incident the sample shows.
            load = 2.5 if at > NOW - 120 and fail_every else 1.0
            task.sent = at
            task.received = at + rng.expovariate(1 / (wait * load))
            task.state = "RECEIVED"
            triage.task_event(task, "received", name, "RECEIVED", at)
            task.started = task.received + rng.expovariate(1 / 0.004)
            task.state = "STARTED"
            triage.task_event(task, "started", name, "STARTED", at)
            if fail_every and (i % fail_every == 3 or (load > 1 and i % fail_every == 7)):
                cause = causes[i % len(causes)]
                task.state = "FAILURE"
                if cause == "TIME_LIMIT":
                    task.exception, task.traceback = "ExceptionWithTraceback()", TIME_LIMIT
                else:
                    task.exception = cause.format(t=round(rng.uniform(2, 30), 1),
                                                  n=rng.randrange(1000, 99999),
                                                  word=rng.choice(("doc_id", "tenant")))
                    kind, message = split_exception(task.exception, None)
                    task.traceback = (f"Traceback (most recent call last):\n  File "
                                      f"\"/srv/app/{name.split('.')[0]}.py\", line 88, "
                                      f"in run\n    return self.work()\n{kind}: {message}\n")
                triage.record_failure(triage.types[name], task, at + 1)
                continue
            if name.endswith("flaky") and i % 4 == 1:
                task.exception = f"ConnectionError('upstream reset the connection " \
                    f"(attempt {1 + i % 3})')"
                triage.task_event(task, "retried", name, "STARTED", at + 0.5)
            task.state = "SUCCESS"
            task.runtime = median * rng.lognormvariate(0, spread)
            triage.task_event(task, "succeeded", name, "SUCCESS", at + task.runtime)


def _sample_inspections(state: ClusterState) -> None:
    """What two workers answer to each inspection; gamma never replies."""
    expected = [w[0] for w in WORKERS]
    replies: dict[str, dict] = {kind: {} for kind in (
        "stats", "active_queues", "registered", "active", "reserved", "scheduled",
        "revoked", "conf")}
    running = [t for t in state.tasks_newest_first() if t.state == "STARTED"]
    queued = [t for t in state.tasks_newest_first() if t.state == "RECEIVED"]
    for i, (host, names, concurrency, _load) in enumerate(WORKERS[:2]):
        mine = [t for t in running if t.worker == host]
        processes = list(range(5100 + 10 * i, 5100 + 10 * i + concurrency))
        replies["stats"][host] = {
            "pid": 4100 + i, "uptime": 7260 + 600 * i, "clock": str(4200 + i),
            "pool": {"implementation": "celery.concurrency.prefork:TaskPool",
                     "max-concurrency": concurrency, "processes": processes,
                     "max-tasks-per-child": "N/A", "timeouts": [0, 0]},
            "prefetch_count": concurrency * 4,
            "broker": {"hostname": "rabbit.internal", "port": 5672,
                       "transport": "amqp", "virtual_host": "prod"},
            "total": {name: 40 + 7 * n + 3 * i for n, (name, *_rest) in enumerate(TASKS)},
            "rusage": {"utime": 412.5 + 30 * i, "stime": 38.25 + i, "maxrss": 91_244 + 512 * i,
                       "minflt": 120_400, "majflt": 3, "nvcsw": 88_120, "nivcsw": 4_012},
        }
        if i == 0:  # alpha has the companion extension; beta does not
            replies["stats"][host]["console_companion"] = _sample_extension(
                host, processes, mine)
        replies["active_queues"][host] = [{"name": q} for q in names.split(",")]
        replies["registered"][host] = [
            "console.companion.tasks.add",
            "console.companion.tasks.flaky",
            "console.companion.tasks.render_report [soft_time_limit=60.0 time_limit=90.0]",
            "console.companion.tasks.send_email [rate_limit=10/s]",
        ]
        replies["active"][host] = [
            {"id": t.uuid, "name": t.name, "args": t.args, "kwargs": {},
             "hostname": host, "time_start": t.started, "acknowledged": True,
             "worker_pid": processes[n % len(processes)],
             "delivery_info": {"routing_key": t.routing_key}} for n, t in enumerate(mine)]
        replies["reserved"][host] = [
            {"id": t.uuid, "name": t.name, "args": t.args, "hostname": host,
             "time_start": None, "delivery_info": {"routing_key": t.routing_key}}
            for t in queued if t.worker == host]
        replies["scheduled"][host] = [] if i else [
            {"eta": "2026-11-22T09:45:00+00:00", "priority": 6,
             "request": {"id": "0000beef-5a3e-4c1d-9b7f-00000000e7a1",
                         "name": "console.companion.tasks.send_email",
                         "args": ["digest@example.com", "Daily digest"]}}]
        replies["revoked"][host] = ["0000dead-5a3e-4c1d-9b7f-0000000000r1"] if i else []
        replies["conf"][host] = {
            "broker_url": "amqp://ops:********@rabbit.internal:5672/prod",
            "task_default_queue": "default", "worker_prefetch_multiplier": 4,
            "worker_concurrency": concurrency, "task_acks_late": True,
            "worker_send_task_events": True, "task_send_sent_event": True,
            "include": ["console.companion.tasks"]}
    for kind, by_host in replies.items():
        state.record_inspection(kind, by_host, expected=expected,
                                error="no reply within 1 s")


def _sample_extension(host: str, processes: list[int], running: list) -> dict:
    """What alpha's companion extension adds to its ``stats``."""
    by_pid: dict[int, list[dict]] = {}
    for n, t in enumerate(running):
        pid = processes[n % len(processes)]
        by_pid.setdefault(pid, []).append({
            "id": t.uuid, "name": t.name, "pid": pid, "started": t.started,
            "elapsed": round(NOW - t.started, 3)})
    children = [{"pid": pid, "role": "child", "rss": (61 + 23 * k) * 2**20 + 417_792,
                 "cpu": 12.5 + 3.25 * k, "tasks_run": 212 - 37 * k, "started": NOW - 3_600,
                 "tasks": by_pid.get(pid, [])} for k, pid in enumerate(processes)]
    return {"version": "1", "commands": ["console_stacks"], "pool": "prefork",
            "versions": {"python": "3.11.7", "celery": "5.7.0", "kombu": "5.7.0",
                         "billiard": "4.3.2", "app": "2.14.1"},
            "fingerprint": "a99034b9a916",
            "processes": [{"pid": 4100, "role": "main", "rss": 64 * 2**20, "cpu": 41.0,
                           "tasks_run": 0, "started": NOW - 7_260, "tasks": []}, *children]}


SAMPLE_STACK_FRAMES = (
    ("/usr/lib/python3.11/site-packages/billiard/pool.py", 369, "workloop",
     "result = (True, prepare_result(fun(*args, **kwargs)))", False),
    ("/usr/lib/python3.11/site-packages/celery/app/trace.py", 564, "trace_task",
     "R = retval = fun(*args, **kwargs)", False),
    ("/usr/lib/python3.11/site-packages/celery/app/trace.py", 883, "__protected_call__",
     "return self.run(*args, **kwargs)", False),
    ("/srv/app/tasks.py", 88, "{task}", "total = ledger.sum(x, y)", True),
    ("/srv/app/ledger.py", 212, "sum", "with lock_for(account):", True),
    ("/srv/app/locks.py", 41, "stuck_here",
     "while not redis.set(key, 1, nx=True): time.sleep(0.1)", True),
)


def sample_stacks(hostname: str, task_id: str | None, state: ClusterState):
    """What a stack request answers on the sample cluster: alpha has the
    extension (a report stuck on a lock), beta does not."""
    from .core.insight import StackReport, parse_stacks

    if hostname != WORKERS[0][0]:
        return [StackReport(hostname, installed=False, at=NOW, task_id=task_id)]
    entry = state.inspection(hostname, "stats")
    extension = (entry.reply if entry else {}).get("console_companion", {})
    processes = []
    for process in extension.get("processes", []):
        if task_id and not any(t["id"] == task_id for t in process["tasks"]):
            continue
        threads = []
        for task in process["tasks"] or [None]:
            frames = [{"file": f, "line": n, "code": code, "in_task": mine,
                       "function": fn.format(task=task["name"].rsplit(".", 1)[-1])
                       if task else fn}
                      for f, n, fn, code, mine in SAMPLE_STACK_FRAMES] if task else [
                {"file": "/usr/lib/python3.11/site-packages/billiard/pool.py", "line": 351,
                 "function": "workloop", "code": "req = wait_for_job()", "in_task": False}]
            threads.append({"name": "MainThread", "task": task, "frames": frames})
        processes.append({**process, "threads": threads})
    return [parse_stacks(hostname, {"pool": "prefork", "processes": processes}, task_id, NOW)]


def _sample_queues(state: ClusterState) -> None:
    depths = {
        "default": (12, 2, ["config", "default", "worker:alpha@web-1", "worker:beta@web-2"]),
        "emails": (48_112, 1, ["config", "worker:alpha@web-1"]),
        "reports": (3, 1, ["config", "worker:beta@web-2"]),
        "slow": (0, 1, ["config", "worker:beta@web-2"]),
        "backlog": (9_870, 0, ["config"]),
    }
    state.record_queues({
        name: {"name": name, "messages": messages, "consumers": consumers,
               "exists": True, "error": None, "sources": sources,
               "probed_at": NOW - 0.8}
        for name, (messages, consumers, sources) in depths.items()})
    state.queues["typo-queue"] = {"name": "typo-queue", "messages": None,
                                  "consumers": None, "exists": False, "error": None,
                                  "sources": ["command line"], "probed_at": NOW - 0.8}


def _sample_actions(state: ClusterState) -> None:
    ok, error, silent = ResultKind.OK, ResultKind.ERROR, ResultKind.NO_REPLY
    for action in (
        ActionView("purge", ("backlog",), {},
                   {"backlog": TargetResult(ok, "120,400 purged", 120_400)},
                   OutcomeStatus.OK, "purged 120,400 messages (120,400 from backlog)",
                   NOW - 300.0),
        ActionView("rate_limit", ("alpha@web-1", "beta@web-2", "gamma@batch-1"),
                   {"task_name": "console.companion.tasks.send_email", "rate_limit": "10/s"},
                   {"alpha@web-1": TargetResult(ok, "new rate limit set successfully"),
                    "beta@web-2": TargetResult(ok, "new rate limit set successfully"),
                    "gamma@batch-1": TargetResult(silent, "no reply within 2 s")},
                   OutcomeStatus.PARTIAL,
                   "rate limit set on 2/3; no reply from gamma@batch-1 in 2 s", NOW - 120.0),
        ActionView("purge", ("emials",), {},
                   {"emials": TargetResult(error, "no such queue")}, OutcomeStatus.ERROR,
                   "purged on 0/1; error from emials: no such queue", NOW - 90.0),
    ):
        state.record_action(action)


FLOOD_QUEUE = "emails"


def sample_messages(name: str) -> list:
    """The sample's flooded queue, message by message: a deploy queued
    reports.rebuild_all tens of thousands of times, and the login codes,
    invoice syncs and emails of every other service wait behind it."""
    import uuid as uuids

    from .core.messages import QueuedMessage

    depth = sample_state().queues.get(name, {}).get("messages") or 0
    out = []
    for i in range(depth if name == FLOOD_QUEUE else min(depth, 50)):
        if i % 80 == 5:
            task, args = "auth.send_login_code", f"('user-{1000 + i}',)"
        elif i % 200 == 7:
            task, args = "payments.sync_invoice", f"({20000 + i},)"
        elif i % 430 == 11:
            task, args = "console.companion.tasks.send_email", f"('ops{i}@example.com',)"
        else:
            task, args = "reports.rebuild_all", f"('tenant-{i % 997}', 2026)"
        out.append(QueuedMessage(
            i, str(uuids.uuid5(uuids.NAMESPACE_URL, f"{name}/{i}")), task, args, "{}",
            retries=0, priority=0, protocol=2, content_type="application/json",
            content_encoding="utf-8", size=420, origin="gen4411@deploy-7"))
    return out


def sample_app(extended: bool = False, **options):
    """The console on the sample cluster, with no threads and a frozen clock
    (``extended``: with a workflow and a late periodic task, see sample_state)."""
    from .cli import Options
    from .ui.app import ConsoleApp

    class SampleApp(ConsoleApp):
        def read_depths(self, names):
            # The sample has no broker: its "fresh" counts are its own.
            from .core.broker import QueueDepth

            queues = self.state.queues
            return {n: QueueDepth(n, queues.get(n, {}).get("messages"),
                                  queues.get(n, {}).get("consumers"),
                                  queues.get(n, {}).get("exists", False)) for n in names}

        def read_peek(self, name):
            from .core.messages import Held, HeldTask, Peek, summarize

            messages = sample_messages(name)
            summary = summarize(messages, 1000)
            held = Held(tuple(HeldTask(str(i), "reports.rebuild_all" if i < 6
                                       else "auth.send_login_code", "alpha@web-1")
                              for i in range(8)), "inspect reserved and scheduled")
            return Peek(name, "amqp", len(messages), summary.counted, True, None,
                        tuple(summary.kept), summary.sorted_groups(), 0, held, at=NOW - 2.0)

        def read_doctor(self):
            from .core.doctor import diagnose, facts_from_state, observations

            facts = facts_from_state(self.state, NOW)
            scheduled = {h: self.state.inspection(h, "scheduled").reply
                         for h in (f.hostname for f in facts)}
            return diagnose(facts, observations(self.state, scheduled, "amqp", NOW),
                            missing=["gamma@batch-1"], at=NOW)

        def read_stacks(self, hostname, task_id):
            return sample_stacks(hostname, task_id, self.state)

        def read_lookup(self, uuid):
            from .core.lookup import Lookup

            return Lookup(uuid, None, workers_error="the sample cluster has no broker")

        def read_selection(self, name, match):
            from .core.messages import Selection, matches, parse_match

            chosen = parse_match(match)
            selection = Selection(name, depth=0)
            for message in sample_messages(name):
                selection.depth = (selection.depth or 0) + 1
                if matches(chosen, message):
                    selection.matched += 1
                    selection.by_name[message.label] = selection.by_name.get(
                        message.label, 0) + 1
                else:
                    selection.kept += 1
            selection.held = self.read_peek(name).held
            return selection

    state = sample_state(extended=extended)
    _sample_actions(state)
    return SampleApp(sample_target(), Options(**options), state=state,
                     clock=lambda: NOW, start_threads=False)


def sample_replay_app(steps: int = 600):
    """The console replaying the shared recorded stream, paused after
    ``steps`` events: the clock is the recording's, so the screen is the
    same on every run (snapshots, the README's screenshot)."""
    from pathlib import Path

    from .cli import Options, replay_target
    from .core.replay import Recording, Replayer
    from .ui.app import ConsoleApp

    stream = Path(__file__).resolve().parents[1] / "tests" / "data" / "celery-5.7-events.jsonl"
    player = Replayer(Recording([str(stream)]), speed=10.0)
    player.paused = True
    for _ in range(steps):
        player.step()
    return ConsoleApp(replay_target(), Options(read_only=True), replay=player)
