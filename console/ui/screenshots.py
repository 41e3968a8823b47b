"""Render the README's screenshots from the deterministic sample.

    pip install -e '.[docs]' && python -m console.ui.screenshots

Writes screenshots/NAME.svg (Textual's export) and NAME.png (cairosvg, with
the SVG's web font swapped for an installed monospace font).
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from ..sample import sample_app, sample_replay_app

SHOTS = (
    ("workers", ["1"], (120, 30)),
    ("tasks", ["2"], (120, 30)),
    ("queues", ["3"], (120, 30)),
    ("events", ["4"], (120, 30)),
    ("task-detail", ["2", "colon", *"t state:failure", "enter", "G", "enter"], (120, 36)),
    ("help", ["question_mark"], (120, 30)),
    ("purge", ["3", "p"], (120, 30)),
    ("queue-detail", ["3", "enter"], (120, 36)),
    ("queue-remove", ["3", "enter", "p"], (120, 36)),
    ("rerun", ["2", "space", "j", "space", "j", "space", "r"], (120, 30)),
    ("worker-detail", ["1", "enter"], (120, 36)),
    ("terminate", ["2", "j", "j", "j", "j", "j", "j", "X"], (120, 30)),
    ("action-log", ["5"], (120, 30)),
    ("task-types", ["6", "s", "s"], (120, 30)),
    ("failures", ["7"], (120, 30)),
    ("stack", ["2", *"jjjjjjj", "w"], (120, 30)),
    ("doctor", ["9"], (120, 30)),
    # A replay of the shared recorded stream, paused 600 events in.
    ("replay", ["2", "j", "j", "j"], (120, 30)),
)
# Drawn from the extended sample: a workflow, a beat schedule with a late entry.
EXTENDED_SHOTS = (
    ("workflow", ["colon", *"task 0000f1f1-5a3e-4c1d-9b7f-0000000000f1", "enter", "end"],
     (120, 36)),
    ("beat", ["8"], (120, 20)),
)
MONOSPACE = "DejaVu Sans Mono"


async def render(keys, size, name: str = "", extended: bool = False) -> str:
    app = sample_replay_app() if name == "replay" else sample_app(extended=extended)
    async with app.run_test(size=size) as pilot:
        for key in keys:
            await pilot.press(key)
            await _settled(pilot)
        await pilot.pause(0.3)
        return app.export_screenshot()


async def _settled(pilot, timeout: float = 10.0) -> None:
    """Until what a screen or dialog reads off the UI thread is in (the
    queue's messages, a dialog's fresh count)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    await pilot.pause()
    while loop.time() < deadline:
        screen = pilot.app.screen
        if all(getattr(screen, name, True) is not None
               for name in ("peek", "selection", "plans", "reports", "diagnosis")):
            return
        await pilot.pause(0.05)


def main(out_dir: str = "screenshots", *only: str) -> None:
    """``python -m console.ui.screenshots [DIR [NAME…]]``: every shot, or
    the ones named."""
    out = Path(out_dir)
    out.mkdir(exist_ok=True)
    try:
        import cairosvg
    except ImportError:
        cairosvg = None
        print("cairosvg is not installed (pip install -e '.[docs]'): writing SVG only",
              file=sys.stderr)
    shots = [(shot, False) for shot in SHOTS] + [(shot, True) for shot in EXTENDED_SHOTS]
    for (name, keys, size), extended in shots:
        if only and name not in only:
            continue
        svg = asyncio.run(render(keys, size, name, extended))
        svg = re.sub(r'font-family:\s*Fira Code[^;"]*', f"font-family: {MONOSPACE}", svg)
        (out / f"{name}.svg").write_text(svg)
        if cairosvg is not None:
            cairosvg.svg2png(bytestring=svg.encode(), write_to=str(out / f"{name}.png"),
                             output_width=size[0] * 10)
        print(f"wrote {out / name}.svg" + (" and .png" if cairosvg else ""))


if __name__ == "__main__":
    main(*sys.argv[1:])
