"""Record (`--record`) and replay (`console replay`): the recorder's file,
the replay's model and clock, a live run on real workers recorded and
replayed to the same model, and a recording cut by SIGKILL."""

from __future__ import annotations

import json
import os
import shlex
import signal
import stat
import sys
import time
from pathlib import Path

import pytest

from brokers import companion_app, running_worker, wait_until
from console.core.record import Recorder, parse_size
from console.core.replay import Recording, Replayer, parse_speed
from console.core.secrets import passwords_in
from console.core.state import ClusterState

STREAM = Path(__file__).parent / "data" / "celery-5.7-events.jsonl"
T = "console.companion.tasks."


def model_of(state: ClusterState) -> dict:
    """Everything a screen shows of the tasks, in first-seen order, and the
    counters: what two models must agree on."""
    with state.lock:
        uuids = list(state._created)
        counters = state.counters
        summary = (counters.events, counters.malformed, counters.unknown,
                   dict(counters.by_type), sorted(state.workers))
    return {"tasks": state.task_views(uuids), "held": state.held_counts(),
            "summary": summary}


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


# ------------------------------------------------------------- recorder
def test_recorder_appends_each_batch_as_json_lines_mode_0600(tmp_path):
    path = tmp_path / "rec" / "events.jsonl"
    events = [json.loads(line) for line in STREAM.read_text().splitlines()[:50]]
    with Recorder(str(path)) as recorder:
        recorder.write(events[:1])
        # Written at once, not buffered: a kill now loses nothing.
        assert lines_of(path) == events[:1]
        recorder.write(events[1:])
    assert lines_of(path) == events
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert recorder.view().events == 50


def test_recorder_never_writes_the_broker_password(tmp_path):
    path = tmp_path / "events.jsonl"
    url = "amqp://ops:s3cret-pw@rabbit.internal:5672/prod"
    with Recorder(str(path), broker_url=url) as recorder:
        recorder.write([{"type": "task-failed", "uuid": "u1",
                         "exception": "ConnectionError('amqp://ops:s3cret-pw@rabbit')",
                         "args": '("s3cret-pw",)'}])
    text = path.read_text()
    assert "s3cret-pw" not in text and "****" in text
    assert lines_of(path)[0]["uuid"] == "u1"  # still JSON
    # A short password is masked inside the broker's URL (and left alone
    # in other text, as everywhere).
    short = tmp_path / "short.jsonl"
    with Recorder(str(short), broker_url="redis://:pw@cache:6379/0") as recorder:
        recorder.write([{"type": "task-failed", "uuid": "u2",
                         "exception": "Error 111 connecting redis://:pw@cache:6379/0"}])
    assert "redis://:****@cache:6379/0" in short.read_text()
    assert ":pw@" not in short.read_text()


def test_recorder_rotates_at_its_size(tmp_path):
    path = tmp_path / "events.jsonl"
    event = {"type": "worker-heartbeat", "hostname": "a@b", "pad": "x" * 1000}
    with Recorder(str(path), max_bytes=parse_size("64k")) as recorder:
        for _ in range(200):
            recorder.write([event])
    assert recorder.rotations >= 2
    rotated = Path(str(path) + ".1")
    assert path.stat().st_size <= 64 * 1024 and rotated.stat().st_size <= 64 * 1024
    assert stat.S_IMODE(rotated.stat().st_mode) == 0o600
    # Both files replay, older first.
    both = list(Recording([str(rotated), str(path)]))
    assert len(both) == len(lines_of(rotated)) + len(lines_of(path))


def test_recorder_starts_a_clean_line_after_a_cut_one(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"type": "worker-online", "hostname": "a@b"}\n{"type": "task-se')
    with Recorder(str(path)) as recorder:
        recorder.write([{"type": "task-sent", "uuid": "u2"}])
    recording = Recording([str(path)])
    events = list(recording)
    assert [e.get("uuid") for e in events] == [None, "u2"]
    assert recording.bad == 1 and "cut short" not in (recording.first_bad or "")


def test_record_options_are_checked():
    assert parse_size("256MB") == 256 * 2**20 and parse_size("1G") == 2**30
    for bad in ("lots", "1k", "12 parsecs"):
        with pytest.raises(ValueError):
            parse_size(bad)
    assert parse_speed("max") is None and parse_speed("10") == 10.0
    assert parse_speed("x2") == 2.0
    for bad in ("0", "-1", "fast", "inf", "nan"):
        with pytest.raises(ValueError):
            parse_speed(bad)


# --------------------------------------------------------------- replay
def test_the_shared_stream_replays_to_the_model_a_live_intake_builds():
    events = [json.loads(line) for line in STREAM.read_text().splitlines()]
    clock = [0.0]
    live = ClusterState(clock=lambda: clock[0])
    for event in events:
        clock[0] = event["local_received"]
        live.apply(dict(event))
    player = Replayer(Recording([str(STREAM)]), speed=None).start()
    assert player.wait_done(30)
    assert model_of(player.state) == model_of(live)
    assert player.view().at == events[-1]["local_received"]
    assert player.view().bad == 0


def test_bad_lines_are_counted_and_skipped(tmp_path):
    path = tmp_path / "events.jsonl"
    good = STREAM.read_bytes().splitlines(keepends=True)[:10]
    path.write_bytes(b"".join(good[:5]) + b"not json at all\n\xff\xfe\n"
                     + b"".join(good[5:]) + b'{"type": "task-s')
    player = Replayer(Recording([str(path)]), speed=None).start()
    assert player.wait_done(10)
    view = player.view()
    assert view.applied == 10 and view.bad == 3
    assert "line 6: not JSON" in (view.first_bad or "")
    assert player.state.counters.events == 10


def test_pause_step_and_the_clock_follow_the_recording():
    events = [json.loads(line) for line in STREAM.read_text().splitlines()[:5]]
    player = Replayer(Recording([str(STREAM)]), speed=1.0)
    player.paused = True
    player.start()
    assert player.clock() == events[0]["local_received"]  # opens on the first event
    assert player.state.counters.events == 0
    for n, event in enumerate(events[:3], 1):
        assert player.step()
        assert player.state.counters.events == n
        assert player.clock() == event["local_received"]
    time.sleep(0.3)  # paused: neither the events nor the clock move
    assert player.state.counters.events == 3
    assert player.clock() == events[2]["local_received"]
    player.clock.speed = None  # max, then resumed: runs to the end
    assert not player.toggle()
    assert player.wait_done(30)
    assert player.state.counters.events == 1669
    player.stop()


# ------------------------------------------------------ live, real workers
@pytest.mark.broker
def test_a_live_run_recorded_replays_to_the_same_model(real_broker, tmp_path):
    from console.core.connection import Target
    from console.core.monitor import Monitor

    app = companion_app(real_broker)
    path = tmp_path / "live.jsonl"
    recorder = Recorder(str(path), broker_url=real_broker.url).open()
    target = Target(app=app, url=real_broker.url)
    monitor = Monitor(target, inspect_interval=2.0, probe_interval=1.0,
                      recorder=recorder)
    live = monitor.state
    with running_worker(real_broker, tmp_path, queues="default", concurrency=2):
        monitor.start()
        try:
            assert wait_until(lambda: live.workers_online(), 30)
            sent = [app.send_task(T + "add", args=(i, 3), queue="default") for i in range(12)]
            sent.append(app.send_task(T + "always_fails", queue="default"))
            sent.append(app.send_task(T + "flaky", args=(7,), kwargs={"fail_times": 1},
                                      queue="default"))
            sent.append(app.send_task(T + "send_email", args=("a@example.com", "hi"),
                                      queue="default"))
            ids = [r.id for r in sent]

            def finished() -> bool:
                views = live.task_views(ids)
                return len(views) == len(ids) and all(
                    v.state in ("SUCCESS", "FAILURE") for v in views)

            assert wait_until(finished, 60)
            time.sleep(0.5)  # let heartbeats and late events land in both
        finally:
            monitor.stop(timeout=2.0)
    assert recorder.view().errors == 0
    recorded = lines_of(path)
    assert len(recorded) == live.counters.events + live.counters.malformed
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert real_broker.url not in text
    assert not [p for p in passwords_in(real_broker.url) if len(p) >= 4 and p in text]

    player = Replayer(Recording([str(path)]), speed=None).start()
    assert player.wait_done(60)
    assert player.view().bad == 0
    replayed, original = model_of(player.state), model_of(live)
    assert [t.uuid for t in replayed["tasks"]] == [t.uuid for t in original["tasks"]]
    for mine, theirs in zip(replayed["tasks"], original["tasks"], strict=True):
        assert mine == theirs, mine.uuid
    assert replayed == original
    by_id = {t.uuid: t for t in replayed["tasks"]}
    assert by_id[ids[0]].result in ("3", 3) and by_id[ids[12]].state == "FAILURE"
    assert [s for s, _ in by_id[ids[13]].timeline].count("retried") == 1


@pytest.mark.broker
def test_a_recording_cut_by_sigkill_replays_up_to_its_last_whole_line(
        redis_broker, tmux_session, tmp_path):
    from terminal import tmux, wait_for_screen

    app = companion_app(redis_broker)
    path = tmp_path / "killed.jsonl"
    with running_worker(redis_broker, tmp_path, queues="default", concurrency=2):
        command = (f"exec env CELERY_BROKER_URL={shlex.quote(redis_broker.url)} "
                   f"{shlex.quote(sys.executable)} -m console --record {shlex.quote(str(path))} "
                   f"--audit-log {shlex.quote(str(tmp_path / 'audit.jsonl'))} "
                   f"--log-file {shlex.quote(str(tmp_path / 'console.log'))}")
        tmux("send-keys", "-t", tmux_session, command, "Enter")
        screen = wait_for_screen(tmux_session, r"⏺ rec", 30)
        assert "connected" in screen or "connecting" in screen
        pid = int(tmux("display-message", "-p", "-t", tmux_session, "#{pane_pid}"))
        # The capture is subscribed once the worker's heartbeat is recorded:
        # on Redis an event published before that is gone for every reader.
        assert wait_until(lambda: path.exists() and "worker-heartbeat" in path.read_text(
            errors="replace"), 60)
        ids = [app.send_task(T + "add", args=(i, 1), queue="default").id for i in range(20)]

        def recorded_all() -> bool:
            text = path.read_text(errors="replace") if path.exists() else ""
            return all(text.count(i) >= 3 for i in ids)  # sent/received/started…

        assert wait_until(recorded_all, 60)
        os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: not os.path.exists(f"/proc/{pid}")
                          or open(f"/proc/{pid}/stat").read().split()[2] == "Z", 10)
    data = path.read_bytes()
    whole = data[:data.rfind(b"\n") + 1]
    expected = [json.loads(line) for line in whole.splitlines()]
    assert len(expected) >= 60

    # What replay reads is every whole line (and a last line the kill cut
    # exactly before its newline, which is whole JSON too).
    read = list(Recording([str(path)]))
    assert read[:len(expected)] == expected and len(read) - len(expected) in (0, 1)
    # The kill can leave a part-written last line; make sure of one and
    # replay again: exactly the whole lines, the cut one counted.
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(whole + json.dumps(expected[-1]).encode()[:25])
    player = Replayer(Recording([str(cut)]), speed=None).start()
    assert player.wait_done(30)
    view = player.view()
    assert view.applied == len(expected) and view.bad == 1
    assert "cut short" in (view.first_bad or "")
    seen = {t.uuid for t in player.state.task_views(ids)}
    assert seen == set(ids)


def test_an_overlong_line_is_skipped_without_holding_it(tmp_path, monkeypatch):
    import console.core.replay as replay

    monkeypatch.setattr(replay, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "long.jsonl"
    good = STREAM.read_bytes().splitlines(keepends=True)[:4]
    huge = json.dumps({"type": "task-sent", "uuid": "u", "args": "x" * 5000}).encode()
    path.write_bytes(good[0] + good[1] + huge + b"\n" + good[2] + good[3])
    recording = Recording([str(path)])
    assert len(list(recording)) == 4
    assert recording.bad == 1 and "line 3: longer than 1,000 bytes" in recording.first_bad
