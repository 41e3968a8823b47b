"""ConsoleApp: screens, global keys, and the refresh tick."""

from __future__ import annotations

import logging
from typing import Any
import time
from collections.abc import Callable
from pathlib import Path

from textual import events
from textual.app import App, ScreenStackError
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen
from textual.widgets import Input

from ..core.actions import Actions, InvalidInput, ReadOnlyError
from ..core.audit import AuditLog
from ..core.broker import QueueDepth, QueueProbe
from ..core.doctor import Diagnosis, examine
from ..core.insight import StackReport, read_stacks
from ..core.lookup import Lookup, lookup
from ..core.messages import Peek, Selection, parse_match
from ..core.export import write_export
from ..core.heap import HEAP
from ..core.monitor import Monitor
from ..core.record import Recorder
from ..core.replay import Replayer
from ..core.state import ClusterState
from ..core.stores import ActionView
from ..core.surgery import Surgeon
from ..core.views import OutcomeStatus
from rich.text import Text

from ..text import one_line, safe_block
from .format import plural
from .commands import BindingCommands, console_bindings
from .contexts import ContextSwitching
from .keymap import shown_key
from .screens.action_log import ActionLogScreen
from .screens.base import ConsoleScreen
from .screens.beat import BeatScreen
from .screens.filtering import Filtered
from .screens.frame import FramedScreen
from .screens.command_line import CommandLine
from .screens.doctor import DoctorScreen
from .screens.events import EventsScreen
from .screens.help import HelpScreen
from .screens.queue_detail import QueueDetailScreen
from .screens.queues import QueuesScreen
from .screens.stack import StackScreen
from .screens.task_detail import TaskDetailScreen
from .screens.action_detail import ActionDetailScreen
from .screens.tasks import TasksScreen
from .screens.too_small import TooSmallScreen, too_small
from .screens.worker_detail import WorkerDetailScreen
from .screens.workers import WorkersScreen
from .screens.failure_group import FailureGroupScreen
from .screens.failures import FailuresScreen
from .screens.task_types import TaskTypesScreen
from .widgets.status_header import StatusHeader
from .widgets.status_line import StatusLine

log = logging.getLogger(__name__)


class NotInReplay(Exception):
    """A broker read asked for during a replay."""

TICK_SECONDS = 0.25
# How long the status line keeps a note of ours (an export, a copy).
NOTE_SECONDS = 30.0
# The header says "events on" while events arrived this recently.
EVENTS_FRESH_SECONDS = 10.0


class ConsoleApp(ContextSwitching, App):
    TITLE = "celery-console"
    # Absolute: Textual resolves a relative path against a subclass's module.
    CSS_PATH = Path(__file__).parent / "console.tcss"
    COMMANDS = App.COMMANDS | {BindingCommands}
    MODES = {
        "workers": WorkersScreen, "tasks": TasksScreen, "queues": QueuesScreen,
        "events": EventsScreen, "log": ActionLogScreen,
        "types": TaskTypesScreen, "failures": FailuresScreen,
        "doctor": DoctorScreen,
        "beat": BeatScreen,
    }
    # The screen keys 1-5 stay out of the footer (the header names the
    # screen; `?` and the palette list them): the footer keeps room for the
    # current screen's actions and for help and quit.
    BINDINGS = [
        Binding("1", "show('workers')", "Workers", show=False, id="screen.workers",
                tooltip="Workers screen"),
        Binding("2", "show('tasks')", "Tasks", show=False, id="screen.tasks",
                tooltip="Tasks screen"),
        Binding("3", "show('queues')", "Queues", show=False, id="screen.queues",
                tooltip="Queues screen"),
        Binding("4", "show('events')", "Events", show=False, id="screen.events",
                tooltip="Events screen: live tail of raw events"),
        Binding("5", "show('log')", "Log", show=False, id="screen.log",
                tooltip="Action log screen"),
        Binding("6", "show('types')", "Task types", show=False, id="screen.types",
                tooltip="Task types screen: rates, failures, runtime percentiles per type"),
        Binding("7", "show('failures')", "Failures", show=False, id="screen.failures",
                tooltip="Failures screen: failures and retries grouped by cause"),
        Binding("8", "show('beat')", "Beat", show=False, id="screen.beat",
                tooltip="Beat schedule: periodic tasks, last runs seen, which are late"),
        Binding("9", "show('doctor')", "Doctor", show=False, id="screen.doctor",
                tooltip="Doctor: what in the workers' settings will hurt, with evidence"),
        Binding("colon", "command_line", "Command", key_display=":", id="command_line",
                tooltip="Command line: :workers :tasks state:FAILURE :task UUID :queues "
                ":events :log :types :failures :beat :doctor :ctx NAME"),
        Binding("question_mark", "help", "Help", key_display="?", id="help",
                tooltip="Help: every key of this screen"),
        Binding("ctrl+r", "refresh_now", "Refresh", id="refresh",
                tooltip="Run inspections and queue probes now"),
        Binding("ctrl+s", "export", "Export", show=False, id="export",
                tooltip="Export the current view (the table as filtered and sorted, or "
                        "this detail) to CSV and JSON in the export folder"),
        Binding("y", "copy_id", "Copy id", show=False, id="copy_id",
                tooltip="Copy the id under the cursor (task uuid, worker hostname, "
                        "queue name) to the clipboard"),
        Binding("z", "replay_pause", "Pause", id="replay.pause",
                tooltip="Replay: pause / resume the recording"),
        Binding("full_stop", "replay_step", "Step", key_display=".", id="replay.step",
                tooltip="Replay: apply the next event (and stay paused)"),
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="quit.ctrl_c",
                tooltip="Quit"),
    ]

    def __init__(self, target, options, *, state: ClusterState | None = None,
                 clock: Callable[[], float] | None = None,
                 start_threads: bool = True, recorder: Recorder | None = None,
                 replay: Replayer | None = None):
        super().__init__()
        self.target = target
        self.options = options
        # A replay is its own model and clock, and no broker is asked.
        self.replay = replay
        if replay is not None:
            state, clock, start_threads = replay.state, replay.clock, False
        self.clock = clock or time.time
        self.state = state or ClusterState(max_tasks=options.max_tasks,
                                           clock=self.clock,
                                           stuck_floor=options.stuck_floor,
                                           stuck_factor=options.stuck_factor)
        self.monitor = Monitor(
            target, self.state, enable_events=options.enable_events,
            inspect_interval=options.inspect_interval,
            probe_interval=options.probe_interval,
            extra_queues=options.queues, recorder=recorder)
        self.recorder = recorder
        self.start_threads = start_threads
        self._note: tuple[Text, float] | None = None
        # When the operator last pressed a key, clicked, scrolled or pasted:
        # the heap sweep waits for a moment no key waits on (core/heap.py).
        self._last_input = time.monotonic()
        self._bad_told = False
        self._too_small: TooSmallScreen | None = None
        self.actions = Actions(target, self.state,
                               AuditLog(options.audit_log, target.broker_url),
                               read_only=options.read_only)
        self.setup_contexts()

    def now(self) -> float:
        return self.clock()

    # ------------------------------------------------------------- lifecycle
    def on_mount(self) -> None:
        if HEAP.installed:  # the console command's own app
            HEAP.quiet = self._quiet
        self.switch_mode("workers")
        if self.start_threads:
            self.monitor.start()
        if self.replay is not None:
            self.replay.start()
        self.update_header()
        self.set_interval(TICK_SECONDS, self.tick)
        self.call_after_refresh(self._check_size)
        self.remember_theme()

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._check_size)

    def _check_size(self) -> None:
        """Below the smallest size it draws for, the console says so rather
        than drawing clipped rows and stray glyphs."""
        width, height = self.size
        cover = self._too_small
        if too_small(width, height):
            if cover is None:
                self._too_small = TooSmallScreen()
                self.push_screen(self._too_small)
            elif cover.is_mounted:
                cover.show(width, height)
        elif cover is not None:
            self._too_small = None
            if self._current_screen() is cover:
                self.pop_screen()

    def _current_screen(self):
        # The stack is briefly empty while a mode switches and during
        # shutdown; a timer firing then must not raise.
        try:
            return self.screen
        except ScreenStackError:
            return None

    def tick(self) -> None:
        self.update_header()
        screen = self._current_screen()
        # Nothing moves under a dialog: the operator confirms what they saw.
        if isinstance(screen, ConsoleScreen) and not isinstance(screen, ModalScreen):
            screen.tick(self.now())
        if HEAP.sweep_due(time.monotonic() - self._last_input):
            HEAP.sweep()

    def _quiet(self) -> bool:
        """Only the modes' own screens are up: no dialog and no detail in
        any mode, so a freeze of the heap takes nothing short-lived
        (core/heap.py). Textual offers only the current mode's stack; the
        others are read from its private ``_screen_stacks`` (Textual is
        pinned exactly; test_heap fails if it moves)."""
        stacks = getattr(self, "_screen_stacks", None)
        if not isinstance(stacks, dict) or not self.is_running:
            return False
        return all(len(stack) <= 1 for stack in list(stacks.values()))

    def update_header(self) -> None:
        now = self.now()
        view = self.state.header_view(now)
        screen = self._current_screen()
        if screen is None:
            return
        title = getattr(screen, "TITLE", None) or ""
        last_event = view.connection.last_event_at
        replay = self.replay.view() if self.replay is not None else None
        if replay is not None and replay.first_bad and not self._bad_told:
            self._bad_told = True
            self.say(f"{replay.bad} bad line(s) skipped; the first: {replay.first_bad}",
                     "yellow")
        recording = self.recorder.view() if self.recorder is not None else None
        for header in screen.query(StatusHeader):
            header.show(
                url=self.header_url(), view=view, now=now,
                events_on=last_event is not None and now - last_event < EVENTS_FRESH_SECONDS,
                read_only=self.options.read_only, screen_title=title, replay=replay,
                recording=recording)
        note = self._note
        if note is not None and time.monotonic() - note[1] > NOTE_SECONDS:
            note = self._note = None
        for line in screen.query(StatusLine):
            line.show(view=view, now=now, note=note[0] if note else None)

    def say(self, message: str, style: str = "bold") -> None:
        """A line in the status line for a while: what the console just did
        here (a file written, an id copied). Cluster text in it is literal."""
        self._note = (Text(one_line(message, 400), style=style), time.monotonic())
        self.update_header()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown, events.MouseScrollDown,
                              events.MouseScrollUp, events.Paste)):
            self._last_input = time.monotonic()
        # A paste is text from the clipboard, often copied from the cluster:
        # made terminal-safe once here, for every Input (the palette's too).
        if isinstance(event, events.Paste) and not event.is_forwarded:
            clean = safe_block(event.text)
            if clean != event.text:
                event = events.Paste(clean)
        elif isinstance(event, events.Key) and self._keys_resolve_on_arrival():
            # Textual forwards each key to the focused widget and resolves
            # its binding only once the key has bubbled back, so keys typed
            # in one burst were all delivered to the table before `/` had
            # opened the filter or `l` its dialog: `/evil-1` ran `l`, and the
            # keys after it reached the screen below. On a console screen
            # (not in a text box, not in a dialog) a key's binding runs here,
            # in arrival order: the next key finds the filter or dialog the
            # previous one opened.
            if await self._check_bindings(event.key, priority=True) or \
                    await self._check_bindings(event.key):
                return
        await super().on_event(event)

    def _keys_resolve_on_arrival(self) -> bool:
        screen = self._current_screen()
        return (isinstance(screen, FramedScreen) and not isinstance(screen, ModalScreen)
                and not isinstance(screen.focused, Input))

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Every toast is literal text: its message names hostnames, queues
        and broker errors, and Textual would read them as markup."""
        super().notify(safe_block(message), title=one_line(title), severity=severity,
                       timeout=timeout, markup=False)

    # --------------------------------------------------------------- actions
    def action_show(self, mode: str, filter_text: str | None = None) -> None:
        if self.current_mode != mode:
            self.switch_mode(mode)
            self.call_after_refresh(self._switched_to)
        if filter_text is not None:
            self.call_after_refresh(self._apply_filter, filter_text)
        self.call_after_refresh(self.update_header)

    def show_and_run(self, mode: str, action: str) -> None:
        """From the palette: an action of another screen. One that reads
        runs there; one that changes the cluster only takes you there and
        says which key to press once you chose the rows — that screen's
        cursor was never chosen for it."""
        self.action_show(mode)
        screen_class: Any = self.MODES[mode]
        if action in getattr(screen_class, "MUTATING", frozenset()):
            binding = next(b for b in screen_class.BINDINGS
                           if isinstance(b, Binding) and b.action == action)
            key = shown_key(self, binding)
            self.notify(f"{binding.description}: choose the row (or mark several) on "
                        f"{screen_class.TITLE}, then press {key}", timeout=8)
            return

        async def run() -> None:
            screen = self._current_screen()
            if screen is not None:
                await self.run_action(action, screen)

        self.call_after_refresh(run)

    def action_command_palette(self) -> None:
        # Not over the too-small notice: a screen switched from there would
        # leave the notice behind on another screen's stack.
        if self._too_small is None:
            super().action_command_palette()

    def get_system_commands(self, screen):
        # Textual's Quit duplicates ours (q); keep its theme and keys entries.
        for command in super().get_system_commands(screen):
            if command.title.lower() != "quit":
                yield command

    def _switched_to(self) -> None:
        screen = self._current_screen()
        if isinstance(screen, ConsoleScreen):
            screen.switched_to()

    def _apply_filter(self, text: str) -> None:
        screen = self._current_screen()
        # Every top-level screen filters (screens/filtering.py).
        if isinstance(screen, Filtered):
            screen.apply_filter(text)

    def action_command_line(self) -> None:
        def done(result) -> None:
            if result is None:
                return
            mode, filter_text = result
            if mode == "quit":
                self.action_quit()
            elif mode == "lookup":
                self.open_task(filter_text)
            elif mode == "context":
                self.switch_context(filter_text)
            else:
                self.action_show(mode, filter_text or None)

        self.push_screen(CommandLine(), done)

    def action_help(self) -> None:
        screen = self.screen
        keys = [(key, binding.tooltip or binding.description)
                for key, binding, _ in console_bindings(screen)]
        title = getattr(screen, "TITLE", "Console")
        self.push_screen(HelpScreen(title, keys, getattr(screen, "HELP_NOTES", ())))

    # Detail screens are opened here, so no screen module imports another.
    def open_worker(self, hostname: str) -> None:
        self.push_screen(WorkerDetailScreen(hostname))

    def open_queue(self, name: str) -> None:
        self.push_screen(QueueDetailScreen(name))

    def open_task(self, uuid: str) -> None:
        self.push_screen(TaskDetailScreen(uuid))

    def open_failure_group(self, kind: str, gid: int) -> None:
        self.push_screen(FailureGroupScreen(kind, gid))

    def open_action(self, action: ActionView) -> None:
        self.push_screen(ActionDetailScreen(action))

    def open_stack(self, hostname: str, task_id: str | None = None) -> None:
        """The live stack of the process running ``task_id`` on ``hostname``,
        or of every process of it (read-only: allowed under --read-only)."""
        self.push_screen(StackScreen(hostname, task_id))

    def check_action(self, action: str, parameters) -> bool | None:
        # The replay keys exist only in a replay: hidden from footer, help
        # and palette otherwise.
        if action.startswith("replay_"):
            return self.replay is not None
        if action == "refresh_now":  # a replay asks no broker
            return self.replay is None
        return True

    def action_replay_pause(self) -> None:
        if self.replay is not None and self.replay.done:
            self.say("the replay has ended: every event of the recording was applied")
        elif self.replay is not None:
            paused = self.replay.toggle()
            self.say("replay paused (z resumes, . steps)" if paused else "replay resumed")

    def action_replay_step(self) -> None:
        if self.replay is not None and not self.replay.step():
            self.say("replay: the recording has no more events")
        self.tick()  # the stepped event on screen at once

    def action_export(self) -> None:
        screen = self._current_screen()
        export = getattr(screen, "export_view", None)
        if export is None:
            self.notify("Nothing to export on this screen", severity="warning")
            return
        try:
            table = export()
            written = write_export(self.options.export_dir, table)
        except OSError as exc:
            self.say(f"export failed: {exc.strerror or exc}", "bold red")
            return
        except Exception as exc:  # a bug of ours: logged, said, never a traceback
            log.exception("internal error exporting the view")
            self.say(f"export failed: {type(exc).__name__} (details in the console's log)",
                     "bold red")
            return
        self.say(f"exported {plural(len(table.rows), 'row')} to {written.csv} "
                 f"and {written.json.name}", "green")

    def action_copy_id(self) -> None:
        screen = self._current_screen()
        found = getattr(screen, "cursor_id", lambda: None)()
        if not found:
            self.say("no id under the cursor to copy", "yellow")
            return
        kind, value = found
        self.copy_to_clipboard(value)
        self.say(f"copied {kind} {value} to the clipboard")

    def action_refresh_now(self) -> None:
        if self.replay is not None:
            self.notify("A replay asks no broker: nothing to refresh", timeout=3)
            return
        self.monitor.refresh_now()
        self.notify("Inspections and queue probes requested", timeout=2)

    def _no_broker_in_replay(self) -> None:
        if self.replay is not None:
            raise NotInReplay("a replay reads the recording only; the broker is not asked")

    def read_depths(self, names: list[str]) -> dict[str, QueueDepth]:
        """Fresh depths from the broker (called off the UI thread)."""
        self._no_broker_in_replay()
        return QueueProbe(self.target).probe(names)

    def read_peek(self, name: str) -> Peek:
        """What a queue holds, read from the broker (off the UI thread)."""
        self._no_broker_in_replay()
        return Surgeon(self.target, workers=self.state.workers_online()).peek(name)

    def read_lookup(self, uuid: str) -> Lookup:
        """A task not held: the result backend and the workers, asked."""
        self._no_broker_in_replay()
        return lookup(self.target, uuid, workers=self.state.workers_online())

    def read_stacks(self, hostname: str, task_id: str | None) -> list[StackReport]:
        """A worker's stacks from its companion extension (off the UI thread)."""
        self._no_broker_in_replay()
        return read_stacks(self.target, [hostname], task_id=task_id, timeout=3.0)

    def read_doctor(self) -> Diagnosis:
        """Ask the workers and diagnose (off the UI thread)."""
        self._no_broker_in_replay()
        return examine(self.target, self.state, self.state.workers_online() or None,
                       timeout=1.0, now=self.now())

    def read_selection(self, name: str, match: str | None) -> Selection:
        """A fresh count of what a selective purge or move would take."""
        self._no_broker_in_replay()
        return Surgeon(self.target, workers=self.state.workers_online()).select(
            name, parse_match(match))

    def perform(self, description: str, fn, *args, then=None, **kwargs) -> None:
        """Run an action off the UI thread; its outcome lands in the model's
        action log (status line, Action log screen) and in a notification.
        ``then`` runs on the UI thread once it is done (a screen re-reads)."""
        def job() -> None:
            severity: SeverityLevel
            try:
                outcome = fn(*args, **kwargs)
                message = outcome.summary
                severity = "information" if outcome.status is OutcomeStatus.OK else "error"
            except (ReadOnlyError, InvalidInput) as exc:
                message, severity = getattr(exc, "message", str(exc)), "warning"
            except Exception as exc:  # a bug of ours: logged, never a traceback on screen
                log.exception("internal error in %s", self.target.scrub(description))
                message = self.target.scrub(f"{description} failed: {type(exc).__name__}: {exc}"
                                            " (details in the console's log)")
                severity = "error"
            self.call_from_thread(self._action_done, message, severity)
            if then is not None:
                self.call_from_thread(then)

        self.run_worker(job, thread=True, group="actions", exit_on_error=False,
                        description=description)

    def _action_done(self, message: str, severity: SeverityLevel) -> None:
        self.notify(message, severity=severity, timeout=8)
        if self.replay is None:
            self.monitor.refresh_now()  # fresh depths and inspections after a change
        self.update_header()

    # Synchronous, unlike Textual's coroutine (an action may be either): the
    # command line's `:quit` calls it directly.
    def action_quit(self) -> None:  # type: ignore[override]
        # Threads are daemons and stop() waits at most ~1 s, so quitting
        # never hangs on a broker that stopped answering.
        self.monitor.stop(timeout=1.0)
        if self.replay is not None:
            self.replay.stop(timeout=0.5)
        self.exit()
