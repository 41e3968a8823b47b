"""The live Python stack of a worker's process (`w` on a running task, or
on worker detail): what it is doing right now, the task's own frames
highlighted. Read from the companion extension on request and on `ctrl+r`,
never on a timer. Stacks are cluster text: drawn literally."""

from __future__ import annotations

import time
from dataclasses import replace

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from ...core.insight import StackReport, report_lines
from ..format import clock_time, literal, one_line
from .frame import FramedScreen
from ..reading import ReadsOffThread

STYLES = {
    "worker": "bold", "process": "bold cyan", "task": "bold yellow", "thread": "bold",
    "frame": "dim", "task-frame": "bold yellow", "code": "", "note": "dim",
    "error": "bold yellow",
}


def render_reports(reports: list[StackReport]) -> Text:
    """Every line literal; the task's frames marked ▶ and highlighted."""
    out = Text()
    for report in reports:
        previous = ""
        for kind, text in report_lines(report):
            style = STYLES.get(kind, "")
            marker = "▶ " if kind == "task-frame" else "  "
            if kind == "code" and previous == "task-frame":
                style = "yellow"
            out.append(marker if kind in ("frame", "task-frame", "code") else "")
            out.append_text(literal(text, 4000, style=style))
            out.append("\n")
            previous = kind if kind != "code" else previous
        out.append("\n")
    return out


class StackScreen(ReadsOffThread, FramedScreen):
    TITLE = "Stack"
    BINDINGS = [
        Binding("escape", "back", "Back", id="stack.back", tooltip="Back"),
        Binding("ctrl+r", "reread", "Read again", id="stack.reread",
                tooltip="Ask the worker for its stacks again (they change nothing there)"),
        Binding("right_square_bracket", "next_process", "Next process", show=False,
                key_display="]", id="stack.next_process",
                tooltip="Show one process: the next one (after the last, every process)"),
        Binding("left_square_bracket", "previous_process", "Previous process", show=False,
                key_display="[", id="stack.previous_process",
                tooltip="Show one process: the previous one (before the first, every process)"),
    ]
    DEFAULT_CSS = """
    StackScreen #stack-title { padding: 0 1; height: auto; }
    StackScreen VerticalScroll { height: 1fr; padding: 0 1; }
    """

    def __init__(self, hostname: str, task_id: str | None = None):
        super().__init__()
        self.hostname = hostname
        self.task_id = task_id
        self.reports: list[StackReport] | None = None
        self.read_at: float | None = None
        # The one process shown ([ and ]), by pid; None: every process. Kept
        # across ctrl+r, so a re-read shows the same process again.
        self.pid: int | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(id="stack-title")
        with VerticalScroll():
            yield Static(id="stack-body")

    def on_mount(self) -> None:
        self.action_reread()

    def on_screen_resume(self) -> None:
        self.app.update_header()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reread(self) -> None:
        self.start_reading()

    def read(self) -> list[StackReport]:
        return self.app.read_stacks(self.hostname, self.task_id)

    def read_finished(self, result: list[StackReport] | None, error: str | None) -> None:
        self.reports = result if result is not None else [StackReport(
            self.hostname, installed=True, at=time.time(), task_id=self.task_id, error=error)]
        self.read_at = self.reports[0].at if self.reports else self.app.now()

    def pids(self) -> list[int]:
        """The processes the last reading answered for, in its order."""
        return [p.pid for r in self.reports or () for p in r.processes if p.pid is not None]

    def shown(self) -> list[StackReport]:
        """The reports as drawn: one process's, when one is chosen."""
        reports = self.reports or []
        if self.pid is None:
            return reports
        return [replace(r, processes=tuple(p for p in r.processes if p.pid == self.pid))
                for r in reports]

    def _step(self, by: int) -> None:
        pids = self.pids()
        if len(pids) < 2:
            self.app.say("one process answered: it is the one shown" if pids
                         else "no process to choose")
            return
        choices: list[int | None] = [None, *pids]
        at = choices.index(self.pid) if self.pid in choices else 0
        self.pid = choices[(at + by) % len(choices)]
        self.draw()

    def action_next_process(self) -> None:
        self._step(1)

    def action_previous_process(self) -> None:
        self._step(-1)

    def draw(self) -> None:
        pids = self.pids()
        if self.pid is not None and self.pid in pids:
            what = Text.assemble(f"Stack of process {self.pid} "
                                 f"({pids.index(self.pid) + 1} of {len(pids)}; [ ] choose) of ")
        elif self.pid is not None:
            what = Text(f"Process {self.pid} did not answer this time ([ ] choose) on ",
                        style="bold yellow")
        else:
            what = (Text.assemble("Stack of task ", literal(self.task_id, 40, style="bold"),
                                  " on ") if self.task_id else Text("Stacks of every process of "))
        what.append_text(literal(self.hostname, 60, style="bold"))
        if self.reading:
            what.append("  — asking the worker…", style="dim")
        elif self.read_at is not None:
            what.append(f"  — read at {clock_time(self.read_at)} (ctrl+r reads again)",
                        style="dim")
        self.query_one("#stack-title", Static).update(what)
        body = self.query_one("#stack-body", Static)
        if self.reports is None:
            body.update(Text("…", style="dim"))
        else:
            body.update(render_reports(self.shown()))

    @property
    def plain(self) -> str:
        """What the body shows, as text (for tests)."""
        return one_line(render_reports(self.shown()).plain.replace("\n", " | "))
