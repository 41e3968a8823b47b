"""The task action keys, shared by the Tasks screen (acting on the marked
tasks, or the one under the cursor) and the task detail screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.binding import Binding

from ..dialogs import limits, rerun
from ..dialogs.tasks import ask_revoke

if TYPE_CHECKING:
    from ..screens.frame import FramedScreen as _Screen  # what it is mixed into
else:
    _Screen = object

TASK_BINDINGS = [
    Binding("x", "revoke", "Revoke", id="tasks.revoke",
            tooltip="Revoke the marked tasks, or the one under the cursor (confirm)"),
    Binding("X", "terminate", "Terminate", id="tasks.terminate",
            tooltip="Terminate running tasks with a chosen signal (confirm)"),
    Binding("r", "rerun", "Re-run", id="tasks.rerun",
            tooltip="Re-run the marked tasks, or the one under the cursor, with the same "
                    "arguments (a preflight says which can be)"),
    Binding("l", "rate_limit", "Rate limit", show=False, id="tasks.rate_limit",
            tooltip="Rate limit for this task's type, on every worker or one"),
    Binding("t", "time_limit", "Time limit", show=False, id="tasks.time_limit",
            tooltip="Soft / hard time limit for this task's type"),
]
TASK_MUTATING = frozenset(b.action for b in TASK_BINDINGS)


class TaskKeys(_Screen):
    """Mixed into a screen that says which tasks its keys act on."""

    def selected_tasks(self) -> tuple[list, int]:
        """(tasks, how many of them the current filter hides)."""
        raise NotImplementedError

    def action_revoke(self) -> None:
        ask_revoke(self.app, *self.selected_tasks())

    def action_terminate(self) -> None:
        ask_revoke(self.app, *self.selected_tasks(), terminate=True)

    def action_rerun(self) -> None:
        rerun.ask_rerun(self.app, *self.selected_tasks())

    def _type(self) -> str | None:
        tasks, _ = self.selected_tasks()
        return tasks[0].name if tasks else None

    def action_rate_limit(self) -> None:
        limits.ask_rate_limit(self.app, self._type())

    def action_time_limit(self) -> None:
        limits.ask_time_limit(self.app, self._type())
