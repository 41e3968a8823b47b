"""Enter never changes the cluster by itself — in a real terminal (tmux),
keys sent in one burst as a hurried operator types them, on a real broker
with a real worker whose rate limits are checked on the worker itself."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time

import pytest

from brokers import companion_app, running_worker
from console.core.actions import Actions
from console.core.audit import AuditLog
from console.core.connection import Target
from console.core.state import ClusterState

pytestmark = [pytest.mark.broker, pytest.mark.slow]
TASKS = "console.companion.tasks."


def rate_limits(app, host: str) -> dict[str, str | None]:
    """Each registered task type's rate limit, as the worker reports it."""
    reply = app.control.inspect(destination=[host], timeout=3).registered("rate_limit") or {}
    out: dict[str, str | None] = {}
    for entry in reply.get(host, []):
        name, _, info = entry.partition(" ")
        out[name] = info.strip("[]").partition("=")[2] or None
    return out


def settle(session: str, tmux, seconds: float = 1.5) -> str:
    """The screen once it stopped changing for a moment (a burst's effects
    have landed), or after ``seconds``."""
    deadline = time.monotonic() + seconds
    last = tmux("capture-pane", "-p", "-t", session)
    while time.monotonic() < deadline:
        time.sleep(0.3)
        screen = tmux("capture-pane", "-p", "-t", session)
        if screen == last:
            return screen
        last = screen
    return last


def test_bursts_of_keys_change_nothing_on_the_worker(real_broker, tmp_path):
    from test_demo import TMUX_SOCKET, tmux, wait_for_screen

    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")  # the tmux_session fixture fails in CI
    app = companion_app(real_broker)
    audit = tmp_path / "audit.jsonl"
    with running_worker(real_broker, tmp_path, queues="default", name="evil") as host:
        # A limit that protects something downstream, set before we start.
        Actions(Target(app), ClusterState(), AuditLog(tmp_path / "setup.jsonl")).rate_limit(
            TASKS + "add", "7/s", destination=[host])
        before = rate_limits(app, host)
        assert before[TASKS + "add"] == "7/s"
        app.send_task(TASKS + "add", (1, 2), queue="default").get(timeout=20)
        session = f"safety-{real_broker.kind}"
        tmux("new-session", "-d", "-s", session, "-x", "140", "-y", "40")
        try:
            command = (f"CELERY_BROKER_URL={shlex.quote(real_broker.url)} "
                       f"{shlex.quote(sys.executable)} -m console -A console.companion "
                       f"--inspect-interval 1 --audit-log {shlex.quote(str(audit))}")
            tmux("send-keys", "-t", session, command, "Enter")
            wait_for_screen(session, host[:12] + r".*online", 30)
            wait_for_screen(session, r"prefork", 20)  # inspected: dialogs know its types

            # `/evil-1` and Enter in one burst: the filter gets it all.
            tmux("send-keys", "-t", session, "-l", "/evil-1")
            tmux("send-keys", "-t", session, "Enter")
            screen = settle(session, tmux)
            assert "filter: evil-1" in screen, screen
            tmux("send-keys", "-t", session, "Escape")
            # `/` and the worker's name: only it is listed.
            tmux("send-keys", "-t", session, "-l", "/" + host.split("@")[0])
            tmux("send-keys", "-t", session, "Enter")
            screen = wait_for_screen(session, r"filter: " + host.split("@")[0], 10)
            assert host[:12] in screen
            tmux("send-keys", "-t", session, "Escape")

            # `l` then Enter, on Workers and on Tasks: nothing to do.
            for screen_key in ("1", "2"):
                tmux("send-keys", "-t", session, screen_key)
                time.sleep(0.5)
                tmux("send-keys", "-t", session, "l", "Enter")
                screen = settle(session, tmux)
                assert "Set the rate limit" in screen, screen
                assert "nothing to do" in screen or "choose a task type" in screen, screen
                tmux("send-keys", "-t", session, "Escape")
                settle(session, tmux, 1.0)
            tmux("send-keys", "-t", session, "q")
        finally:
            subprocess.run(["tmux", "-L", TMUX_SOCKET, "kill-session", "-t", session],
                           capture_output=True)
        # Nothing reached the worker, and nothing was tried.
        assert rate_limits(app, host) == before
    lines = [json.loads(x) for x in audit.read_text().splitlines()] if audit.exists() else []
    assert not [x for x in lines if x.get("action") == "rate_limit"], lines
