"""Worker faults, bad input and floods: the model and the screens survive.

Unit tests drive ``ClusterState`` with a fake clock; the broker tests kill a
real worker with SIGKILL (RabbitMQ and Redis) and publish junk on the real
event exchange while a real Capture runs.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import tracemalloc
import uuid as uuids

import pytest
from celery.events.state import State

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brokers import companion_app, stop_process_group, wait_for_worker, wait_until
from console.core.stores import ActionView
from console.core.views import OutcomeStatus, ResultKind, TargetResult
from console.core.capture import Capture
from console.core.connection import Target
from console.core.records import HEARTBEAT_EXPIRE_FACTOR
from console.core.state import ClusterState
from test_state import FIELDS, load_stream
from test_state_fuzz import check_consistent, streams

TASKS = "console.companion.tasks."


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def cluster(clock: Clock, freq: float = 2.0) -> ClusterState:
    """A model that is listening (connected at ``clock.now``) with worker
    ``a@h`` online, running ``run-1`` (STARTED), holding ``wait-1``
    (RECEIVED), done with ``done-1``, and ``b@h`` running ``other-1``."""
    state = ClusterState(clock=clock)
    state.set_connection("connected")
    for host in ("a@h", "b@h"):
        state.apply({"type": "worker-online", "hostname": host, "freq": freq, "pid": 10})
    for uuid, host, kinds in (
            ("run-1", "a@h", ("received", "started")),
            ("wait-1", "a@h", ("received",)),
            ("done-1", "a@h", ("received", "started", "succeeded")),
            ("retry-1", "a@h", ("received", "started", "retried")),
            ("other-1", "b@h", ("received", "started"))):
        for kind in kinds:
            state.apply({"type": f"task-{kind}", "uuid": uuid, "hostname": host,
                         "name": "t", "timestamp": clock.now})
    return state


def flagged(state: ClusterState) -> set[str]:
    return {t.uuid for t in state.lost_tasks()}


# ------------------------------------------------------------ worker faults
def test_silent_worker_goes_offline_and_its_tasks_are_flagged():
    clock = Clock()
    state = cluster(clock)
    record = state.workers["a@h"]
    clock.now += 3.0
    state.apply({"type": "worker-heartbeat", "hostname": "b@h", "freq": 2.0})
    assert state.sweep_workers() == []  # a@h's 4 s window is not over yet
    assert flagged(state) == set()
    clock.now += 1.5  # a@h silent for 4.5 s > 2 × 2 s (Celery's rule)
    assert state.sweep_workers() == ["a@h"]
    assert state.workers_online() == ["b@h"]
    assert record.offline_since == 1004.0  # when the rule says it went
    # What it was running and what it had reserved; not what it finished,
    # nor a retry already sent back to the broker, nor another worker's.
    assert flagged(state) == {"run-1", "wait-1"}
    # The flag is apart from the state: Celery's semantics are untouched.
    assert state.task("run-1").state == "STARTED"
    assert state.held_by_state["STARTED"] == 2
    assert state.counters.worker_lost == 2
    # Idempotent: a second sweep flags nothing more.
    assert state.sweep_workers() == []
    assert state.counters.worker_lost == 2


def test_sweep_bumps_versions_so_screens_redraw():
    clock = Clock()
    state = cluster(clock)
    before = state.versions.as_dict()
    clock.now += 10
    state.sweep_workers()
    assert state.versions.tasks > before["tasks"]
    assert state.versions.workers > before["workers"]


def test_our_own_outage_is_not_the_workers():
    clock = Clock()
    state = cluster(clock)
    state.set_connection("reconnecting", "cut")
    clock.now += 60  # no heartbeats for a minute: because *we* were cut off
    assert state.sweep_workers() == []
    assert flagged(state) == set()
    state.set_connection("connected")  # back at 1060
    clock.now += 3.9
    assert state.sweep_workers() == []  # they get 2 × freq to be heard again
    state.apply({"type": "worker-heartbeat", "hostname": "b@h", "freq": 2.0})
    clock.now += 0.2
    assert state.sweep_workers() == ["a@h"]
    assert flagged(state) == {"run-1", "wait-1"}


def test_worker_offline_event_flags_unfinished_tasks():
    clock = Clock()
    state = cluster(clock)
    state.apply({"type": "worker-offline", "hostname": "a@h"})
    assert flagged(state) == {"run-1", "wait-1"}
    assert state.sweep_workers() == []  # already offline: nothing twice
    assert state.counters.worker_lost == 2


def test_restart_under_the_same_hostname_is_the_same_worker():
    clock = Clock()
    state = cluster(clock)
    record = state.workers["a@h"]
    state.apply({"type": "worker-heartbeat", "hostname": "b@h", "freq": 60.0})
    clock.now += 30
    assert state.sweep_workers() == ["a@h"]
    clock.now += 5
    state.apply({"type": "worker-online", "hostname": "a@h", "freq": 2.0, "pid": 99})
    assert state.workers["a@h"] is record
    assert len(state.workers) == 2
    assert state.workers_online() == ["a@h", "b@h"]
    assert record.pid == 99 and record.offline_since is None
    assert record.online_since == clock.now
    assert record.counts["started"] == 3  # history kept across the restart
    # A task it never reports on again stays flagged ...
    assert "run-1" in flagged(state)
    # ... one it reports on (a redelivery) is no longer lost.
    state.apply({"type": "task-received", "uuid": "wait-1", "hostname": "a@h"})
    state.apply({"type": "task-started", "uuid": "wait-1", "hostname": "a@h"})
    assert flagged(state) == {"run-1"}
    state.apply({"type": "task-succeeded", "uuid": "wait-1", "hostname": "a@h"})
    assert state.task("wait-1").state == "SUCCESS" and not state.task("wait-1").worker_lost
    # And it can be lost again, and found again, any number of times.
    clock.now += 30
    assert state.sweep_workers() == ["a@h"]


def test_a_task_redelivered_to_another_worker_is_not_lost():
    clock = Clock()
    state = cluster(clock)
    clock.now += 10
    state.sweep_workers()
    state.apply({"type": "task-received", "uuid": "wait-1", "hostname": "c@h"})
    task = state.task("wait-1")
    assert not task.worker_lost and task.worker == "c@h"


def test_a_late_sent_event_does_not_clear_the_flag():
    clock = Clock()
    state = cluster(clock)
    clock.now += 10
    state.sweep_workers()
    # task-sent comes from the client, not a worker: it says nothing new.
    state.apply({"type": "task-sent", "uuid": "run-1", "hostname": "client@h"})
    assert state.task("run-1").worker_lost


def test_flags_keep_final_states_equal_to_celerys():
    """The recorded real stream, then every worker lost: the fields the
    comparison with Celery's State checks do not move."""
    events = load_stream()
    clock = Clock(1795339800.0)
    ours = ClusterState(clock=clock)
    ours.set_connection("connected")
    celery_state = State()
    for event in events:
        ours.apply(copy.deepcopy(event))
        celery_state.event(copy.deepcopy(event))
    clock.now += 3600
    ours.sweep_workers()
    for uuid, theirs in celery_state.tasks.items():
        for field in FIELDS:
            assert getattr(ours.task(uuid), field) == getattr(theirs, field, None)
    assert sum(ours.held_by_state.values()) == ours.task_count()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams, st.integers(min_value=1, max_value=8),
       st.floats(min_value=0, max_value=10_000))
def test_sweeps_on_any_stream_keep_the_model_consistent(stream, max_tasks, later):
    """Hypothesis streams (malformed, partial, out of order) with sweeps in
    between: nothing raises, counters stay consistent, and only unfinished
    tasks are ever flagged."""
    clock = Clock()
    state = ClusterState(max_tasks=max_tasks, clock=clock)
    state.set_connection("connected")
    for i, item in enumerate(stream):
        state.apply(copy.deepcopy(item))
        if i % 5 == 0:
            clock.now += later / 10
            state.sweep_workers()
    clock.now += later
    state.sweep_workers()
    check_consistent(state, max_tasks)
    for task in state.lost_tasks():
        assert task.state not in ("SUCCESS", "FAILURE", "REVOKED", "REJECTED", "PENDING",
                                  "RETRY")
        assert task.worker in state.workers
    assert state.counters.worker_lost >= len(state.lost_tasks())


# ---------------------------------------------------- worker faults, for real
def state_of(state: ClusterState, uuid: str):
    task = state.task(uuid)
    return task.state if task else None


def start_worker(broker, log_dir, hostname: str, queues: str = "slow"):
    """A real companion worker under a fixed hostname (restartable)."""
    log_path = log_dir / f"{hostname.split('@')[0]}-{uuids.uuid4().hex[:4]}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "console.companion", "worker",
             "-P", "prefork", "-c", "1", "-Q", queues, "--hostname", hostname,
             "-l", "INFO", "--without-mingle", "--without-gossip"],
            env=broker.env(), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_worker(broker, hostname, process, log_path)
    except BaseException:
        stop_process_group(process)
        raise
    return process


@pytest.mark.broker
def test_sigkilled_worker_flags_its_tasks_and_comes_back_as_itself(real_broker, tmp_path):
    broker = real_broker
    app = companion_app(broker)
    state = ClusterState()
    capture = Capture(Target(companion_app(broker)), state).start()
    hostname = f"victim-{uuids.uuid4().hex[:6]}@test"
    processes = []
    try:
        processes.append(start_worker(broker, tmp_path, hostname))
        assert wait_until(lambda: hostname in state.workers_online(), 20), state.connection
        record = state.workers[hostname]
        first_pid = record.pid
        running = app.send_task(TASKS + "slow", (120,), queue="slow")
        assert wait_until(lambda: state_of(state, running.id) == "STARTED", 20)
        # The task was early-acked when it started: nothing will redeliver it.
        os.kill(processes[0].pid, signal.SIGKILL)
        freq = float(record.freq)
        assert wait_until(lambda: state.task(running.id).worker_lost,
                          freq * HEARTBEAT_EXPIRE_FACTOR * 2 + 10), \
            (state.workers[hostname].last_heartbeat, state.connection)
        assert hostname not in state.workers_online()
        assert record.offline_since is not None
        assert state.task(running.id).state == "STARTED"  # Celery's state, flagged
        stop_process_group(processes[0])  # the orphaned pool child too

        # Restart under the same hostname: the same worker comes back.
        processes.append(start_worker(broker, tmp_path, hostname))
        assert wait_until(lambda: hostname in state.workers_online(), 20)
        assert state.workers[hostname] is record
        assert record.pid != first_pid and record.offline_since is None
        assert [h for h in state.workers if h == hostname] == [hostname]
        done = app.send_task(TASKS + "slow", (0.1,), queue="slow")
        assert wait_until(lambda: state_of(state, done.id) == "SUCCESS", 30)
        assert not state.task(done.id).worker_lost
        # The lost task was never heard of again: still flagged.
        assert state.task(running.id).worker_lost
    finally:
        capture.stop()
        for process in processes:
            stop_process_group(process)


# ------------------------------------------------- bad payloads on screen
# Right-to-left text with an override, an emoji sequence, combining marks,
# ANSI colour / title / clear-screen escapes, NUL, backspace, CR/LF/tab, a C1
# CSI, and Rich markup that does not close.
NASTY = ("\u202eمرحبا 👩\u200d👩\u200d👧\u200d👦🔥 e\u0301 \x1b[31mRED\x1b[0m"
         "\x1b]0;pwned\x07\x1b[2J\x00\x08\r\n\t [/bold] [link=x] \x9b2J")
# What must never reach the terminal from a payload.
FORBIDDEN = {chr(i) for i in (*range(32), 127, *range(0x80, 0xA0),
                              *range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def screen_lines(app) -> list[str]:
    """Every line Textual would write for the current screen, as text."""
    update = app.screen._compositor.render_full_update()
    return ["".join(seg.text for strip in line for seg in strip) for line in update.strips]


def assert_clean(app, where: str) -> list[str]:
    lines = screen_lines(app)
    for number, line in enumerate(lines):
        assert not FORBIDDEN & set(line), (where, number, line)
    return lines


def rendered(static) -> str:
    import io

    from rich.console import Console

    console = Console(width=120, record=True, file=io.StringIO())
    console.print(static.content)
    return console.export_text()


def hostile_app():
    from console.sample import NOW, sample_app

    app = sample_app()
    state = app.state
    host = "w" + NASTY
    state.apply({"type": "worker-online", "hostname": host, "freq": 2.0,
                 "sw_ident": NASTY, "sw_ver": NASTY, "loadavg": [NASTY], "pid": NASTY,
                 "timestamp": NOW})
    state.apply({"type": "task-received", "uuid": "\x1b[2J" + NASTY, "hostname": host,
                 "name": "[/b]" + NASTY, "args": "('" + "x" * 1_000_000 + "',)",
                 "kwargs": NASTY, "queue": NASTY, "eta": NASTY, "timestamp": NOW})
    state.apply({"type": "task-failed", "uuid": "\x1b[2J" + NASTY, "hostname": host,
                 "exception": NASTY, "traceback": "Traceback\n" + NASTY * 3,
                 "result": b"\x00\xff\x1b[2J" * 1000})
    state.apply({"type": "task-\x1b[2J[/b]", "uuid": "custom", "hostname": host})
    state.apply({"type": "task-" + NASTY, "uuid": "custom", "hostname": host})
    state.apply({"type": NASTY, "uuid": "custom", "hostname": host})
    state.apply({"type": "task-received", "uuid": "u" * 100_000, "hostname": host})
    state.record_inspection("active_queues", {host: [{"name": NASTY}]})
    state.record_inspection("stats", {host: {"pool": {"implementation": NASTY,
                                                      "max-concurrency": NASTY}}})
    state.record_queues({NASTY: {"name": NASTY, "messages": 5, "consumers": 0,
                                 "exists": True, "error": NASTY, "sources": [NASTY]}})
    state.record_action(ActionView(NASTY, (NASTY,), {NASTY: NASTY},
                                   {NASTY: TargetResult(ResultKind.ERROR, NASTY)},
                                   OutcomeStatus.ERROR, NASTY, NOW, "x"))
    state.set_connection("reconnecting", NASTY)
    return app


async def test_hostile_payloads_render_on_every_screen_and_detail():
    """1 MB args, binary, RTL, emoji, control characters, ANSI escapes and
    unbalanced Rich markup in every field a screen shows: no crash, and no
    control character or bidi override reaches the terminal."""
    from console.ui.screens.task_detail import TaskDetailScreen
    from console.ui.widgets.live_table import LiveTable

    app = hostile_app()
    async with app.run_test(size=(120, 36)) as pilot:
        for key in "12345":
            await pilot.press(key)
            await pilot.pause()
            assert_clean(app, f"screen {key}")
            await pilot.press("enter")  # the detail of the first row
            await pilot.pause()
            assert_clean(app, f"detail from {key}")
            if isinstance(app.screen, TaskDetailScreen):
                for part in ("#summary", "#payload", "#failure"):
                    text = rendered(app.screen.query_one(part))
                    assert not FORBIDDEN - {"\n"} & set(text), (part, text[:500])
            await pilot.press("escape")
            await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        table = app.screen.query_one(LiveTable)
        hostile = next(i for i, t in enumerate(table.rows) if t.uuid.startswith("\x1b"))
        table.move_to(hostile)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TaskDetailScreen)
        summary = rendered(app.screen.query_one("#summary"))
        assert "[/b]" in summary  # shown as text, not read as markup
        payload = rendered(app.screen.query_one("#payload"))
        assert "x" * 100 in payload and len(payload) < 50_000  # 1 MB, clipped
        failure = rendered(app.screen.query_one("#failure"))
        assert "Traceback" in failure and "RED" in failure
    task = app.state.task("custom")
    # A junk event type does not become a junk state or counter key.
    assert task.state == "UNKNOWN" and not any("\x1b" in s for s in app.state.held_by_state)
    assert app.state.workers["w" + NASTY].loadavg is None  # ["x"] refused on intake
    assert app.state.task("u" * 100_000) is None  # an oversized id is refused
    assert all(len(t) <= 64 for t in app.state.counters.by_type)


async def test_worker_lost_shows_in_tasks_row_and_detail():
    from console.sample import NOW, sample_app
    from console.ui.screens.task_detail import TaskDetailScreen
    from console.ui.widgets.live_table import LiveTable

    app = sample_app()
    state = app.state
    state.apply({"type": "worker-online", "hostname": "doomed@web-9", "freq": 2.0})
    state.apply({"type": "task-started", "uuid": "lost-task", "hostname": "doomed@web-9",
                 "name": "reports.render", "timestamp": NOW})
    state.apply({"type": "worker-offline", "hostname": "doomed@web-9"})
    assert state.task("lost-task").worker_lost
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        table = app.screen.query_one(LiveTable)
        index = next(i for i, t in enumerate(table.rows) if t.uuid == "lost-task")
        table.move_to(index)
        await pilot.pause()
        row = next(line for line in screen_lines(app)
                   if "lost-tas" in line and "pinned" not in line)  # the row, not the title
        assert "STARTED" in row and "lost: doomed@" in row
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TaskDetailScreen)
        assert "STARTED  worker lost" in rendered(app.screen.query_one("#summary"))


# ----------------------------------------------- junk on the event exchange
def publish_raw(app, body, content_type: str, routing_key: str = "worker.heartbeat"):
    """A message on Celery's event exchange, serialized by hand."""
    from celery.events import get_exchange

    with app.connection_for_write() as conn:
        # Celery's own choice per transport (topic; fanout on Redis).
        exchange = get_exchange(conn, name=app.conf.event_exchange)
        producer = conn.Producer()
        # Declared, as the event dispatcher does: kombu's Redis transport
        # routes only by the exchange types it knows of.
        producer.publish(body, exchange=exchange, routing_key=routing_key,
                         content_type=content_type, content_encoding="utf-8",
                         serializer=None, retry=True, declare=[exchange])


@pytest.mark.broker
def test_junk_on_the_event_exchange_is_counted_and_capture_goes_on(real_broker):
    broker = real_broker
    app = companion_app(broker)
    state = ClusterState()
    capture = Capture(Target(companion_app(broker)), state).start()
    try:
        assert wait_until(lambda: state.connection.state == "connected", 20), state.connection
        # Our own first event proves the queue is bound before the junk goes.
        probe_host = f"probe-{uuids.uuid4().hex[:6]}@test"
        with app.events.default_dispatcher(hostname=probe_host) as dispatcher:
            dispatcher.send("worker-heartbeat", freq=2.0)
        assert wait_until(lambda: probe_host in state.workers, 20)
        before = state.counters.malformed
        publish_raw(app, b"{this is not json", "application/json")
        publish_raw(app, b"\xff\xfe\x00garbage", "application/json")
        publish_raw(app, b"cos\nsystem\n(S'true'\ntR.", "application/x-python-serialize")
        publish_raw(app, b"<event/>", "application/xml")
        publish_raw(app, json.dumps(["not", "events"]).encode(), "application/json")
        publish_raw(app, json.dumps({"type": "task-started"}).encode(), "application/json",
                    routing_key="task.started")  # no uuid
        host = f"after-{uuids.uuid4().hex[:6]}@test"
        with app.events.default_dispatcher(hostname=host) as dispatcher:
            dispatcher.send("worker-online", freq=2.0)
            dispatcher.send("task-received", uuid="after-junk", name="t")
        assert wait_until(lambda: state.task("after-junk") is not None, 20), \
            (state.counters, state.connection)
        # Every bad message counted once; the connection never dropped.
        assert state.counters.malformed - before == 7, state.counters
        assert state.connection.state == "connected" and state.connection.attempts == 0
        assert host in state.workers_online()
    finally:
        capture.stop()


# -------------------------------------------------------------------- flood
def flood_batches(clock: Clock, batches: int, hosts: int = 8):
    """Batches of exactly 10,000 events, one fake second each: 3,333 tasks
    (received, started, then succeeded — or failed, every 50th) and one
    heartbeat per worker round-robin."""
    task = 0
    for _ in range(batches):
        batch = []
        for _ in range(3_333):
            task += 1
            uuid = f"t{task:07d}"
            host = f"w{task % hosts}@flood"
            end = "task-failed" if task % 50 == 0 else "task-succeeded"
            for kind in ("task-received", "task-started", end):
                batch.append({"type": kind, "uuid": uuid, "hostname": host,
                              "timestamp": clock.now})
        batch.append({"type": "worker-heartbeat", "hostname": f"w{task % hosts}@flood",
                      "freq": 2.0})
        yield batch
        clock.now += 1.0


def test_a_million_events_keep_memory_bounded_and_counters_exact():
    clock = Clock(10_000.0)
    state = ClusterState(max_tasks=1_000, max_failures=100, clock=clock)
    state.set_connection("connected")
    batches = flood_batches(clock, 100)
    for batch in (next(batches) for _ in range(97)):
        state.apply_many(batch)
    # The store is full long before this: what the last 30,000 events (10,000
    # tasks) leave allocated is all the model holds from them — bounded by
    # --max-tasks (1,000), not by how many events came.
    tracemalloc.start()
    try:
        for batch in batches:
            state.apply_many(batch)
        del batch  # the events themselves are the caller's
        retained, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # ~0.9 MB here; holding every task of those 30,000 events would be ~5 MB.
    assert retained < 2_000_000, retained

    tasks, failures = 333_300, 333_300 // 50
    counters = state.counters
    assert counters.events == 1_000_000 and counters.malformed == 0
    assert counters.by_type == {"task-received": tasks, "task-started": tasks,
                                "task-succeeded": tasks - failures,
                                "task-failed": failures, "worker-heartbeat": 100}
    assert state.task_count() == 1_000 and len(state._created) == 1_000
    assert counters.evicted == tasks - 1_000
    held = state.held_by_state
    # The failures' share is 100; the very last task failed and joined it
    # (shares are trimmed when a new task needs room, the total never exceeds).
    assert sum(held.values()) == 1_000 and held["FAILURE"] == 101
    assert held["SUCCESS"] == 899 and held["STARTED"] == held["RECEIVED"] == 0
    # Failures stay visible: the newest ones, whatever the success flood.
    newest_failures = {f"t{n:07d}" for n in range(tasks - 50 * 100, tasks + 1, 50)}
    assert {t.uuid for t in state.tasks_snapshot() if t.state == "FAILURE"} == newest_failures
    # The Events tail holds the newest events, in order.
    assert len(state.events) == 2_000
    assert state.events[-1]["type"] == "worker-heartbeat"
    assert state.events[-2]["uuid"] == f"t{tasks:07d}"
    # Rates over the last ten (fake) seconds: 10,000 events/s.
    assert state.events_per_second(10) == 10_000
    assert state.tasks_per_second(10) == 3_333
    assert len(state.workers) == 8 and state.workers_online() == sorted(state.workers)


async def test_keys_answer_while_a_million_events_pour_in():
    """The UI thread keeps taking keys while another thread applies a
    million events: screens switch, the cursor moves, a filter applies —
    and when the flood is done the counters are exact."""
    import threading

    from console.cli import Options
    from console.sample import sample_target
    from console.ui.app import ConsoleApp
    from console.ui.screens.events import EventsScreen
    from console.ui.screens.tasks import TasksScreen

    clock = Clock(10_000.0)
    state = ClusterState(max_tasks=1_000, max_failures=100, clock=clock)
    state.set_connection("connected")
    app = ConsoleApp(sample_target(), Options(max_tasks=1_000), state=state,
                     clock=clock, start_threads=False)
    done = threading.Event()

    def flood():
        # In lists of 24, as workers send them and the capture applies them.
        for batch in flood_batches(clock, 100):
            for start in range(0, len(batch), 24):
                state.apply_many(batch[start:start + 24])
        done.set()

    feeder = threading.Thread(target=flood, daemon=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        feeder.start()
        answered = 0
        while not done.is_set():
            screen = app.screen
            assert isinstance(screen, TasksScreen)
            frozen = screen.frozen
            await pilot.press("f")  # only the key flips it, never the flood
            await pilot.pause()
            assert screen.frozen is not frozen
            await pilot.press("4")
            await pilot.pause()
            assert isinstance(app.screen, EventsScreen)
            await pilot.press("2")
            await pilot.pause()
            answered += 1
        feeder.join(60)
        assert answered >= 1, "no key was answered while the flood ran"
        if app.screen.frozen:
            await pilot.press("f")
        await pilot.press("colon", *"t state:failure", "enter")
        await pilot.pause(1.2)
        screen = app.screen
        assert screen.row_filter.text == "state:failure"
        assert len(screen.table.rows) == state.held_by_state["FAILURE"] == 101
    assert state.counters.events == 1_000_000 and state.counters.malformed == 0
    assert state.task_count() == 1_000


@pytest.mark.broker
def test_a_burst_from_a_real_worker_is_captured_whole(real_broker, tmp_path):
    """Thousands of tasks as fast as a producer can send them, run by a real
    worker: every event the worker sent is applied (exact counts per type),
    while the model holds no more than --max-tasks."""
    from brokers import running_worker

    app = companion_app(real_broker)
    state = ClusterState(max_tasks=300, max_failures=30)
    capture = Capture(Target(app), state).start()
    burst = 3_000
    try:
        with running_worker(real_broker, tmp_path, queues="default",
                            concurrency=2) as host:
            assert wait_until(lambda: host in state.workers_online(), 20)
            for i in range(burst):
                app.send_task(TASKS + "add", (i, i), queue="default")
            assert wait_until(lambda: state.counters.by_type.get("task-succeeded", 0)
                              >= burst, 120), state.counters.by_type
            by_type = state.counters.by_type
            assert by_type.get("task-received") == burst
            assert by_type.get("task-started") == burst
            assert by_type.get("task-succeeded") == burst
            assert state.counters.malformed == 0
            assert state.task_count() <= 300
            assert host in state.workers_online()
    finally:
        capture.stop()


# ------------------------------------------------------------- nothing lost
CHILD = r"""
import os, sys, time
sys.path.insert(0, {tests!r})
from brokers import BrokerEnv, companion_app
import console.core.audit as audit
from console.core.actions import Actions
from console.core.broker import QueueProbe
from console.core.connection import Target
from console.core.state import ClusterState

app = companion_app(BrokerEnv("x", {url!r}))
real_fsync = audit.os.fsync

def fsync(fd):
    real_fsync(fd)
    print("FSYNCED", flush=True)

audit.os.fsync = fsync

def sending(*args, **kwargs):
    # The moment the action would leave: tell the test, which kills us now.
    print("SENDING", flush=True)
    time.sleep(60)

app.control.broadcast = sending
QueueProbe.purge = sending
actions = Actions(Target(app), ClusterState(), audit.AuditLog({path!r}, {url!r}))
if {action!r} == "purge":
    actions.purge(["reports"])
else:
    actions.rate_limit("console.companion.tasks.add", "3/s", destination=["w1@test"])
"""


@pytest.mark.broker
@pytest.mark.parametrize("action", ["rate_limit", "purge"])
def test_audit_line_is_on_disk_before_sending_and_survives_sigkill(real_broker, tmp_path,
                                                                   action):
    path = tmp_path / "audit.jsonl"
    code = CHILD.format(tests=os.path.dirname(__file__), url=real_broker.url,
                        path=str(path), action=action)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=real_broker.env())
    try:
        lines = []
        while "SENDING" not in lines:
            line = child.stdout.readline()
            assert line, child.stderr.read()[-2000:]
            lines.append(line.strip())
        os.kill(child.pid, signal.SIGKILL)  # the console dies as it sends
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    # Written and fsynced before anything left, and still there.
    assert lines == ["FSYNCED", "SENDING"], lines
    [record] = [json.loads(line) for line in path.read_text().splitlines()]
    assert record["phase"] == "attempt" and record["action"] == action
    assert record["targets"] == (["reports"] if action == "purge" else ["w1@test"])
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"


# ------------------------------------------------------------ the table
def test_reliability_table_names_real_tests():
    """docs/reliability.md stays current: every test it names exists, and
    every fault, security and reliability test is in it."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    table = (root / "docs" / "reliability.md").read_text()
    named = set(re.findall(r"`(tests/\w+\.py)::(\w+)`", table))
    assert named
    for path, name in named:
        source = (root / path).read_text()
        assert re.search(rf"^(async )?def {name}\(", source, re.M), f"{path}::{name} is gone"
    for path in ("tests/test_faults.py", "tests/test_security.py", "tests/test_reliability.py",
                 "tests/test_surgery_faults.py"):
        for name in re.findall(r"^(?:async )?def (test_\w+)\(", (root / path).read_text(), re.M):
            if name != "test_reliability_table_names_real_tests":
                assert (path, name) in named, f"{path}::{name} is missing from the table"


def test_backoff_stays_capped_through_a_long_outage():
    """Hours of failed reconnects: the delay stays within the cap (2**attempt
    once overflowed and killed the capture thread)."""
    import random

    from console.core.capture import BACKOFF_CAP, backoff_delay

    rng = random.Random(7)
    for attempt in (0, 3, 10, 1_023, 1_024, 100_000):
        assert 0 < backoff_delay(attempt, rng) <= BACKOFF_CAP
