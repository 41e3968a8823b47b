"""Start-up: `console --help`, and launch to first frame (headless)."""

from __future__ import annotations

import subprocess
import sys
import time

FIRST_FRAME = """
import time, sys
from console.sample import sample_app
app = sample_app()
async def first_frame(pilot):
    print(time.time(), flush=True)
    app.exit()
app.run(headless=True, auto_pilot=first_frame)
"""


def help_seconds() -> float:
    started = time.time()
    subprocess.run([sys.executable, "-m", "console", "--help"], check=True,
                   capture_output=True)
    return time.time() - started


def first_frame_seconds() -> float:
    started = time.time()
    out = subprocess.run([sys.executable, "-c", FIRST_FRAME], check=True,
                         capture_output=True, text=True).stdout
    return float(out.split()[0]) - started
