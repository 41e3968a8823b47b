"""`console --demo` end to end, in tmux, as a person would use it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from brokers import IN_CI
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


# A private tmux server: nobody else's `tmux kill-server` can end our session.
TMUX_SOCKET = f"console-test-{os.getpid()}"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", TMUX_SOCKET, *args], capture_output=True,
                          text=True, check=True, timeout=10).stdout


@pytest.fixture
def tmux_session(tmp_path):
    if shutil.which("tmux") is None:
        if IN_CI:
            pytest.fail("tmux is required in CI (.ci/run installs it)")
        pytest.skip("tmux is not installed: apt-get install tmux")
    name = f"console-test-{uuid.uuid4().hex[:6]}"
    tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "36")
    yield name
    subprocess.run(["tmux", "-L", TMUX_SOCKET, "kill-session", "-t", name],
                   capture_output=True)


def wait_for_screen(session: str, pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if re.search(pattern, screen):
            return screen
        time.sleep(0.3)
    raise AssertionError(f"{pattern!r} not on screen after {timeout} s:\n{screen}")


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
