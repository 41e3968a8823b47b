"""The worker action keys, shared by the Workers screen (acting on the
marked workers, or the one under the cursor) and the worker detail screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.binding import Binding

from ..dialogs import limits, workers as dialogs

if TYPE_CHECKING:
    from ..screens.frame import FramedScreen as _Screen  # what it is mixed into
else:
    _Screen = object

WORKER_BINDINGS = [
    Binding("plus", "pool_grow", "Pool +", key_display="+", id="workers.pool_grow",
            tooltip="Grow the pool by the number of processes typed"),
    Binding("minus", "pool_shrink", "Pool −", key_display="-", id="workers.pool_shrink",
            tooltip="Shrink the pool by the number of processes typed"),
    Binding("a", "autoscale", "Autoscale", id="workers.autoscale",
            tooltip="Autoscale: max and min processes"),
    Binding("c", "add_consumer", "Consume", id="workers.add_consumer",
            tooltip="Add a consumer for a queue"),
    Binding("C", "cancel_consumer", "Cancel consumer", show=False,
            id="workers.cancel_consumer",
            tooltip="Cancel a consumer (chosen from the worker's queues)"),
    Binding("R", "pool_restart", "Restart pool", show=False, id="workers.pool_restart",
            tooltip="Restart the pool (confirm)"),
    Binding("l", "rate_limit", "Rate limit", show=False, id="workers.rate_limit",
            tooltip="Rate limit for a task type registered on the worker"),
    Binding("t", "time_limit", "Time limit", show=False, id="workers.time_limit",
            tooltip="Soft / hard time limit for a task type registered on the worker"),
    Binding("ctrl+d", "shutdown", "Shutdown", id="workers.shutdown",
            tooltip="Shut the worker down (confirm)"),
]
WORKER_MUTATING = frozenset(b.action for b in WORKER_BINDINGS)


class WorkerKeys(_Screen):
    """Mixed into a screen that says which workers its keys act on."""

    def selected_workers(self) -> list[str]:
        raise NotImplementedError

    def _with_workers(self, ask, *args) -> None:
        hosts = self.selected_workers()
        if hosts:
            ask(self.app, hosts, *args)

    def action_pool_grow(self) -> None:
        self._with_workers(dialogs.ask_pool_resize, True)

    def action_pool_shrink(self) -> None:
        self._with_workers(dialogs.ask_pool_resize, False)

    def action_autoscale(self) -> None:
        self._with_workers(dialogs.ask_autoscale)

    def action_add_consumer(self) -> None:
        self._with_workers(dialogs.ask_add_consumer)

    def action_cancel_consumer(self) -> None:
        self._with_workers(dialogs.ask_cancel_consumer)

    def action_pool_restart(self) -> None:
        self._with_workers(dialogs.confirm_pool_restart)

    def action_shutdown(self) -> None:
        self._with_workers(dialogs.confirm_shutdown)

    def action_rate_limit(self) -> None:
        hosts = self.selected_workers()
        if hosts:
            limits.ask_rate_limit(self.app, workers=hosts)

    def action_time_limit(self) -> None:
        hosts = self.selected_workers()
        if hosts:
            limits.ask_time_limit(self.app, workers=hosts)
