"""Everything that watches one cluster: the model and the threads feeding it.

The TUI owns one Monitor; it only reads the model and calls ``refresh_now``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from .beat import read_schedule
from .broker import QueueProbe, discover_queues
from .capture import Capture
from .connection import Target
from .inspector import INSPECT_KINDS, Inspector
from .poller import Poller
from .record import Recorder
from .state import ClusterState


class Monitor:
    def __init__(self, target: Target, state: ClusterState | None = None, *,
                 enable_events: bool = True, inspect_interval: float = 10.0,
                 probe_interval: float = 2.0, inspect_timeout: float = 1.0,
                 extra_queues: tuple[str, ...] = (),
                 recorder: Recorder | None = None):
        self.target = target
        self.state = state or ClusterState()
        # The app's beat schedule (configuration: read once); the model
        # keeps the last run seen of its task names from now on.
        self.beat = read_schedule(target.app)
        self.state.watch_task_names(e.task for e in self.beat.entries)
        self.extra_queues = tuple(extra_queues)
        self.capture = Capture(target, self.state, enable_events=enable_events)
        self.recorder = self.capture.recorder = recorder
        self.inspector = Inspector(target, self.state, timeout=inspect_timeout)
        self.probe = QueueProbe(target)
        self.inspect_interval = inspect_interval
        # Checked every second; a round runs when due, when asked, or as
        # soon as the set of live workers changed.
        self.inspect_poller = Poller("console-inspect", self._inspect_if_due, 1.0)
        self._last_inspect = float("-inf")
        self._inspected_workers: list[str] | None = None
        self._inspect_requested = False
        self.probe_poller = Poller("console-probe", self.probe_round,
                                   probe_interval)
        self.started = False

    def start(self) -> Monitor:
        self.capture.start()
        self.inspect_poller.start()
        self.probe_poller.start()
        self.started = True
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stop all threads, waiting at most about ``timeout`` in total."""
        if not self.started:
            return
        self.capture.stop(timeout / 2)
        self.inspect_poller.stop(timeout / 4)
        self.probe_poller.stop(timeout / 4)
        self.started = False
        if self.recorder is not None:
            self.recorder.close()

    def refresh_now(self) -> None:
        self._inspect_requested = True
        self.inspect_poller.trigger()
        self.probe_poller.trigger()

    def _inspect_if_due(self) -> None:
        if self.state.connection.state != "connected":
            return
        online = self.state.workers_online()
        now = time.monotonic()
        if (self._inspect_requested or online != self._inspected_workers
                or now - self._last_inspect >= self.inspect_interval):
            self._inspect_requested = False
            self._inspected_workers = online
            self._last_inspect = now
            self.inspect_round()

    def inspect_round(self, kinds: Iterable[str] = INSPECT_KINDS,
                      require_connection: bool = True) -> None:
        if require_connection and self.state.connection.state != "connected":
            return  # capture reports the outage; don't pile up timeouts
        destination = None
        if not self.state.workers_online():
            destination = sorted(self.inspector.ping().replies) or None
            if destination is None:
                return
        self.inspector.run(kinds, destination=destination)

    def probe_round(self) -> None:
        names = discover_queues(self.target.app, self.state, self.extra_queues)
        for name in self.probe.broker_queues():
            names.setdefault(name, []).append("broker")
        depths = self.probe.probe(sorted(names))
        for name, depth in depths.items():
            depth.sources = names[name]
        self.state.record_queues({n: d.as_dict() for n, d in depths.items()})
