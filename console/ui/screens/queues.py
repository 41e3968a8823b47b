"""Queues (`3`): depths from the broker, and purge behind a typed confirmation."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ...core.filters import QUEUE_SPEC, RowFilter
from ...core.views import QueueView, Topic
from ..format import ago, count, literal, one_line, plural
from ..dialogs.queues import purge_dialog
from ..widgets.vim_table import VimTable
from .base import ConsoleScreen
from .filtering import Filtered

COLUMNS = (("", 1), ("queue", 22), ("messages", 10), ("consumers", 9),
           ("trend", 12), ("net/s", 7), ("consumed by", 30), ("probed", 6))


class QueuesScreen(Filtered[RowFilter], ConsoleScreen):
    TITLE = "Queues"
    WATCHES = (Topic.QUEUES, Topic.INSPECT)
    MUTATING = frozenset({"purge", "purge_many"})
    FILTER_SPEC = QUEUE_SPEC
    BINDINGS = [
        Binding("p", "purge", "Purge", id="queues.purge",
                tooltip="Purge the queue under the cursor (confirm)"),
        Binding("P", "purge_many", "Purge marked/all", id="queues.purge_many",
                tooltip="Purge the marked queues, or every known task queue (confirm)"),
        Binding("space", "mark", "Mark", id="queues.mark", tooltip="Mark / unmark the queue"),
        Binding("s", "sort", "Sort", id="queues.sort", tooltip="Sort by depth / by name"),
        Binding("slash", "filter", "Filter", key_display="/", id="queues.filter",
                tooltip="Filter: text (the queue name), name:, worker: (consumed by)"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="queues.clear",
                tooltip="Clear the filter"),
        Binding("enter", "open", "Detail", id="queues.detail",
                tooltip="Queue detail: depth history, consumers, and the messages it holds"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.marks: set[str] = set()
        self.by_depth = True

    def compose_body(self) -> ComposeResult:
        yield Static(id="queues-title")
        table = VimTable(id="queues", cursor_type="row", zebra_stripes=True)
        for label, width in COLUMNS:
            table.add_column(label, key=label or "mark", width=width)
        yield table
        yield self.filter_box("filter: queue name contains…  worker:alpha", id="queues-filter")

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    def visible_queues(self) -> list[QueueView]:
        chosen = self.row_filter
        queues = [q for q in self.model.queue_views()
                  if not chosen or chosen.matches(queue_parts(q))]
        if self.by_depth:
            queues.sort(key=lambda q: (-(q.messages or 0), q.name))
        return queues

    def refresh_view(self, now: float) -> None:
        queues = self.visible_queues()
        table = self.table
        cursor = self._cursor_name()
        table.clear()
        for queue in queues:
            rate = queue.net_rate
            flag = Text("●", style="bold yellow") if queue.name in self.marks else ""
            table.add_row(
                flag, literal(queue.name), _messages(queue), _consumers(queue),
                queue.trend, "" if rate is None else f"{rate:+.1f}",
                literal(", ".join(queue.consumed_by)) if queue.consumed_by
                else Text("—", style="dim"),
                ago(now - queue.probed_at) if queue.probed_at else "—", key=queue.name)
        if cursor is not None and cursor in table.rows:
            table.move_cursor(row=table.get_row_index(cursor), animate=False)
        self._draw_title(queues)

    def _draw_title(self, queues: list[QueueView]) -> None:
        line = Text(no_wrap=True, overflow="ellipsis")
        self.filter_title(line)
        total = sum(q.messages or 0 for q in queues)
        line.append(f" {plural(len(queues), 'queue')}, {plural(total, 'message')}",
                    style="bold")
        if self.marks:
            line.append(f"  marked: {len(self.marks)}", style="bold")
        line.append(f"  sort: {'depth' if self.by_depth else 'name'}")
        if self.app.options.read_only:
            line.append("  🔒 read-only: purge disabled", style="yellow")
        self.query_one("#queues-title", Static).update(line)

    def cursor_id(self) -> tuple[str, str] | None:
        name = self._cursor_name()
        return ("queue", name) if name else None

    def _cursor_name(self) -> str | None:
        return self.query_one(VimTable).cursor_key

    # ------------------------------------------------------------- actions
    def action_mark(self) -> None:
        name = self._cursor_name()
        if name:
            self.marks.symmetric_difference_update({name})
            self.table.action_cursor_down()
            self.tick(self.app.now(), force=True)

    def action_sort(self) -> None:
        self.by_depth = not self.by_depth
        self.tick(self.app.now(), force=True)

    def filter_focus(self) -> None:
        self.table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # The table takes enter before the screen's binding sees it.
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        name = self._cursor_name()
        if name:
            # The app opens detail screens: no screen imports another.
            self.app.open_queue(name)

    def action_purge(self) -> None:
        name = self._cursor_name()
        if name:
            self.confirm_purge([name])

    def action_purge_many(self) -> None:
        if self.marks:
            names = sorted(self.marks)
        else:
            names = [q.name for q in self.model.queue_views() if q.exists is not False]
        if names:
            self.confirm_purge(names)

    def confirm_purge(self, names: list[str]) -> None:
        shown = {q.name for q in self.visible_queues()}
        hidden = [n for n in names if n not in shown]
        note = (f"{len(hidden)} of them hidden by the filter: "
                f"{', '.join(one_line(n, 40) for n in hidden)}"
                if hidden and self.row_filter else "")
        purge_dialog(self.app, names, note=note)


def _messages(queue: QueueView) -> Text:
    if queue.error:
        return Text("error", style="bold red")
    if queue.exists is False:
        return Text("missing", style="yellow")
    return Text(count(queue.messages), style="bold" if queue.messages else "")


def _consumers(queue: QueueView) -> Text:
    consumers = queue.consumer_count
    if queue.unattended:
        return Text(f"{count(consumers)} ⚠", style="bold red")  # waiting, nobody reading
    return Text(count(consumers))


def queue_parts(queue: QueueView) -> dict[str, str]:
    """A queue row as the Queues filter reads it."""
    return {"name": queue.name.lower(), "worker": " ".join(queue.consumed_by).lower()}
