"""The doctor screen (`9`, `:doctor`, the palette) on the sample cluster."""

from __future__ import annotations

import pytest

from brokers import pilot_until
from console.sample import sample_app
from console.ui.commands import palette_entries
from console.ui.screens.doctor import DoctorScreen

SIZE = (120, 36)


def counting_app(**options):
    app = sample_app(**options)
    app.examined = 0
    read = app.read_doctor

    def read_doctor():
        app.examined += 1
        return read()

    app.read_doctor = read_doctor
    return app


async def doctor(pilot) -> DoctorScreen:
    assert await pilot_until(pilot, lambda: isinstance(pilot.app.screen, DoctorScreen)
                             and pilot.app.screen.diagnosis is not None
                             and not pilot.app.screen.reading, 10)
    return pilot.app.screen


@pytest.mark.parametrize("read_only", [False, True])
async def test_9_shows_findings_with_their_evidence(read_only):
    app = counting_app(read_only=read_only)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("9")
        screen = await doctor(pilot)
        text = screen.plain
        assert "⚠ acks_late without reject_on_worker_lost — alpha@web-1" in text
        assert "conf: task_reject_on_worker_lost not set" in text
        assert "no answer from gamma@batch-1" in text
        assert app.examined == 1
        await pilot.press("ctrl+r")
        assert await pilot_until(pilot, lambda: app.examined == 2 and not screen.reading, 10)


async def test_doctor_from_the_command_line_and_the_palette():
    app = counting_app()
    async with app.run_test(size=SIZE) as pilot:
        titles = [title for title, _help, _target in palette_entries(app.screen)]
        assert "Doctor" in titles
        await pilot.press("colon", *"doctor", "enter")
        await doctor(pilot)
        await pilot.press("1")
        await pilot.pause()
        assert not isinstance(app.screen, DoctorScreen)
