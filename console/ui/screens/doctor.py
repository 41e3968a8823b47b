"""Doctor (`9`, `:doctor`): settings across the workers that will hurt,
each finding with its evidence. Examined on opening and on `ctrl+r` (it
asks every worker a few inspections), never on a timer. Findings come typed
from core (``core/doctor.py``); their text is cluster data, drawn literally."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from ...core.doctor import Diagnosis, diagnosis_lines
from ..format import clock_time, literal
from .base import ConsoleScreen
from ..reading import ReadsOffThread

STYLES = {"summary": "bold", "note": "yellow", "ok": "bold green", "warning": "bold yellow",
          "error": "bold red", "evidence": ""}
MARKS = {"warning": "⚠ ", "error": "✖ ", "ok": "✔ "}


def render_diagnosis(diagnosis: Diagnosis) -> Text:
    out = Text()
    for kind, text in diagnosis_lines(diagnosis):
        if kind in ("warning", "error"):
            out.append("\n")
        out.append(MARKS.get(kind, ""), style=STYLES.get(kind, ""))
        out.append_text(literal(text, 4000, style=STYLES.get(kind, "")))
        out.append("\n")
    return out


class DoctorScreen(ReadsOffThread, ConsoleScreen):
    TITLE = "Doctor"
    BINDINGS = [
        Binding("ctrl+r", "examine", "Examine again", id="doctor.examine",
                tooltip="Ask every worker again (conf, stats, report, queues, registered, "
                        "scheduled) and re-read the runtimes seen"),
    ]
    HELP_NOTES = (
        "Each finding names its subject (a worker, a queue, or the cluster) and the "
        "evidence it was read from: the workers' inspect conf / stats / report / "
        "active_queues / registered / scheduled replies, the companion extension's "
        "versions where a worker has it, and the runtimes and countdowns this console "
        "saw in task events.",
    )
    DEFAULT_CSS = """
    DoctorScreen #doctor-title { padding: 0 1; height: auto; }
    DoctorScreen VerticalScroll { height: 1fr; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.diagnosis: Diagnosis | None = None
        self.error: str | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(id="doctor-title")
        with VerticalScroll():
            yield Static(id="doctor-body")

    def on_mount(self) -> None:
        self.action_examine()

    def refresh_view(self, now: float) -> None:
        pass  # drawn when an examination ends, not on the tick

    def action_examine(self) -> None:
        self.start_reading()

    def read(self) -> Diagnosis:
        return self.app.read_doctor()

    def read_finished(self, result: Diagnosis | None, error: str | None) -> None:
        self.diagnosis = result or self.diagnosis
        self.error = error

    def draw(self) -> None:
        title = Text("Doctor: what in the workers' settings will hurt", style="bold")
        if self.reading:
            title.append("  — asking the workers…", style="dim")
        elif self.diagnosis is not None:
            found = len(self.diagnosis.findings)
            title.append(f"  {found} finding{'s' if found != 1 else ''}, examined at "
                         f"{clock_time(self.diagnosis.at or time.time())} "
                         "(ctrl+r examines again)", style="dim")
        if self.error:
            title.append("\n")
            title.append_text(literal(f"examination failed: {self.error}", 400,
                                      style="bold red"))
        self.query_one("#doctor-title", Static).update(title)
        body = self.query_one("#doctor-body", Static)
        body.update(render_diagnosis(self.diagnosis) if self.diagnosis is not None
                    else Text("…", style="dim"))

    @property
    def plain(self) -> str:
        return render_diagnosis(self.diagnosis).plain if self.diagnosis else ""
