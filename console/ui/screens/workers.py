"""Workers (`1`): one row per worker, whichever way we learned of it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, Sparkline

from ...core.status import pool_name
from ..format import ago, count
from ..widgets.vim_table import VimTable
from .base import ConsoleScreen
from .worker_keys import WORKER_BINDINGS, WORKER_MUTATING, WorkerKeys

COLUMNS = (
    ("", "mark", 1), ("worker", "hostname", 18), ("status", "status", 11), ("active", "active", 6),
    ("processed", "processed", 9), ("ok", "succeeded", 6), ("failed", "failed", 6),
    ("retry", "retried", 5), ("load", "load", 4), ("beat", "heartbeat", 5),
    ("pool", "pool", 10), ("queues", "queues", 16),
)


SPARK_SECONDS = 120


class WorkersScreen(WorkerKeys, ConsoleScreen):
    TITLE = "Workers"
    # Heartbeat ages change every second: redraw each tick (rows are few).
    WATCHES = ()
    MUTATING = WORKER_MUTATING
    BINDINGS = [
        Binding("enter", "open", "Detail", id="workers.detail",
                tooltip="Worker detail: pool, queues, tasks, limits, conf"),
        Binding("space", "mark", "Mark", show=False, id="workers.mark",
                tooltip="Mark / unmark the worker (actions act on the marked ones)"),
        *WORKER_BINDINGS,
    ]

    def __init__(self) -> None:
        super().__init__()
        self.marks: set[str] = set()

    def compose_body(self) -> ComposeResult:
        # A handful of workers: DataTable is the right tool here.
        table = VimTable(id="workers", cursor_type="row", zebra_stripes=True)
        for label, key, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        yield table
        with Horizontal(id="throughput"):
            with Vertical():
                yield Label("", id="ok-label")
                yield Sparkline([], id="ok-spark")
            with Vertical():
                yield Label("", id="failed-label")
                yield Sparkline([], id="failed-spark")

    def rows(self, now: float) -> list[tuple[str, tuple]]:
        model = self.model
        with model.lock:
            rows = []
            for hostname, worker in sorted(model.workers.items()):
                inspections = model.inspections.get(hostname, {})
                stats = _reply(inspections.get("stats")) or {}
                queues = _reply(inspections.get("active_queues")) or []
                pool = stats.get("pool") or {}
                status = worker_status(worker, now)
                counts = worker.counts
                load = worker.loadavg
                flag = Text("●", style="bold yellow") if hostname in self.marks else ""
                rows.append((hostname, (
                    flag, hostname, status, count(worker.active),
                    count(worker.processed), count(counts.get("succeeded", 0)),
                    count(counts.get("failed", 0)), count(counts.get("retried", 0)),
                    f"{load[0]:.2f}" if isinstance(load, (list, tuple)) and load else "—",
                    ago(now - worker.last_heartbeat) if worker.last_heartbeat else "—",
                    _pool(pool),
                    ", ".join(sorted(q.get("name", "?") for q in queues if isinstance(q, dict))),
                )))
        return rows

    def refresh_view(self, now: float) -> None:
        self._draw_throughput(now)
        table = self.query_one(DataTable)
        keys = [label for _, label, _ in COLUMNS]
        present = {row.value for row in table.rows}
        rows = self.rows(now)
        for hostname, values in rows:
            if hostname not in present:
                table.add_row(*values, key=hostname)
                continue
            for key, value in zip(keys, values):
                if table.get_cell(hostname, key) != value:
                    table.update_cell(hostname, key, value)
        gone = present - {h for h, _ in rows}
        for hostname in gone:
            table.remove_row(hostname)


    # ------------------------------------------------------------- actions
    def _cursor_host(self) -> str | None:
        return self.query_one(VimTable).cursor_key

    def selected_workers(self) -> list[str]:
        with self.model.lock:
            known = set(self.model.workers)
        marked = sorted(self.marks & known)
        if marked:
            return marked
        host = self._cursor_host()
        return [host] if host else []

    def action_mark(self) -> None:
        host = self._cursor_host()
        if host:
            self.marks.symmetric_difference_update({host})
            self.query_one(DataTable).action_cursor_down()
            self.tick(self.app.now(), force=True)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # The table takes enter before the screen's binding sees it.
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        host = self._cursor_host()
        if host:
            from .worker_detail import WorkerDetailScreen

            self.app.push_screen(WorkerDetailScreen(host))

    def _draw_throughput(self, now: float) -> None:
        model = self.model
        with model.lock:
            ok = model.state_rates["SUCCESS"].history(now, SPARK_SECONDS)
            failed = model.state_rates["FAILURE"].history(now, SPARK_SECONDS)
        self.query_one("#ok-spark", Sparkline).data = ok
        self.query_one("#failed-spark", Sparkline).data = failed
        self.query_one("#ok-label", Label).update(
            f"succeeded/s, last {SPARK_SECONDS // 60} min: now {ok[-1]}, peak {max(ok)}")
        self.query_one("#failed-label", Label).update(
            f"failed/s, last {SPARK_SECONDS // 60} min: now {failed[-1]}, peak {max(failed)}")


def worker_status(worker, now: float, long: bool = False) -> Text:
    if worker.alive(now):
        return Text("online", style="bold green")
    if worker.last_heartbeat is None and worker.offline_since is None:
        return Text("unknown: seen by inspection only, no heartbeat yet" if long
                    else "unknown", style="yellow")
    since = worker.offline_since or worker.heartbeat_expires() or now
    return Text(f"{'offline for' if long else 'off'} {ago(now - since)}", style="bold red")


def _reply(entry):
    return entry[1] if entry else None


def _pool(pool: dict) -> str:
    name = pool_name(pool.get("implementation"))
    size = pool.get("max-concurrency")
    if not name:
        return "—"
    return f"{name} ×{size}" if size else name
