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
# Reads only (allowed under --read-only): not in TASK_MUTATING.
STACK_BINDING = Binding(
    "w", "stack", "Stack", show=False, id="tasks.stack",
    tooltip="What is it doing: the live Python stack of the process running this task "
            "(needs the companion extension on the worker)")
# States in which a task is not running: Celery's own, and not yet started.
NOT_RUNNING = frozenset({"PENDING", "RECEIVED", "SUCCESS", "FAILURE", "REVOKED",
                         "REJECTED", "RETRY", "IGNORED"})


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

    def stack_task(self):
        """The task `w` shows: the one under the cursor."""
        tasks, _ = self.selected_tasks()
        return tasks[0] if tasks else None

    def action_stack(self) -> None:
        task = self.stack_task()
        if task is None:
            self.app.notify("No task here to show the stack of", severity="warning")
        elif task.state in NOT_RUNNING or not task.worker:
            self.app.notify(f"w shows the stack of a running task: {task.uuid} is "
                            f"{task.state}", severity="warning")
        else:
            self.app.open_stack(task.worker, task.uuid)

    def _type(self) -> str | None:
        tasks, _ = self.selected_tasks()
        return tasks[0].name if tasks else None

    def action_rate_limit(self) -> None:
        limits.ask_rate_limit(self.app, self._type())

    def action_time_limit(self) -> None:
        limits.ask_time_limit(self.app, self._type())
