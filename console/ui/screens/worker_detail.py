"""Worker detail (`enter` on a worker): what its heartbeats and every
inspection say, each piece with how old it is."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ...core.insight import NOT_INSTALLED, Extension, mib, seconds
from ...core.secrets import mask_url
from ...core.views import InspectionEntry, WorkerView, parse_registered, pool_view, queue_names
from ..format import ago, clock_time, count, literal, one_line, short_name, status_text
from ...core.export import ExportTable
from .detail import DETAIL_BINDINGS, DetailScreen, row_parts
from ..exporting import detail_export, object_fields
from ..keys.workers import WORKER_BINDINGS, WORKER_MUTATING, WorkerKeys

MAX_LISTED = 50  # per task list; the heading gives the full count
SECTIONS = ("summary", "stuck", "pool", "inside", "queues", "totals", "active", "reserved",
            "scheduled", "revoked", "registered", "conf")


def section_title(title: str, entry: InspectionEntry | None, now: float) -> Text:
    """``pool · stats 3.0s ago``, or why the data is missing or old."""
    text = Text(title, style="bold")
    if entry is None:
        return text.append("  not inspected yet (ctrl+r asks now)", style="dim")
    if entry.reply is None:
        return text.append(f"  {one_line(entry.error or 'no reply', 200)}", style="bold red")
    text.append(f"  {ago(now - entry.at)} ago", style="dim")
    if entry.error:
        text.append(f"  last round: {one_line(entry.error, 200)}", style="yellow")
    return text


def _grid() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    return table


def _table(*columns: str) -> Table:
    table = Table(box=None, padding=(0, 2), show_edge=False, header_style="bold dim")
    for column in columns:
        table.add_column(column, overflow="ellipsis", no_wrap=True)
    return table


def _reply(entry: InspectionEntry | None) -> Any:
    return entry.reply if entry is not None else None


class WorkerDetailScreen(WorkerKeys, DetailScreen):
    TITLE = "Worker"
    MUTATING = WORKER_MUTATING
    BINDINGS = [*DETAIL_BINDINGS, *WORKER_BINDINGS,
                Binding("w", "stack", "Stacks", show=False, id="worker.stack",
                        tooltip="What is it doing: the live Python stack of every process "
                                "of this worker (needs the companion extension)")]
    DEFAULT_CSS = """
    WorkerDetailScreen VerticalScroll { height: 1fr; padding: 0 1; }
    WorkerDetailScreen .section { margin: 1 0 0 0; }
    """

    def __init__(self, hostname: str):
        super().__init__()
        self.hostname = hostname
        self._extension: Extension | None = None

    def export_view(self) -> ExportTable:
        worker = self.app.state.worker_view(self.hostname, self.app.now())
        if worker is None:
            raise LookupError("the worker is not known (yet)")
        return detail_export(f"worker-{self.hostname}", object_fields(worker),
                             self.export_about())

    def cursor_id(self) -> tuple[str, str] | None:
        return "worker", self.hostname

    def selected_workers(self) -> list[str]:
        return [self.hostname]

    def action_stack(self) -> None:
        self.app.open_stack(self.hostname)

    def compose_body(self) -> ComposeResult:
        yield self.filter_line()
        with VerticalScroll():
            for name in SECTIONS:
                yield Static(id=name, classes="section" if name != "summary" else "")
        yield self.filter_box("filter the task lists: text  name:email  id:4f2a",
                              id="worker-detail-filter")

    def draw(self) -> None:
        now = self.app.now()
        worker = self.app.state.worker_view(self.hostname, now)
        kinds = worker.inspections if worker is not None else {}
        self._extension = worker.extension if worker is not None else None
        self._show("summary", self._summary(worker, now))
        self._show_stuck(now)
        self._show("pool", self._pool(kinds.get("stats"), now))
        self._show("inside", self._inside(kinds.get("stats"), now))
        self._show("queues", self._queues(kinds.get("active_queues"), now))
        self._show("totals", self._totals(kinds.get("stats"), now))
        for kind in ("active", "reserved", "scheduled"):
            self._show(kind, self._requests(kind, kinds.get(kind), now))
        self._show("revoked", self._revoked(kinds.get("revoked"), now))
        self._show("registered", self._registered(kinds.get("registered"), now))
        self._show("conf", self._conf(kinds.get("conf"), now))

    def _show_stuck(self, now: float) -> None:
        """Its tasks STARTED past their type's threshold; shown only when
        there are some (core/triage.py)."""
        stuck = [s for s in self.app.state.stuck_views(now, worker=self.hostname)
                 if self.keep(row_parts(s.name, s.uuid))]
        section = self.query_one("#stuck", Static)
        section.display = bool(stuck)
        if not stuck:
            return
        title = Text(f"Stuck: {len(stuck)} task{'s' if len(stuck) != 1 else ''} running "
                     "past their threshold", style="bold yellow")
        table = _table("id", "task", "running for", "threshold")
        for item in stuck[:MAX_LISTED]:
            table.add_row(literal(item.uuid, 36), literal(short_name(item.name, 40)),
                          Text(ago(item.running_for)), Text(ago(item.threshold)))
        section.update(Group(title, table))

    def _show(self, section: str, renderable) -> None:
        self.query_one(f"#{section}", Static).update(renderable)

    # ------------------------------------------------------------ sections
    def _summary(self, worker: WorkerView | None, now: float) -> RenderableType:
        if worker is None:
            return Text.assemble("Worker ", literal(self.hostname), " is not known (yet): no "
                                 "heartbeat and no inspection reply.", style="yellow")
        grid = _grid()
        counts = worker.counts
        status = status_text(worker, now, long=True)
        beat = (f"{ago(now - worker.last_heartbeat)} ago (every {worker.freq:g}s)"
                if worker.last_heartbeat else "—")
        load = worker.loadavg
        grid.add_row("worker", literal(self.hostname, style="bold"))
        grid.add_row("status", status)
        grid.add_row("heartbeat", Text(beat))
        grid.add_row("load average", Text(" ".join(f"{x:.2f}" for x in load)
                                          if load else "—"))
        source = (f"from its {worker.active_source}"
                  + (f", {ago(now - worker.active_at)} ago" if worker.active_at else ""))
        grid.add_row("running now", Text(f"{count(worker.active)}  ({source})"))
        grid.add_row("processed", Text(f"{count(worker.processed)}  (the worker's lifetime "
                                       "counter, from its heartbeat)"))
        grid.add_row("seen here", Text(
            f"ok {counts.get('succeeded', 0):,}  failed {counts.get('failed', 0):,}  "
            f"retried {counts.get('retried', 0):,}  (task events this console received)"))
        grid.add_row("software", literal(worker.software, empty="—"))
        grid.add_row("known from", literal(", ".join(worker.seen_by), empty="—"))
        return grid

    def _pool(self, entry: InspectionEntry | None, now: float) -> RenderableType:
        stats = _reply(entry)
        title = section_title("Pool and process", entry, now)
        if not isinstance(stats, dict):
            return title
        pool = pool_view(stats)
        grid = _grid()
        raw = stats["pool"] if isinstance(stats.get("pool"), dict) else {}
        started = raw.get("max-concurrency", "—")
        now_size = pool.concurrency if pool else None
        grid.add_row("pool", literal(
            f"{(pool.name if pool else None) or '—'}, {count(now_size)} processes now"
            + (f" (started with concurrency {started})" if started != now_size else "")))
        grid.add_row("processes", literal(" ".join(str(p) for p in pool.processes)
                                          if pool and pool.processes else "—"))
        scaler = stats.get("autoscaler")
        if isinstance(scaler, dict):
            grid.add_row("autoscale", literal(f"max {scaler.get('max')}  min "
                                              f"{scaler.get('min')}  now {scaler.get('qty')}"))
        grid.add_row("prefetch", literal(count(stats.get("prefetch_count"))))
        grid.add_row("max tasks/child", literal(raw.get("max-tasks-per-child", "—")))
        uptime = stats.get("uptime")
        grid.add_row("main pid", literal(
            f"{stats.get('pid', '—')}   uptime "
            f"{ago(uptime) if isinstance(uptime, (int, float)) else '—'}"))
        broker = stats.get("broker") if isinstance(stats.get("broker"), dict) else {}
        if broker:
            grid.add_row("broker", literal(
                f"{broker.get('transport', '?')} {broker.get('hostname', '?')}:"
                f"{broker.get('port', '?')} vhost {broker.get('virtual_host', '?')}"))
        rusage = stats.get("rusage")
        if isinstance(rusage, dict):
            grid.add_row("rusage", literal(_rusage(rusage)))
        return Group(title, grid)

    def _inside(self, entry: InspectionEntry | None, now: float) -> RenderableType:
        """Per process memory, CPU, tasks run and the running task, versions
        and the config fingerprint: what the companion extension reports."""
        title = section_title("Inside the worker (companion extension)", entry, now)
        stats = _reply(entry)
        if not isinstance(stats, dict):
            return title
        extension = self._extension
        if extension is None:
            return Group(title, literal(NOT_INSTALLED, style="yellow"))
        grid = _grid()
        grid.add_row("versions", literal("  ".join(f"{k} {v}" for k, v in
                                                   extension.versions.items()), 200))
        grid.add_row("config", literal(f"fingerprint {extension.fingerprint or '—'}  "
                                       f"(extension v{extension.version}; w shows every "
                                       "process's live stack)", 200))
        table = _table("pid", "process", "RSS", "CPU", "tasks run", "running now")
        for column, width in zip(table.columns, (8, 7, 11, 9, 9), strict=False):
            column.min_width = width
        for process in extension.processes:
            running = ", ".join(f"{short_name(t.name, 40)} {t.id[:8]} for "
                                f"{seconds(t.elapsed)}" for t in process.tasks)
            table.add_row(literal(process.pid, 10), literal(process.role, 8),
                          literal(mib(process.rss)), literal(seconds(process.cpu)),
                          literal(count(process.tasks_run)),
                          literal(running or process.error or "—", 90))
        return Group(title, grid, table)

    def _queues(self, entry, now: float):
        queues = _reply(entry)
        title = section_title("Consumed queues", entry, now)
        if not isinstance(queues, list):
            return title
        names = [one_line(name, 60) for name in queue_names(queues)]
        return Group(title, literal(", ".join(names), style="" if names else "bold red",
                                    empty="none: this worker takes no tasks"))

    def _totals(self, entry, now: float):
        stats = _reply(entry)
        title = section_title("Tasks executed per type (worker's lifetime)", entry, now)
        total = stats.get("total") if isinstance(stats, dict) else None
        if not isinstance(total, dict):
            return title
        table = _table("task", "executed")
        rows = [(name, n) for name, n in sorted(total.items(),
                                                 key=lambda item: (-_int(item[1]), item[0]))
                if self.keep(row_parts(name, None))]
        for name, n in rows:
            table.add_row(literal(short_name(name, 60)), literal(count(n)))
        title.append_text(self.filtered_note(len(rows), len(total)))
        return Group(title, table) if total else Group(title, Text("none yet", style="dim"))

    def _requests(self, kind: str, entry, now: float):
        requests = _reply(entry)
        label = {"active": "Active (running)", "reserved": "Reserved (prefetched)",
                 "scheduled": "Scheduled (eta / countdown)"}[kind]
        if not isinstance(requests, list):
            return section_title(label, entry, now)
        title = section_title(f"{label}: {len(requests)}", entry, now)
        if not requests:
            return title
        table = _table("id", "task", "args", "started" if kind == "active" else
                       "eta" if kind == "scheduled" else "queue", "pid")
        kept = [item for item in requests if isinstance(item, dict)
                and self.keep(_request_parts(item))]
        title.append_text(self.filtered_note(len(kept), len(requests)))
        for item in kept[:MAX_LISTED]:
            request = item.get("request")
            request = request if isinstance(request, dict) else item
            delivery = request.get("delivery_info")
            when = (clock_time(request.get("time_start")) if kind == "active"
                    else one_line(item.get("eta"), 25) if kind == "scheduled"
                    else one_line(delivery.get("routing_key") if isinstance(delivery, dict)
                                  else None, 20))
            table.add_row(literal(request.get("id"), 36),
                          literal(short_name(request.get("name"), 36)),
                          literal(request.get("args"), 30), literal(when),
                          literal(request.get("worker_pid") or "—", 10))
        more = [Text(f"… and {len(kept) - MAX_LISTED} more", style="bold")] \
            if len(kept) > MAX_LISTED else []
        return Group(title, table, *more)

    def _revoked(self, entry, now: float):
        revoked = _reply(entry)
        if not isinstance(revoked, list):
            return section_title("Revoked (held by the worker)", entry, now)
        title = section_title(f"Revoked (held by the worker): {len(revoked)}", entry, now)
        shown = ", ".join(one_line(r, 36) for r in revoked[:8])
        more = f" … and {len(revoked) - 8} more" if len(revoked) > 8 else ""
        return Group(title, literal(shown + more, style="dim")) if revoked else title

    def _registered(self, entry, now: float):
        registered = _reply(entry)
        title = section_title("Registered task types and their limits", entry, now)
        if not isinstance(registered, list):
            return title
        table = _table("task", "rate limit", "soft limit", "hard limit")
        rows = [(name, limits) for name, limits in (parse_registered(e) for e in registered)
                if self.keep(row_parts(name, None, *limits.values()))]
        title.append_text(self.filtered_note(len(rows), len(registered)))
        for name, limits in rows:
            table.add_row(literal(short_name(name, 50)), literal(limits.get("rate_limit", "—")),
                          literal(limits.get("soft_time_limit", "—")),
                          literal(limits.get("time_limit", "—")))
        return Group(title, table)

    def _conf(self, entry, now: float):
        conf = _reply(entry)
        title = section_title("Configuration (changed from the defaults)", entry, now)
        if not isinstance(conf, dict):
            return title
        grid = _grid()
        for key in sorted(conf):
            # Celery censors secrets in its own reply; URLs are masked again
            # in case a setting it does not know holds one.
            grid.add_row(literal(key, 40), literal(mask_url(str(conf[key])), 160))
        return Group(title, grid)


def _request_parts(item: dict) -> dict[str, str]:
    request = item.get("request")
    request = request if isinstance(request, dict) else item
    return row_parts(request.get("name"), request.get("id"), request.get("args"),
                     request.get("kwargs"))


def _int(value) -> int:
    return value if isinstance(value, int) else 0


def _rusage(rusage: dict) -> str:
    def seconds(key: str) -> str:
        value = rusage.get(key)
        return f"{value:.1f}s" if isinstance(value, (int, float)) else "—"

    maxrss = rusage.get("maxrss")
    memory = f"{maxrss / 1024:.0f} MiB" if isinstance(maxrss, (int, float)) else "—"
    return (f"user {seconds('utime')}  system {seconds('stime')}  max RSS {memory}  "
            f"page faults {count(rusage.get('majflt'))} major / "
            f"{count(rusage.get('minflt'))} minor  context switches "
            f"{count(rusage.get('nvcsw'))} / {count(rusage.get('nivcsw'))}")
