"""tmux, driven as a person drives a terminal: a private server, keys
sent with ``send-keys``, the screen read with ``capture-pane``."""

from __future__ import annotations

import os
import re
import subprocess
import time

# A private tmux server: nobody else's `tmux kill-server` can end our session.
TMUX_SOCKET = f"console-test-{os.getpid()}"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", TMUX_SOCKET, *args], capture_output=True,
                          text=True, check=True, timeout=10).stdout


def wait_for_screen(session: str, pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if re.search(pattern, screen):
            return screen
        time.sleep(0.3)
    raise AssertionError(f"{pattern!r} not on screen after {timeout} s:\n{screen}")


