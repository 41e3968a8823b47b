"""Queue detail (`enter` on a queue): depth history, consumers, and what the
queue holds — its messages grouped by task name and the next ones a worker
will get — with `p` to remove only the matching messages, `m` to move them
and `P` for the whole-queue purge.

The messages are read when the screen opens and on `ctrl+r`, never on a
timer: on RabbitMQ a read takes the messages for a moment (core.surgery
says how), so it happens only when the operator asks.
"""

from __future__ import annotations

import shlex
import time

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Label, Sparkline, Static

from ...core.messages import MESSAGE_SPEC, NOT_A_TASK, Peek, QueuedMessage
from ...core.surgery import default_destination
from ..dialogs.queues import SurgeryDialog, purge_dialog
from ..format import ago, count, literal, short_name
from ..widgets.vim_table import VimTable
from .detail import DETAIL_BINDINGS, DetailScreen

# Widths follow the content, which every cell bounds (a name at 30, args
# at 28): a 50,000-message group fits at 80 columns.
GROUP_COLUMNS = ("task", "count", "share", "oldest eta", "newest eta", "sample args")
MESSAGE_COLUMNS = ("#", "task", "id", "args", "eta", "retries", "prio")


def group_match(name: str) -> str | None:
    """The filter that selects exactly one group: ``task:`` is matched
    whole, so ``reports.rebuild`` does not take ``reports.rebuild_all``."""
    if name == NOT_A_TASK or "," in name:
        return None  # task: splits on commas: such a name cannot be one group
    return f"task:{shlex.quote(name)}" if name != shlex.quote(name) else f"task:{name}"


class QueueDetailScreen(DetailScreen):
    TITLE = "Queue"
    FILTER_SPEC = MESSAGE_SPEC
    MUTATING = frozenset({"remove_matching", "move", "purge_all"})
    HELP_NOTES = (
        "What the queue holds is read when this screen opens and on ctrl+r, never on "
        "a timer. Redis: an exact snapshot of the whole queue and its priority "
        "sub-lists, changing nothing. RabbitMQ: the first 10,000 messages are taken "
        "without acknowledging them and handed straight back to their places (they "
        "come back flagged redelivered; workers cannot get them for that moment, "
        "about 2 s) — the title says \"of the first 10,000\".",
        "p removes only the messages of the group under the cursor (task: matches the "
        "whole name) or those the filter matches; m moves them (or, with neither, "
        "every message) to another queue, <queue>.quarantine by default, and m on the "
        "quarantine moves them back. The dialog counts what will go and stay on the "
        "broker as it opens; type that count to enable the button.",
        "Nothing is ever only in the console's memory: on Redis each batch is one "
        "atomic script; on RabbitMQ a message is acknowledged only once its copy is "
        "confirmed, so a crash can duplicate a message there, never lose one.",
        "Messages workers already took (prefetched, reserved, waiting for an eta) are "
        "out of reach: the dialog counts them and offers to revoke the matching ones.",
    )
    BINDINGS = [
        *DETAIL_BINDINGS,
        Binding("ctrl+r", "reread", "Read again", id="queue.reread",
                tooltip="Read the queue's messages again (and its depth)"),
        Binding("p", "remove_matching", "Remove", id="queue.remove",
                tooltip="Remove only the messages of the group under the cursor, or "
                        "those matching the filter (confirm, typed count)"),
        Binding("m", "move", "Move", id="queue.move",
                tooltip="Move the group under the cursor, the filter's matches, or "
                        "every message to another queue (default <queue>.quarantine)"),
        Binding("P", "purge_all", "Purge all", id="queue.purge",
                tooltip="Purge every message in the queue (confirm)"),
        Binding("tab", "switch_table", "Groups/messages", id="queue.switch", show=False,
                tooltip="Move between the groups and the messages"),
    ]
    DEFAULT_CSS = """
    QueueDetailScreen #queue-top { height: auto; }
    QueueDetailScreen #queue-info { padding: 0 1; height: auto; width: 1fr; }
    QueueDetailScreen #queue-history-box { width: 32; height: auto; }
    QueueDetailScreen #history-label { padding: 0 1; }
    QueueDetailScreen Sparkline { height: 2; margin: 0 1; }
    QueueDetailScreen #peek-title { padding: 0 1; height: auto; }
    QueueDetailScreen #groups { height: 2; }
    QueueDetailScreen #messages { height: 1fr; }
    QueueDetailScreen .section-title { padding: 0 1; text-style: bold; }
    """

    def __init__(self, name: str):
        super().__init__()
        self.queue_name = name
        self.peek: Peek | None = None
        self.reading = False
        self._drawn_peek: tuple[int, str] | None = None

    def compose_body(self) -> ComposeResult:
        yield self.filter_line()
        with Horizontal(id="queue-top"):
            yield Static(id="queue-info")
            from textual.containers import Vertical
            with Vertical(id="queue-history-box"):
                yield Label("", id="history-label")
                yield Sparkline([], id="queue-history")
        yield Static(id="peek-title")
        yield Static("By task (enter: its messages)", classes="section-title")
        groups = VimTable(id="groups", cursor_type="row", zebra_stripes=True)
        for label in GROUP_COLUMNS:
            groups.add_column(label, key=label)
        yield groups
        yield Static("Next to run", classes="section-title", id="messages-title")
        messages = VimTable(id="messages", cursor_type="row", zebra_stripes=True)
        for label in MESSAGE_COLUMNS:
            messages.add_column(label, key=label)
        yield messages
        yield self.filter_box("match messages: text  name:reports  task:reports.rebuild  "
                              "args:2024  retries:3", id="queue-detail-filter")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#groups", DataTable).focus()
        self.action_reread()

    def cursor_id(self) -> tuple[str, str] | None:
        return "queue", self.queue_name

    # ---------------------------------------------------------- reading
    def action_reread(self) -> None:
        if self.reading:
            return
        self.reading = True
        self.draw()
        self.run_worker(self._read, thread=True, group="peek", exit_on_error=False)

    def _read(self) -> None:
        try:
            peek = self.app.read_peek(self.queue_name)
        except Exception as exc:  # a bug of ours: said, and logged by the worker
            peek = Peek(self.queue_name, "", None, 0, False, None,
                        error=f"{type(exc).__name__}: {exc}", at=time.time())
        self.app.call_from_thread(self._peeked, peek)

    def _peeked(self, peek: Peek) -> None:
        self.peek = peek
        self.reading = False
        if self.app.screen is self:  # nothing moves under a dialog
            self.draw()

    # ------------------------------------------------------------ drawing
    def draw(self) -> None:
        now = self.app.now()
        self._draw_info(now)
        self._draw_peek(now)

    def _draw_info(self, now: float) -> None:
        queue = self.app.state.queue_view(self.queue_name)
        history = queue.history
        table = Table.grid(padding=(0, 2))
        for _ in range(2):
            table.add_column(style="bold", no_wrap=True)
            table.add_column(no_wrap=True, overflow="ellipsis", min_width=8)
        rate = queue.net_rate
        pairs = [(label, literal(value)) for label, value in (
            ("messages", "missing on the broker" if queue.exists is False
             else count(queue.messages)),
            ("consumers", count(queue.consumers)),
            ("consumed by", ", ".join(queue.consumed_by) or "no worker (from inspections)"),
            ("known from", ", ".join(queue.sources) or "—"),
            ("net change", "—" if rate is None else f"{rate:+.1f} messages/s over 30 s"),
            ("probed", ago(now - queue.probed_at) + " ago" if queue.probed_at else "—"),
            ("error", queue.error or "—"),
            ("", ""),
        )]  # literal: a queue name or broker error holding "[/x]" is data
        for left, right in zip(pairs[::2], pairs[1::2], strict=True):
            table.add_row(*left, *right)
        # The name whole, on its own line (it is what p, m and P act on).
        name = Text.assemble(("queue  ", "bold"), literal(self.queue_name, style="bold"))
        self.query_one("#queue-info", Static).update(Group(name, table))
        depths = [m for _, m in history]
        span = ago(now - history[0][0]) if history else "—"
        self.query_one("#history-label", Label).update(Text(
            f"depth over {span}\nnow {count(depths[-1]) if depths else '—'}, "
            f"peak {count(max(depths)) if depths else '—'}"))
        self.query_one(Sparkline).data = depths

    def _draw_peek(self, now: float) -> None:
        peek = self.peek
        title = Text(no_wrap=False)
        if peek is None:
            title.append("reading the queue's messages…", style="dim")
        else:
            if peek.error:
                title.append_text(literal(f"cannot read the messages: {peek.error}",
                                          style="bold red"))
                title.append("  ")
            if peek.counted or not peek.error:
                title.append(f"{peek.counted:,} messages counted", style="bold")
                title.append(" ")
                title.append("(the whole queue)" if peek.exact else
                             f"(of the first {peek.counted:,}; the queue has "
                             f"{count(peek.depth)})", style="" if peek.exact else "yellow")
                title.append(f", read {ago(now - peek.at)} ago")
            held = peek.held
            if held is not None and held.error is None and held.tasks:
                title.append(f"  · workers hold {len(held.tasks):,} more", style="yellow")
            title.append("   ctrl+r reads again" if not self.reading else "   reading…",
                         style="dim")
        self.query_one("#peek-title", Static).update(title)
        key = (id(peek), self.filter_text)
        if key == self._drawn_peek:
            return
        self._drawn_peek = key
        self._fill_groups(peek)
        self._fill_messages(peek)

    def _fill_groups(self, peek: Peek | None) -> None:
        table = self.query_one("#groups", DataTable)
        cursor = table.cursor_row
        table.clear()
        for group in peek.groups if peek else ():
            table.add_row(literal(short_name(group.name, 36), style="bold"), f"{group.count:,}",
                          _share(group.share), literal(group.oldest_eta or "—"),
                          literal(group.newest_eta or "—"), literal(group.sample_args, 28),
                          key=group.name)
        # As tall as its rows (a few task names), up to 7 of them.
        table.styles.height = min(8, table.row_count + 1)
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))

    def _fill_messages(self, peek: Peek | None) -> None:
        table = self.query_one("#messages", DataTable)
        table.clear()
        listed = peek.messages if peek else ()
        shown = [m for m in listed if self.keep(m.parts())]
        for message in shown:
            table.add_row(str(message.position), literal(short_name(message.label, 28)),
                          literal(message.id or "—"), literal(message.args, 24),
                          literal(message.eta or "—"),
                          "—" if message.retries is None else str(message.retries),
                          "—" if message.priority is None else str(message.priority),
                          key=str(message.position))
        heading = Text("Next to run", style="bold")
        if listed:
            heading.append(f"  (the first {len(listed):,})", style="dim")
        if self.row_filter:
            heading.append(f"  {len(shown):,} of them match the filter", style="yellow")
        self.query_one("#messages-title", Static).update(heading)

    # ------------------------------------------------------------- choice
    def message_under_cursor(self) -> QueuedMessage | None:
        table = self.query_one("#messages", DataTable)
        key = getattr(table, "cursor_key", None)
        if key is None or self.peek is None:
            return None
        for message in self.peek.messages:
            if str(message.position) == key:
                return message
        return None

    def chosen_match(self) -> str | None:
        """What `p` and `m` act on: the group under the cursor when the
        groups have focus, else the filter in force."""
        groups = self.query_one("#groups", DataTable)
        if self.focused is groups and groups.row_count:
            name = getattr(groups, "cursor_key", None)
            if name is None:
                return None
            match = group_match(name)
            if match is None:
                self.app.notify("This group cannot be chosen by its name (not Celery "
                                "task messages, or a name with a comma): use a filter (/), "
                                "or purge the whole queue with P", severity="warning")
            return match
        if self.row_filter:
            return self.row_filter.text
        return None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.data_table.id == "groups":
            match = group_match(str(event.row_key.value))
            if match is not None:
                self.apply_filter(match)
                self.query_one("#messages", DataTable).focus()
        else:
            message = self.message_under_cursor()
            if message is not None:
                self.app.push_screen(MessageDetailScreen(self.queue_name, message))

    def action_switch_table(self) -> None:
        groups = self.query_one("#groups", DataTable)
        messages = self.query_one("#messages", DataTable)
        (messages if self.focused is groups else groups).focus()

    def filter_focus(self) -> None:
        self.query_one("#messages", DataTable).focus()

    # ------------------------------------------------------------ actions
    def action_remove_matching(self) -> None:
        match = self.chosen_match()
        if match is None:
            self.app.notify("Choose what to remove: put the cursor on a group, or type a "
                            "filter (/). P purges the whole queue.", severity="warning")
            return
        queue = self.queue_name
        app = self.app

        def done(values: dict | None) -> None:
            if values is not None:
                app.perform(f"remove {match} from {queue}", app.actions.purge_matching,
                            queue, match, revoke_held=bool(values.get("revoke_held")),
                            then=self.action_reread)

        self.app.push_screen(SurgeryDialog(
            Text.assemble("Remove the messages matching ", literal(match, style="bold"),
                          " from queue ", literal(queue), "?"),
            queue, match, "Remove", "removed",
            lambda: app.read_selection(queue, match),
            note="Every other message stays where it is, as it is."
            + self._rabbit_note("removal")), done)

    def action_move(self) -> None:
        match = self.chosen_match()
        queue = self.queue_name
        app = self.app
        shown = match or "(every message)"

        def done(values: dict | None) -> None:
            if values is not None:
                destination = values["destination"]
                app.perform(f"move {shown} from {queue} to {destination}", app.actions.move,
                            queue, destination, match, then=self.action_reread)

        self.app.push_screen(SurgeryDialog(
            Text.assemble("Move the messages matching " if match else "Move every message",
                          literal(match or "", style="bold"), " of queue ", literal(queue),
                          "?"),
            queue, match or "", "Move", "moved",
            lambda: app.read_selection(queue, match),
            destination=default_destination(queue),
            note="A destination that does not exist is declared like this queue; "
                 "m on it moves them back. Every message not moved stays."
            + self._rabbit_note("move")), done)

    def action_purge_all(self) -> None:
        # The Queues screen's purge, with its typed name and fresh count.
        purge_dialog(self.app, [self.queue_name], then=self.action_reread)

    def _rabbit_note(self, what: str) -> str:
        if self.app.target.transport != "amqp":
            return ""
        return (f"\nRabbitMQ: the {what} consumes one pass over the queue; the messages "
                "kept are re-published as they were, in their order, behind any that "
                "arrive meanwhile.")


class MessageDetailScreen(DetailScreen):
    """Every field of one queued message (`enter` on a message)."""

    TITLE = "Message"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="message.back")]
    DEFAULT_CSS = "MessageDetailScreen #message-info { padding: 0 1; height: auto; }"

    def __init__(self, queue: str, message: QueuedMessage):
        super().__init__()
        self.queue_name = queue
        self.message = message

    def compose_body(self) -> ComposeResult:
        from textual.containers import VerticalScroll
        with VerticalScroll():
            yield Static(id="message-info")

    def draw(self) -> None:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        table.add_row("queue", literal(self.queue_name))
        for label, value in self.message.fields():
            # Cluster text, whole: args and errors are data, never markup.
            table.add_row(label, literal(value if value else "—"))
        self.query_one("#message-info", Static).update(table)

    def on_mount(self) -> None:
        self.draw()


def _share(share: float) -> str:
    """``98%``, ``1.3%``, ``0.2%``: a small group is never shown as 0%."""
    return f"{share:.0%}" if share >= 0.095 or share == 0 else f"{share:.1%}"
