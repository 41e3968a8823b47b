"""`ctrl+s` writes the view as shown (filter, sort, order) to CSV and JSON;
`y` copies the id under the cursor; a replay opens the same screens with
its own keys and header (Pilot, on the sample cluster and the shared
recorded stream)."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

import pytest

from brokers import pilot_until as until
from console.cli import Options, replay_target
from console.core.actions import ReadOnlyError
from console.core.export import ExportTable, csv_cell, write_export
from console.core.replay import Recording, Replayer
from console.sample import sample_app
from console.ui.app import ConsoleApp
from console.ui.commands import console_bindings
from console.ui.widgets.status_line import StatusLine
from console.ui.widgets.vim_table import VimTable

STREAM = Path(__file__).parent / "data" / "celery-5.7-events.jsonl"


def exported(folder: Path) -> tuple[list[dict], dict]:
    csv_files = sorted(folder.glob("*.csv"))
    json_files = sorted(folder.glob("*.json"))
    assert len(csv_files) == len(json_files) == 1, list(folder.iterdir())
    for path in (*csv_files, *json_files):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with open(csv_files[0], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return rows, json.loads(json_files[0].read_text(encoding="utf-8"))


def status_text(app) -> str:
    return str(app.screen.query_one(StatusLine).render())


async def test_tasks_export_matches_the_rows_on_screen(tmp_path):
    app = sample_app(export_dir=str(tmp_path / "out"))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2", "slash", *"state:success", "enter", "s", "s", "S")
        screen = app.screen
        await until(pilot, lambda: screen.sort_index == 1 and len(screen.table.rows) > 10
                    and all(t.state == "SUCCESS" for t in screen.table.rows), 10)
        shown = [t.uuid for t in screen.table.rows]
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "exported" in status_text(app), 10)
        rows, document = exported(tmp_path / "out")
        assert [r["uuid"] for r in rows] == shown
        assert [r["uuid"] for r in document["rows"]] == shown
        assert {r["state"] for r in rows} == {"SUCCESS"}
        assert document["filter"] == "state:success" and document["sort"] == "name"
        assert document["order"] == "ascending"
        first = app.state.task_view(shown[0])
        assert document["rows"][0]["args"] == first.args
        assert document["rows"][0]["name"] == first.name
        assert f"{len(shown)} rows" in status_text(app)
        assert str(tmp_path / "out") in status_text(app)


async def test_workers_export_and_copy(tmp_path):
    app = sample_app(export_dir=str(tmp_path / "out"))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("1", "slash", *"status:online", "enter")
        table = app.screen.query_one(VimTable)
        await until(pilot, lambda: table.row_count > 0, 10)
        shown = [row.key.value for row in table.ordered_rows]
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "exported" in status_text(app), 10)
        rows, document = exported(tmp_path / "out")
        assert [r["worker"] for r in rows] == shown
        assert [r["worker"] for r in document["rows"]] == shown
        await pilot.press("j", "y")
        await until(pilot, lambda: "copied" in status_text(app), 10)
        assert app.clipboard == table.cursor_key
        assert f"copied worker {table.cursor_key}" in status_text(app)


async def test_copy_on_tasks_and_task_detail(tmp_path):
    app = sample_app(export_dir=str(tmp_path / "out"))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2", "j", "j", "y")
        uuid = app.screen.table.cursor_record.uuid
        await until(pilot, lambda: app.clipboard == uuid, 10)
        assert "copied task id" in status_text(app)
        await pilot.press("enter")
        await until(pilot, lambda: getattr(app.screen, "uuid", None) == uuid, 10)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "exported" in status_text(app), 10)
        rows, document = exported(tmp_path / "out")
        fields = {r["field"]: r["value"] for r in rows}
        assert fields["uuid"] == uuid and document["view"] == f"task-{uuid}"


def test_a_hostile_cell_is_never_a_formula(tmp_path):
    table = ExportTable("tasks", ("uuid", "args"),
                        (("u1", "=HYPERLINK(\"http://x\")"), ("u2", "-1+2"), ("u3", "(1, 2)")))
    written = write_export(str(tmp_path), table, now=0.0)
    text = written.csv.read_text()
    assert "'=HYPERLINK" in text and "'-1+2" in text
    assert json.loads(written.json.read_text())["rows"][0]["args"] == "=HYPERLINK(\"http://x\")"
    again = write_export(str(tmp_path), table, now=0.0)  # never overwrites
    assert again.csv != written.csv and again.csv.exists()
    assert csv_cell(None) == "" and csv_cell({"a": 1}) == '{"a": 1}'


# ---------------------------------------------------------------- replay
def replay_app(tmp_path, *paths: str, speed: float | None = None,
               paused: bool = False) -> ConsoleApp:
    player = Replayer(Recording(list(paths) or [str(STREAM)]), speed=speed)
    player.paused = paused
    return ConsoleApp(replay_target(), Options(read_only=True, export_dir=str(tmp_path),
                                               audit_log=str(tmp_path / "audit.jsonl")),
                      replay=player)


async def test_replay_keys_pause_step_and_header(tmp_path):
    app = replay_app(tmp_path, speed=1.0, paused=True)
    async with app.run_test(size=(120, 36)) as pilot:
        player = app.replay
        header = lambda: str(app.screen.query_one("StatusHeader").render())  # noqa: E731
        await until(pilot, lambda: "replay ×1, paused, at 2026-11-22" in header(), 10)
        await pilot.press("full_stop", "full_stop", "full_stop")
        await until(pilot, lambda: player.state.counters.events == 3, 10)
        assert player.paused
        await pilot.press("z")  # resume at ×1: the next events come in real time
        await until(pilot, lambda: "playing" in header(), 10)
        assert not player.paused
        await pilot.press("z")
        await until(pilot, lambda: "paused" in header(), 10)
        # Read-only is implied and refused in core; the broker is never asked.
        assert app.options.read_only and not app.monitor.started
        with pytest.raises(ReadOnlyError):
            app.actions.revoke(["8992445e-0b2d-462c-98d6-8b02c8e07c19"])
        with pytest.raises(ReadOnlyError):
            app.actions.purge(["default"])
        assert "refused" in (tmp_path / "audit.jsonl").read_text()
        # Listed in `?` help and the palette (they read the same bindings).
        actions = {b.action for _, b, _ in console_bindings(app.screen)}
        assert {"replay_pause", "replay_step", "export", "copy_id"} <= actions


async def test_replay_keys_exist_only_in_a_replay():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        actions = {b.binding.action for b in app.screen.active_bindings.values()}
        assert "export" in actions and "copy_id" in actions
        assert "replay_pause" not in actions and "replay_step" not in actions


async def test_replay_of_a_file_with_bad_lines_says_so(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(STREAM.read_bytes()[:5000] + b"\ngarbage\n")
    app = replay_app(tmp_path, str(path))
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.replay.done, 10)
        await until(pilot, lambda: "bad line" in status_text(app), 10)
        assert "cut short" in status_text(app) or "not JSON" in status_text(app)


@pytest.mark.parametrize("args,message", [
    (["replay", "--speed", "fast", "{stream}"], "is not a speed"),
    (["replay", "/nonexistent/rec.jsonl"], "does not exist"),
    (["--record", "/proc/nope/rec.jsonl", "status"], "--record goes with the console"),
    (["--record", "x.jsonl", "--record-size", "1k", "--demo"], "too small"),
    (["--record", "/proc/nope/rec.jsonl", "-b", "memory://"], "cannot record to"),
])
def test_replay_and_record_refuse_bad_input(args, message):
    import subprocess
    import sys

    argv = [a.format(stream=STREAM) for a in args]
    done = subprocess.run([sys.executable, "-m", "console", *argv], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr


async def test_a_hostile_recording_replays_as_literal_text(tmp_path):
    # Cluster text is data in a replay too: markup, escapes and bidi
    # overrides in a recording reach the screen as visible text.
    path = tmp_path / "hostile.jsonl"
    host = "[bold red]evil[/]\x1b[2J\u202ework@x"
    events = [
        {"type": "worker-online", "hostname": host, "timestamp": 1795339770.0,
         "local_received": 1795339770.0, "freq": 2.0, "active": 0, "processed": 0},
        {"type": "task-received", "uuid": "u-1", "name": "[link=http://x]t[/link]",
         "hostname": host, "args": "('\x1b]52;c;ZXZpbA==\x07',)", "timestamp": 1795339771.0,
         "local_received": 1795339771.0},
        {"type": "task-failed", "uuid": "u-1", "hostname": host, "exception": "[/]",
         "traceback": "Traceback\n  [bold]x[/bold]", "timestamp": 1795339772.0,
         "local_received": 1795339772.0},
    ]
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    app = replay_app(tmp_path, str(path))
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.replay.done, 10)
        table = app.screen.query_one(VimTable)
        await until(pilot, lambda: table.row_count == 1, 10)
        shown = " ".join(getattr(c, "plain", str(c)) for c in table.get_row_at(0))
        assert "[bold red]evil[/]" in shown and "\x1b" not in shown
        await pilot.press("2", "enter")
        await until(pilot, lambda: getattr(app.screen, "uuid", None) == "u-1", 10)
        await pilot.press("ctrl+s", "y")
        await until(pilot, lambda: app.clipboard == "u-1", 10)
        rows, document = exported(tmp_path)
        fields = {r["field"]: r["value"] for r in document["rows"]}
        assert fields["worker"] == host and fields["state"] == "FAILURE"


def test_console_replay_in_a_terminal(tmux_session, tmp_path):
    """The real command: opens over the shared stream with no broker,
    plays it to the end at max, and ctrl+s writes the Tasks view."""
    import shlex
    import sys

    from terminal import tmux, wait_for_screen

    out = tmp_path / "exports"
    command = (f"{shlex.quote(sys.executable)} -m console --max-tasks 50 "
               f"--export-dir {shlex.quote(str(out))} "
               f"--log-file {shlex.quote(str(tmp_path / 'console.log'))} "
               f"replay {shlex.quote(str(STREAM))} --speed max")
    tmux("send-keys", "-t", tmux_session, command, "Enter")
    wait_for_screen(tmux_session, r"replay ×max, ended, at 2026-11-22 09:29:58 UTC", 30)
    tmux("send-keys", "-t", tmux_session, "2")
    wait_for_screen(tmux_session, r"50 tasks", 10)  # --max-tasks reached the replay
    tmux("send-keys", "-t", tmux_session, "C-s")
    wait_for_screen(tmux_session, r"exported 50 rows to", 10)
    rows, document = exported(out)
    assert len(rows) == 50 and document["screen"] == "Tasks"
    tmux("send-keys", "-t", tmux_session, "x")  # read-only: no revoke key at all
    tmux("send-keys", "-t", tmux_session, "q")
    wait_for_screen(tmux_session, r"[#$]\s*\Z", 10)  # back at the shell prompt
