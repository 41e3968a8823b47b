"""Workers (`1`): one row per worker, whichever way we learned of it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, Sparkline, Static

from ..format import ago, count, literal, status_text
from ...core.filters import WORKER_SPEC, RowFilter, worker_parts
from ..widgets.vim_table import VimTable, plain_cell
from .base import ConsoleScreen
from .filtering import Filtered
from ..keys.workers import WORKER_BINDINGS, WORKER_MUTATING, WorkerKeys

COLUMNS = (
    # What an operator needs first, for 80 columns (←/→ scroll to the rest).
    ("", "mark", 1), ("worker", "hostname", 18), ("status", "status", 11), ("active", "active", 6),
    ("beat", "heartbeat", 5), ("processed", "processed", 9), ("ok", "succeeded", 6),
    ("failed", "failed", 6), ("retry", "retried", 5), ("load", "load", 4),
    ("pool", "pool", 10), ("queues", "queues", 16),
)


SPARK_SECONDS = 120


class WorkersScreen(WorkerKeys, Filtered[RowFilter], ConsoleScreen):
    TITLE = "Workers"
    # Heartbeat ages change every second: redraw each tick (rows are few).
    WATCHES = ()
    MUTATING = WORKER_MUTATING
    FILTER_SPEC = WORKER_SPEC
    HELP_NOTES = (
        "Where each number comes from:",
        "active — tasks running now: the fresher of the worker's heartbeat and the "
        "last `active` inspection (worker detail says which, and how old).",
        "processed — the worker's own lifetime counter, from its heartbeat (it restarts "
        "at 0 with the worker, and lags by up to one heartbeat).",
        "ok, failed, retry — task events this console saw since it started: they can "
        "exceed processed when the worker restarted during the session.",
        "beat — how long ago the last heartbeat arrived; status goes offline when "
        "heartbeats stop for twice their interval.",
    )
    BINDINGS = [
        Binding("enter", "open", "Detail", id="workers.detail",
                tooltip="Worker detail: pool, queues, tasks, limits, conf"),
        Binding("space", "mark", "Mark", show=False, id="workers.mark",
                tooltip="Mark / unmark the worker (actions act on the marked ones)"),
        Binding("slash", "filter", "Filter", key_display="/", show=False, id="workers.filter",
                tooltip="Filter: text, worker:, status:online,offline, queue:, pool:"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="workers.clear",
                tooltip="Clear the filter"),
        *WORKER_BINDINGS,
    ]

    def __init__(self) -> None:
        super().__init__()
        self.marks: set[str] = set()

    def compose_body(self) -> ComposeResult:
        # A handful of workers: DataTable is the right tool here.
        title = Static(id="workers-title")
        title.display = False
        yield title
        table = VimTable(id="workers", cursor_type="row", zebra_stripes=True)
        for label, key, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        empty = Static(id="workers-empty")
        empty.display = False
        yield empty
        yield table
        yield self.filter_box("filter: text  worker:alpha  status:offline  queue:emails  "
                              "pool:prefork", id="workers-filter")
        with Horizontal(id="throughput"):
            with Vertical():
                yield Label("", id="ok-label")
                yield Sparkline([], id="ok-spark")
            with Vertical():
                yield Label("", id="failed-label")
                yield Sparkline([], id="failed-spark")

    def rows(self, now: float) -> list[tuple[str, tuple[object, ...]]]:
        rows: list[tuple[str, tuple[object, ...]]] = []
        for view in self.model.worker_views(now):
            if self.row_filter and not self.row_filter.matches(worker_parts(view)):
                continue
            counts = view.counts
            load = view.loadavg
            flag = Text("●", style="bold yellow") if view.hostname in self.marks else ""
            rows.append((view.hostname, (
                flag, literal(view.hostname), status_text(view, now), count(view.active),
                ago(now - view.last_heartbeat) if view.last_heartbeat else "—",
                count(view.processed), count(counts.get("succeeded", 0)),
                count(counts.get("failed", 0)), count(counts.get("retried", 0)),
                f"{load[0]:.2f}" if load else "—",
                view.pool.label if view.pool else "—",
                literal(", ".join(view.queues)),
            )))
        return rows

    def refresh_view(self, now: float) -> None:
        self._draw_throughput(now)
        self._draw_empty(now)
        table = self.query_one(VimTable)
        keys = [label for _, label, _ in COLUMNS]
        # Every row is added with its hostname as key: none is None.
        present = {row.value for row in table.rows if row.value is not None}
        rows = self.rows(now)
        for hostname, values in rows:
            if hostname not in present:
                table.add_row(*values, key=hostname)
                continue
            for key, value in zip(keys, values, strict=False):
                if table.get_cell(hostname, key) != plain_cell(value):
                    table.update_cell(hostname, key, value)
        gone = present - {h for h, _ in rows}
        if gone:
            # A row removed above the cursor would move it onto another
            # worker: it stays on the one the operator chose.
            chosen = table.cursor_key
            for row_key in gone:
                table.remove_row(row_key)
            if chosen is not None and chosen not in gone:
                table.move_cursor(row=table.get_row_index(chosen), animate=False)


    def _draw_empty(self, now: float) -> None:
        """No worker to list: say why, so an empty table never reads as
        "the cluster has no workers" when the console cannot see it."""
        line = self.query_one("#workers-empty", Static)
        if self.model.known_workers():
            line.display = False
            return
        connection = self.model.header_view(now).connection
        text = Text(no_wrap=False)
        if connection.state != "connected":
            text.append("No worker seen: the broker ", style="bold red")
            text.append_text(literal(self.app.target.masked_url, style="bold"))
            text.append(" cannot be reached", style="bold red")
            if connection.error:
                text.append_text(literal(f" ({connection.error})", style="red"))
            text.append(". The console keeps retrying; workers appear once it connects.",
                        style="red")
        else:
            text.append("No worker yet: none has sent a heartbeat or answered an "
                        "inspection on ", style="yellow")
            text.append_text(literal(self.app.target.masked_url, style="bold"))
            text.append(". Start one (celery -A proj worker -E), or check the broker, "
                        "vhost or db.", style="yellow")
        line.update(text)
        line.display = True

    # ------------------------------------------------------------- actions
    def _cursor_host(self) -> str | None:
        return self.query_one(VimTable).cursor_key

    def cursor_id(self) -> tuple[str, str] | None:
        hostname = self.query_one(VimTable).cursor_key
        return ("worker", hostname) if hostname else None

    def selected_workers(self) -> list[str]:
        known = set(self.model.known_workers())
        marked = sorted(self.marks & known)
        if marked:
            return marked
        host = self._cursor_host()
        return [host] if host else []

    # ------------------------------------------------------------- filter
    def filter_changed(self) -> None:
        self._draw_filter()
        self.tick(self.app.now(), force=True)

    def _draw_filter(self) -> None:
        # Shown only while a filter (or its error) is on: the plain screen
        # keeps every row for workers.
        title = self.query_one("#workers-title", Static)
        line = self.filter_title(Text(no_wrap=True, overflow="ellipsis"))
        if self.row_filter.text:
            line.append("  escape clears", style="dim")
        title.update(line)
        title.display = bool(line.plain)

    def filter_focus(self) -> None:
        self.query_one(DataTable).focus()

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
            # The app opens detail screens: no screen imports another.
            self.app.open_worker(host)

    def _draw_throughput(self, now: float) -> None:
        ok, failed = self.model.throughput(now, SPARK_SECONDS)
        self.query_one("#ok-spark", Sparkline).data = ok
        self.query_one("#failed-spark", Sparkline).data = failed
        self.query_one("#ok-label", Label).update(
            f"succeeded/s, last {SPARK_SECONDS // 60} min: now {ok[-1]}, peak {max(ok)}")
        self.query_one("#failed-label", Label).update(
            f"failed/s, last {SPARK_SECONDS // 60} min: now {failed[-1]}, peak {max(failed)}")
