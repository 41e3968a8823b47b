"""`console --demo` end to end, in tmux, as a person would use it."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import time
from pathlib import Path

import pytest

from terminal import TMUX_SOCKET, tmux, wait_for_screen  # noqa: F401 (used by other tests)
from console.demo import DemoCluster

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def processes_with(marker: str) -> list[int]:
    """Pids whose environment mentions ``marker`` (the demo's temp root)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_demo_cluster_runs_and_cleans_up(tmp_path):
    from console.core.capture import Capture
    from console.core.state import ClusterState

    with DemoCluster(root=None) as cluster:
        root = cluster.root
        state = ClusterState()
        capture = Capture(cluster.target(), state).start()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (
                    len(state.workers_online()) >= 2 and state.held_by_state["SUCCESS"]):
                time.sleep(0.2)
        finally:
            capture.stop()
        assert state.workers_online() == ["alpha@demo", "beta@demo"]
        assert state.held_by_state["SUCCESS"] > 0
        assert processes_with(root)
    assert not os.path.exists(root)
    assert processes_with(root) == []


def console_pid(marker: str, flag: bytes = b"--demo") -> int:
    """The console process whose environment holds ``marker``."""
    for pid in processes_with(marker):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if flag in cmdline and b"console" in cmdline:
            return pid
    raise AssertionError("console process not found")


@pytest.mark.parametrize("ending", ["q", "ctrl+c", "SIGTERM", "SIGHUP"])
def test_demo_in_a_terminal(tmux_session, tmp_path, ending):
    temp = tmp_path / "tmp"
    temp.mkdir()
    done = tmp_path / "exit-code"
    command = (f"TMPDIR={shlex.quote(str(temp))} {shlex.quote(sys.executable)} -m console "
               f"--demo; echo $? > {shlex.quote(str(done))}")
    tmux("send-keys", "-t", tmux_session, command, "Enter")
    wait_for_screen(tmux_session, r"2/2 workers", 30)
    wait_for_screen(tmux_session, r"alpha@demo.*online", 10)
    tmux("send-keys", "-t", tmux_session, "2")
    wait_for_screen(tmux_session, r"SUCCESS\s+[1-9]", 20)
    roots = list(temp.glob("celery-console-demo-*"))
    assert len(roots) == 1 and processes_with(str(roots[0]))
    pid = console_pid(str(temp))

    if ending == "q":
        tmux("send-keys", "-t", tmux_session, "q")
    elif ending == "ctrl+c":
        tmux("send-keys", "-t", tmux_session, "C-c")
    elif ending == "SIGTERM":
        os.kill(pid, signal.SIGTERM)
    else:  # the terminal (an SSH session) goes away
        tmux("kill-session", "-t", tmux_session)
    deadline = time.monotonic() + 15  # a hang guard, not a speed target
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), "the console did not exit"
    if ending in ("q", "ctrl+c"):
        while not done.exists() and time.monotonic() < deadline + 5:
            time.sleep(0.05)  # the shell writes it just after the exit
        assert done.read_text().strip() == "0"
        assert "Traceback" not in tmux("capture-pane", "-p", "-t", tmux_session)
    assert not roots[0].exists()
    assert processes_with(str(roots[0])) == []
    # Nothing else either: billiard's pymp-* folders, a result backend.
    assert sorted(p.name for p in temp.iterdir()) == []
