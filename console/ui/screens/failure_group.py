"""One failure group (`enter` on Failures): the cause, where and when it
happened, its example's exception and traceback, and its newest tasks
(`enter` opens one)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ...core.failures import FailureGroupView, names_text
from ...core.records import shown_exception
from ..format import ago, clock_time, literal, one_line, safe_block
from .detail import DETAIL_BINDINGS, DetailScreen, row_parts


class FailureGroupScreen(DetailScreen):
    TITLE = "Failure group"
    BINDINGS = [
        *DETAIL_BINDINGS,
        Binding("e", "example", "Example task", id="group.example",
                tooltip="Task detail of the example (the group's newest task)"),
    ]
    DEFAULT_CSS = """
    FailureGroupScreen VerticalScroll { height: 1fr; padding: 0 1; }
    FailureGroupScreen .section { margin: 1 0 0 0; }
    FailureGroupScreen OptionList { height: auto; max-height: 20; }
    """

    def __init__(self, kind: str, gid: int):
        super().__init__()
        self.kind = kind
        self.gid = gid
        self.group: FailureGroupView | None = None

    def compose_body(self) -> ComposeResult:
        yield self.filter_line()
        yield self.filter_box("filter the tasks: text  name:email  id:4f2a",
                              id="group-filter")
        with VerticalScroll():
            yield Static(id="group-summary")
            yield Static(id="group-example", classes="section")
            yield Static(id="group-tasks-title", classes="section")
            yield OptionList(id="group-tasks")

    def draw(self) -> None:
        now = self.app.now()
        model = self.app.state
        group = model.failure_group_view(self.kind, self.gid) or self.group
        summary = self.query_one("#group-summary", Static)
        if group is None:
            summary.update(Text("This group is no longer kept (the newest 500 are).",
                                style="yellow"))
            return
        self.group = group
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        grid.add_row("cause", literal(group.cause, 400, style="bold red"))
        grid.add_row("kind", Text("failures" if group.kind == "failure" else "retries"))
        grid.add_row("count", Text(f"{group.count:,}"))
        grid.add_row("first seen", Text(f"{clock_time(group.first_seen)} "
                                        f"({ago(now - group.first_seen)} ago)"))
        grid.add_row("last seen", Text(f"{clock_time(group.last_seen)} "
                                       f"({ago(now - group.last_seen)} ago)"))
        grid.add_row("task types", literal(names_text(group.names, group.more_names), 400))
        grid.add_row("workers", literal(names_text(group.workers, group.more_workers), 400))
        summary.update(grid)
        example = literal(group.example, 64, style="cyan")
        parts: list[RenderableType] = [
            Text.assemble(("example ", "bold"), example, (" (e opens it)", "dim")),
                 literal(shown_exception(group.example_exception, group.example_traceback),
                         2000, style="red")]
        if group.example_traceback:
            parts.append(Syntax(safe_block(group.example_traceback), "pytb",
                                theme="ansi_dark", word_wrap=True))
        self.query_one("#group-example", Static).update(Group(*parts))
        self._draw_tasks(group)

    def _draw_tasks(self, group: FailureGroupView) -> None:
        held = {t.uuid: t for t in self.app.state.task_views(group.recent)}
        rows = []
        for uuid in group.recent:
            task = held.get(uuid)
            name = task.name if task else None
            cells = (task.state, task.worker) if task else ("not held (evicted)",)
            if self.keep(row_parts(name, uuid, *cells)):
                rows.append((uuid, name, cells))
        title = Text.assemble(
            ("Tasks", "bold"),
            f" — the newest {len(group.recent):,} of {group.count:,} (enter opens)",
            self.filtered_note(len(rows), len(group.recent)))
        self.query_one("#group-tasks-title", Static).update(title)
        options = self.query_one("#group-tasks", OptionList)
        wanted = [uuid for uuid, _, _ in rows]
        current = [options.get_option_at_index(i).id for i in range(options.option_count)]
        if wanted != current:
            options.clear_options()
            options.add_options(
                Option(literal(f"{uuid[:8]}  {one_line(name or '', 50)}  "
                               f"{'  '.join(one_line(c, 30) for c in cells if c)}"), id=uuid)
                for uuid, name, cells in rows)
            if rows:
                options.highlighted = 0
        options.display = bool(rows)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.app.open_task(event.option.id)

    def action_example(self) -> None:
        if self.group is not None and self.group.example:
            self.app.open_task(self.group.example)
