"""What you see is what you act on, in a real terminal (tmux) on the demo
cluster: the cursor keeps its task while rows arrive, an action after a
detail targets the task just read, and keys typed or pasted after `/` land
in the filter, never on the screen's keys."""

from __future__ import annotations

import re
import shlex
import sys
import time

import pytest

from terminal import tmux, wait_for_screen

pytestmark = pytest.mark.slow

PINNED = re.compile(r"(\d[\d,]*) tasks .*cursor pinned on ([0-9a-f]{8})")


def start_demo(session: str, tmp_path) -> None:
    command = (f"TMPDIR={shlex.quote(str(tmp_path))} {shlex.quote(sys.executable)} "
               f"-m console --demo --log-file {shlex.quote(str(tmp_path / 'console.log'))}")
    tmux("send-keys", "-t", session, command, "Enter")
    wait_for_screen(session, r"2/2 workers", 30)
    tmux("send-keys", "-t", session, "2")
    wait_for_screen(session, r"SUCCESS\s+[1-9]", 30)


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def test_the_cursor_keeps_its_task_and_x_after_a_detail_targets_it(tmux_session, tmp_path):
    start_demo(tmux_session, tmp_path)
    tmux("send-keys", "-t", tmux_session, "j", "k")  # back on row 1: pinned there
    found = PINNED.search(wait_for_screen(tmux_session, PINNED.pattern, 10))
    assert found is not None
    held, chosen = int(found.group(1).replace(",", "")), found.group(2)
    # 30 s of arriving rows: the cursor stays on the task chosen, and it is
    # on screen. A guard on the loop, not a speed target.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = screen(tmux_session)
        found = PINNED.search(now)
        assert found is not None and found.group(2) == chosen, now
        assert re.search(rf"^\s*{chosen} ", now, re.M), now
        time.sleep(1)
    arrived = int(found.group(1).replace(",", "")) - held
    assert arrived > 20, f"only {arrived} tasks arrived in 30 s"

    # Open it, read its id, let rows arrive, then escape and x at once.
    tmux("send-keys", "-t", tmux_session, "Enter")
    detail = wait_for_screen(tmux_session, rf"uuid\s+{chosen}[0-9a-f-]{{28}}", 10)
    full = re.search(rf"uuid\s+({chosen}[0-9a-f-]{{28}})", detail).group(1)
    time.sleep(3)  # rows arrive behind the detail
    # Two key presses, not one send: a terminal reads ESC and a key sent
    # together as alt+key.
    tmux("send-keys", "-t", tmux_session, "Escape")
    wait_for_screen(tmux_session, PINNED.pattern, 10)
    tmux("send-keys", "-t", tmux_session, "x")
    dialog = wait_for_screen(tmux_session, r"Revoke 1 task\?", 10)
    assert full in dialog, dialog
    tmux("send-keys", "-t", tmux_session, "Escape")  # Cancel: nothing sent
    wait_for_screen(tmux_session, PINNED.pattern, 10)
    tmux("send-keys", "-t", tmux_session, "q")


def test_slash_q_typed_or_pasted_lands_in_the_filter(tmux_session, tmp_path):
    start_demo(tmux_session, tmp_path)
    # `/q` in one burst used to quit the console at the `q`.
    tmux("send-keys", "-t", tmux_session, "-l", "/q")
    tmux("send-keys", "-t", tmux_session, "Enter")
    wait_for_screen(tmux_session, r"filter: q ", 10)
    # An unbracketed paste of `/queue:backlog` (keys at paste speed).
    tmux("send-keys", "-t", tmux_session, "Escape")
    tmux("set-buffer", "-b", "plain", "/queue:backlog")
    tmux("paste-buffer", "-b", "plain", "-t", tmux_session)
    tmux("send-keys", "-t", tmux_session, "Enter")
    wait_for_screen(tmux_session, r"filter: queue:backlog ", 10)
    # A bracketed paste into the open filter box.
    tmux("send-keys", "-t", tmux_session, "/", "C-u")
    wait_for_screen(tmux_session, r"fields: state:", 5)
    tmux("set-buffer", "-b", "bracketed", "state:success name:add")
    tmux("paste-buffer", "-p", "-b", "bracketed", "-t", tmux_session)
    tmux("send-keys", "-t", tmux_session, "Enter")
    after = wait_for_screen(tmux_session, r"filter: state:success name:add ", 10)
    assert "Traceback" not in after
    tmux("send-keys", "-t", tmux_session, "q")


def test_dialogs_at_80x24_keep_their_buttons(tmux_session, tmp_path):
    tmux("resize-window", "-t", tmux_session, "-x", "80", "-y", "24")
    start_demo(tmux_session, tmp_path)
    tmux("send-keys", "-t", tmux_session, "1")
    wait_for_screen(tmux_session, r"alpha@demo", 15)
    for keys, button in ((["plus"], "Grow"), (["3", "p"], "Purge"), (["1", "ctrl+d"], "Shut")):
        for key in keys:
            tmux("send-keys", "-t", tmux_session, {"plus": "+", "ctrl+d": "C-d"}.get(key, key))
        shown = wait_for_screen(tmux_session, rf"Cancel.*{button}", 10)
        lines = shown.splitlines()
        assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
        assert "▉" not in shown, shown  # no stray glyphs
        tmux("send-keys", "-t", tmux_session, "Escape")
        deadline = time.monotonic() + 10  # a hang guard: until the dialog is gone
        while "Cancel" in screen(tmux_session) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "Cancel" not in screen(tmux_session)
    tmux("send-keys", "-t", tmux_session, "q")
