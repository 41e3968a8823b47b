"""`:ctx NAME`: attach the running console to another context of the config
file, and the keymap and remembered theme the file and state give it.

A switch opens the context off the UI thread (its app may need importing),
stops the old Monitor, and gives the new one its own ClusterState (kept per
context: switching back shows that cluster's model, never a mix), its own
Actions (read-only as the context and the command line say: core refuses
every action of a read-only context, whatever is pressed) and its own audit
file. The screens are built afresh, so no table keeps rows of the other
cluster.
"""

from __future__ import annotations

import logging
from typing import Any

from textual.screen import Screen
from textual.widgets import Static

from ..core.actions import Actions
from ..core.audit import AuditLog
from ..core.connection import ConsoleError
from ..core.contexts import Opened, open_context
from ..core.logs import also_scrub
from ..core.monitor import Monitor
from ..core.state import ClusterState
from ..core.triage import DEFAULT_STUCK_FACTOR, DEFAULT_STUCK_FLOOR
from ..core.uistate import UiState

log = logging.getLogger(__name__)

_SWITCHING = "context-switch"


class _Attaching(Screen[None]):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.context_name = name

    def compose(self):
        from ..text import literal

        yield Static(literal(f"attaching to context {self.context_name}…"))


class ContextSwitching:
    """Mixed into ConsoleApp."""

    app_ref: Any

    def setup_contexts(self: Any) -> None:
        options = self.options
        config = getattr(options, "config", None)
        self.keymap_overrides = dict(getattr(config, "keymap", None) or {})
        if self.keymap_overrides:
            self.set_keymap(self.keymap_overrides)
        self.context_states: dict[str | None, ClusterState] = {}
        # What the command line said, kept for every context switched to.
        self.base_read_only = bool(getattr(options, "base_read_only", options.read_only))
        self.base_queues = tuple(getattr(options, "base_queues", ()))
        self.base_audit_log = getattr(options, "base_audit_log", None)
        theme = getattr(options, "theme", None)
        if theme and theme in self.available_themes:
            self.theme = theme

    def remember_theme(self: Any) -> None:
        """On mount: a theme chosen from here on is remembered (state file)."""
        if getattr(self.options, "remember_theme", False):
            self.theme_changed_signal.subscribe(
                self, lambda theme: UiState(theme=theme.name).save())

    def header_url(self: Any) -> str:
        """The broker reached (masked), after the context's name if any."""
        url = self.target.shown_url
        return f"{self.context_name}: {url}" if self.context_name else url

    @property
    def context_name(self: Any) -> str | None:
        return getattr(self.options, "context", None)

    def context_names(self: Any) -> list[str]:
        config = getattr(self.options, "config", None)
        return sorted(getattr(config, "contexts", {}) or {})

    def switch_context(self: Any, name: str) -> None:
        config = getattr(self.options, "config", None)
        if not name:
            names = self.context_names()
            here = self.context_name or "(-A/-b)"
            self.notify(f"on context {here}; contexts: {', '.join(names) or 'none'} "
                        "— :ctx NAME switches", timeout=8)
            return
        try:
            if config is None:
                raise ConsoleError("no config file: contexts live in "
                                   "~/.config/celery-console/config.toml")
            context = config.context(name)
        except ConsoleError as exc:
            self.notify(exc.message, severity="error", timeout=8)
            return
        if name == self.context_name:
            self.notify(f"already on context {name}", timeout=3)
            return

        def job() -> None:
            try:
                opened = open_context(context, read_only=self.base_read_only,
                                      queues=self.base_queues,
                                      audit_log=self.base_audit_log)
            except ConsoleError as exc:
                self.call_from_thread(self.notify, exc.message, severity="error", timeout=10)
                return
            except Exception as exc:  # a bug of ours: logged, one line on screen
                log.exception("opening context %s", name)
                self.call_from_thread(self.notify, f"context {name}: {type(exc).__name__}: "
                                      f"{self.target.scrub(exc)}", severity="error")
                return
            # The recording (--record) goes on in the new context: the old
            # Monitor must not close the file the command line opened.
            self.monitor.recorder = None
            self.monitor.stop(timeout=1.0)
            self.call_from_thread(self._attach_context, opened)

        self.notify(f"attaching to context {name}…", timeout=3)
        self.run_worker(job, thread=True, group="context", exit_on_error=False,
                        description=f"context {name}")

    async def _attach_context(self: Any, opened: Opened) -> None:
        options = self.options
        self.context_states[self.context_name] = self.state
        state = self.context_states.get(opened.name) or ClusterState(
            max_tasks=options.max_tasks, clock=self.clock,
            # --stuck-floor/--stuck-factor hold for every context's model.
            stuck_floor=getattr(options, "stuck_floor", DEFAULT_STUCK_FLOOR),
            stuck_factor=getattr(options, "stuck_factor", DEFAULT_STUCK_FACTOR))
        target = opened.target
        also_scrub(target.broker_url)
        self.target, self.state = target, state
        options.read_only, options.queues = opened.read_only, opened.queues
        options.audit_log, options.context = opened.audit_log, opened.name
        self.monitor = Monitor(
            target, state, enable_events=options.enable_events,
            inspect_interval=options.inspect_interval,
            probe_interval=options.probe_interval, extra_queues=opened.queues,
            recorder=getattr(self, "recorder", None))
        self.actions = Actions(target, state, AuditLog(opened.audit_log, target.broker_url),
                               read_only=opened.read_only)
        await self._rebuild_screens(opened.name or "")
        if self.start_threads:
            self.monitor.start()
        self.update_header()
        self.notify(f"context {opened.name}: {target.masked_url}"
                    + (" (read-only)" if opened.read_only else ""), timeout=5)

    async def _rebuild_screens(self: Any, name: str) -> None:
        """Fresh screens for the new model (a table never keeps the other
        cluster's rows, a version counter never matches by chance)."""
        self.add_mode(_SWITCHING, lambda: _Attaching(name))
        await self.switch_mode(_SWITCHING)
        for mode, screen_class in self.MODES.items():
            await self.remove_mode(mode)
            self.add_mode(mode, screen_class)
        await self.switch_mode("workers")
        await self.remove_mode(_SWITCHING)
