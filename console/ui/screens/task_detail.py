"""Task detail (`enter` on a task): every field, the timeline, the payloads."""

from __future__ import annotations

import ast
from datetime import datetime, timezone
from typing import Any

from rich.console import Group, RenderableType
from rich.pretty import Pretty
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import OptionList, Static, Tree
from textual.widgets.option_list import Option

from ...core.lookup import Lookup
from ...core.records import shown_exception
from ...core.views import TaskView
from ...core.export import ExportTable
from ...core.workflow import MAX_CHILDREN, MAX_NODES
from ..format import STATE_STYLES, ago, literal, literal_block, one_line, plural, safe_block
from ..widgets.workflow_tree import WorkflowTree
from .detail import DETAIL_BINDINGS, DetailScreen, row_parts
from ..exporting import detail_export, task_fields
from ..keys.tasks import TASK_BINDINGS, TASK_MUTATING, TaskKeys

MAX_CHILDREN_LISTED = 200


def absolute(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d} UTC"


def pretty(value):
    """Celery sends args/kwargs/result as repr strings: show them as data
    when they parse, as text when they don't."""
    if value is None:
        return Text("—", style="dim")
    if isinstance(value, str):
        try:
            return Pretty(ast.literal_eval(value), max_length=50, max_string=500)
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            return literal(value, 2000)
    return Pretty(value, max_length=50, max_string=500)


class TaskDetailScreen(TaskKeys, DetailScreen):
    TITLE = "Task"
    BINDINGS = [
        *DETAIL_BINDINGS,
        Binding("p", "parent", "Parent", id="detail.parent", tooltip="Open the parent task"),
        Binding("o", "root", "Root", id="detail.root", tooltip="Open the root task"),
        Binding("O", "rerun_of", "Re-run of", show=False, id="detail.rerun_of",
                tooltip="Open the task this one re-ran"),
        Binding("R", "last_rerun", "Last re-run", show=False, id="detail.last_rerun",
                tooltip="Open the last re-run of this task"),
        *TASK_BINDINGS,
    ]
    MUTATING = TASK_MUTATING
    HELP_NOTES = (
        "Workflow: the task's whole workflow from its root (root_id), each task under "
        "the one that sent it (parent_id) — a chain's links in a line, a group's or a "
        "chord's members side by side, a chord's callback under celery.chord_unlock (or "
        "the member that finished last) — with state, name, runtime and retries. A "
        "retry is the same task again: one node, 'retried N×'. tab moves into the "
        "tree; there enter opens a task, space folds, shift+← goes to the parent.",
        f"The tree is built when this screen opens and whenever tasks changed (at most "
        f"once a second), from the tasks held: at most {MAX_CHILDREN:,} children of a "
        f"node and {MAX_NODES:,} tasks in all, the rest counted; a root or parent not "
        "held is said so. Celery's events name no group: a node shows one only when "
        "its events carry a 'group' field.",
    )
    DEFAULT_CSS = """
    TaskDetailScreen VerticalScroll { height: 1fr; padding: 0 1; }
    TaskDetailScreen .section { margin: 1 0 0 0; }
    TaskDetailScreen #children { height: auto; max-height: 10; }
    TaskDetailScreen #workflow { height: auto; max-height: 16; overflow-x: hidden; }
    """

    def __init__(self, uuid: str):
        super().__init__()
        self.uuid = uuid
        self.lookup: Lookup | None = None
        self._looking = False
        # The model's task version the workflow was last built at: the
        # scan runs once per change, at most once a redraw (a second).
        self._workflow_seen: int | None = None

    def _not_held(self) -> RenderableType:
        """A task not held: the result backend and the workers are asked
        (once, off the UI thread)."""
        head = Text.assemble("Task ", literal(self.uuid), " is not held (evicted, or "
                             "never seen by this console).", style="yellow")
        if self.lookup is None:
            if not self._looking:
                self._looking = True
                self.run_worker(self._look_up, thread=True, group="lookup",
                                exit_on_error=False)
            return Group(head, Text("asking the result backend and the workers…",
                                    style="dim"))
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for label, value in self.lookup.lines():
            # Results and tracebacks are cluster text: literal, whole.
            table.add_row(literal(label), literal_block(value)
                          if label == "traceback" else literal(value, 2000))
        return Group(head, Text(""), table)

    def _look_up(self) -> None:
        try:
            found = self.app.read_lookup(self.uuid)
        except Exception as exc:  # a bug of ours: said, and logged by the worker
            found = Lookup(self.uuid, None, workers_error=f"{type(exc).__name__}: {exc}")
        self.app.call_from_thread(self._looked_up, found)

    def _looked_up(self, found: Lookup) -> None:
        self.lookup = found
        if self.app.screen is self:
            self.draw()

    def compose_body(self) -> ComposeResult:
        yield self.filter_line()
        yield self.filter_box("filter the children: text  name:email  id:4f2a",
                              id="task-detail-filter")
        with VerticalScroll():
            yield Static(id="summary")
            yield Static(id="timeline", classes="section")
            yield Static(id="workflow-title", classes="section")
            yield WorkflowTree(id="workflow")
            yield Static(id="payload", classes="section")
            yield Static(id="failure", classes="section")
            yield Static("[b]Children[/b] (enter opens)", id="children-title",
                         classes="section")
            yield OptionList(id="children")

    def draw(self) -> None:
        model = self.app.state
        task = model.task_view(self.uuid)
        now = self.app.now()
        summary = self.query_one("#summary", Static)
        if task is None:
            summary.update(self._not_held())
            return
        summary.update(self._summary(task))
        self.query_one("#timeline", Static).update(self._timeline(task, now))
        self._draw_workflow(model)
        self.query_one("#payload", Static).update(Group(
            Text("args", style="bold"), pretty(task.args),
            Text("kwargs", style="bold"), pretty(task.kwargs),
            Text("result", style="bold"), pretty(task.result)))
        failure = self.query_one("#failure", Static)
        if task.exception or task.traceback:
            parts: list[RenderableType] = [
                Text("exception", style="bold red"),
                literal(shown_exception(task.exception, task.traceback), 2000, style="red")]
            if task.traceback:
                parts += [Text("traceback", style="bold red"),
                          Syntax(safe_block(task.traceback), "pytb", theme="ansi_dark",
                                 word_wrap=True)]
            failure.update(Group(*parts))
            failure.display = True
        else:
            failure.display = False
        self._draw_children(model)

    def _summary(self, task: TaskView) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        state = Text(task.state, style=STATE_STYLES.get(task.state, ""))
        if task.worker_lost:
            state.append("  worker lost", style="bold red")
        if task.console_action == "purged":
            state.append("  purged: its queue was purged before a worker took it; it will "
                         "never run", style="bold magenta")
        elif task.console_action:
            state.append(f"  {task.console_action} (no worker has confirmed it yet)",
                         style="bold magenta")
        rows: list[tuple[str, object]] = [
            ("name", one_line(task.name, 200)), ("uuid", task.uuid), ("state", state),
            ("worker", task.worker or "—"), ("sent by", task.client or "—"),
            ("queue", task.queue or task.routing_key or "—"),
            ("retries", str(task.retries if task.retries is not None else "—")),
            ("eta", str(task.eta or "—")), ("expires", str(task.expires or "—")),
            ("runtime", f"{task.runtime:.3f} s" if isinstance(task.runtime, (int, float))
             else "—"),
            ("parent", f"{task.parent_id or '—'}" + ("  (p opens)" if task.parent_id else "")),
            ("root", f"{task.root_id or '—'}"
             + ("  (o opens)" if task.root_id and task.root_id != task.uuid else "")),
        ]
        rerun_of, reruns = self.app.state.rerun_links(task.uuid)
        if rerun_of:
            rows.append(("re-run of", f"{rerun_of}  (O opens)"))
        if reruns:
            rows.append(("re-run as", ", ".join(reruns[-3:])
                         + (f" (+{len(reruns) - 3})" if len(reruns) > 3 else "")
                         + "  (R opens the last)"))
        if task.state == "REVOKED":
            rows.append(("revoked", f"terminated={task.terminated} signal={task.signum} "
                                    f"expired={task.expired}"))
        for label, value in rows:
            # A str cell would be read as Rich markup: a task name holding
            # "[/b]" raised MarkupError and took the app down.
            table.add_row(label, literal(value))
        return table

    def _timeline(self, task: TaskView, now: float) -> Table:
        table = Table(title="timeline", title_justify="left", title_style="bold",
                      box=None, padding=(0, 2), show_edge=False)
        stamps = task.timeline
        retried = any(name == "retried" for name, _ in stamps)
        table.add_column("event")
        if retried:
            # Each retry in order: the attempt an event belongs to.
            table.add_column("attempt", justify="right")
        table.add_column("at (UTC)")
        table.add_column("since first", justify="right")
        table.add_column("ago", justify="right")
        first = stamps[0][1] if stamps else 0.0  # not read when there are none
        attempt = 1
        for name, stamp in stamps:
            cells: list[Text | str] = [literal(name), absolute(stamp),
                                       f"+{stamp - first:.3f}s", ago(now - stamp)]
            if retried:
                cells.insert(1, str(attempt))
            table.add_row(*cells)
            if name == "retried":
                attempt += 1
        return table

    def _draw_workflow(self, model: Any) -> None:
        """The whole workflow from its root (chains, groups, chords,
        retries); shown only for a task that is part of one."""
        version = model.versions.tasks
        if version == self._workflow_seen:
            return
        self._workflow_seen = version
        view = model.workflow_view(self.uuid)
        title = self.query_one("#workflow-title", Static)
        tree = self.query_one("#workflow", WorkflowTree)
        shown = view is not None and not view.trivial
        title.display = tree.display = shown
        if view is None or not shown:
            return
        line = Text.assemble(("Workflow", "bold"), f"  {plural(view.members, 'task')} from "
                             f"root ", (one_line(view.root.uuid)[:8], "cyan"),
                             ("  tab to the tree: enter opens, space folds", "dim"))
        if view.hidden:
            line.append(f"  {view.hidden:,} not shown (past {MAX_CHILDREN:,} children of a "
                        f"node or {MAX_NODES:,} in all)", style="yellow")
        title.update(line)
        # Not focused for you: the page keeps its scroll keys (tab reaches
        # the tree, as it does the children list).
        tree.show(view)

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        event.stop()
        self._open(event.node.data)

    def _draw_children(self, model: Any) -> None:
        every = model.children_views(self.uuid, MAX_CHILDREN_LISTED)
        children = [c for c in every if self.keep(row_parts(c.name, c.uuid, c.state))]
        title = Text.assemble(("Children", "bold"), " (enter opens)",
                              self.filtered_note(len(children), len(every)))
        self.query_one("#children-title", Static).update(title)
        options = self.query_one("#children", OptionList)
        wanted = [c.uuid for c in children]
        current = [options.get_option_at_index(i).id for i in range(options.option_count)]
        if wanted != current:
            options.clear_options()
            options.add_options(Option(literal(f"{c.uuid[:8]}  {one_line(c.name, 50)}  {c.state}"),
                                       id=c.uuid) for c in children)
            if children:
                options.highlighted = 0
        self.query_one("#children-title").display = bool(every)
        options.display = bool(children)

    # ------------------------------------------------------------- actions
    def export_view(self) -> ExportTable:
        views = self.app.state.task_views([self.uuid])
        if views:
            pairs = task_fields(views[0])
        elif self.lookup is not None:
            pairs = [(f"backend {label}", value) for label, value in self.lookup.lines()]
        else:
            raise LookupError("the task is not held and its lookup has not answered yet")
        return detail_export(f"task-{self.uuid}", pairs, self.export_about())

    def cursor_id(self) -> tuple[str, str] | None:
        return "task id", self.uuid

    def selected_tasks(self) -> tuple[list[TaskView], int]:
        return self.app.state.task_views([self.uuid]), 0

    def _open(self, uuid: str | None) -> None:
        if not uuid or uuid == self.uuid:
            return
        # Held or not: one not held is looked up in the backend.
        self.app.push_screen(TaskDetailScreen(uuid))

    def _held(self) -> TaskView | None:
        return self.app.state.task_view(self.uuid)

    def action_parent(self) -> None:
        task = self._held()
        self._open(task.parent_id if task else None)

    def action_root(self) -> None:
        task = self._held()
        self._open(task.root_id if task else None)

    def action_rerun_of(self) -> None:
        self._open(self.app.state.rerun_links(self.uuid)[0])

    def action_last_rerun(self) -> None:
        reruns = self.app.state.rerun_links(self.uuid)[1]
        self._open(reruns[-1] if reruns else None)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._open(event.option.id)
