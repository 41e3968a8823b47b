"""Command palette: every key-bound action of the current screen, and every screen."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, cast

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode

from .keymap import shown_key

if TYPE_CHECKING:
    from .app import ConsoleApp


def console_bindings(screen) -> list[tuple[str, Binding, DOMNode]]:
    """(keys, binding, node) for the console's own active bindings, one
    entry per action with its keys joined ("q, ctrl+c").

    Ours all carry an ``id``; Textual's built-ins and widgets' scroll keys
    do not, and would only bury the keys an operator needs."""
    by_action: dict[str, list[Any]] = {}  # [keys, binding, node]
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.id or not binding.description:
            continue
        slot = by_action.setdefault(binding.action, [[], binding, active.node])
        shown = binding.key_display or key
        if binding.show and slot[1] is not binding and not slot[1].show:
            slot[1], slot[2] = binding, active.node  # describe by the shown key
        if binding.show:
            slot[0].insert(0, shown)
        else:
            slot[0].append(shown)
    return [(", ".join(keys), binding, node) for keys, binding, node in by_action.values()]


def palette_entries(screen) -> list[tuple[str, str, tuple[DOMNode, str]]]:
    """(title, help, (node, action)) for each of the console's bindings."""
    return [(binding.description, _help(key, binding), (node, binding.action))
            for key, binding, node in console_bindings(screen)]


def _help(key: str, binding: Binding, where: str = "") -> str:
    described = binding.tooltip or binding.description
    return f"{key}{where} — {described}"


def other_screen_entries(app, screen) -> list[tuple[str, str, str, str]]:
    """(title, help, mode, action) for the actions of the other top-level
    screens (typing "purge" on Tasks finds Queues' purge): chosen, they
    switch to that screen and act there, on its cursor, behind its dialog."""
    read_only = app.options.read_only
    entries = []
    for mode, screen_class in app.MODES.items():
        if isinstance(screen, screen_class):
            continue
        title = getattr(screen_class, "TITLE", mode)
        mutating: frozenset[str] = getattr(screen_class, "MUTATING", frozenset())
        for binding in screen_class.BINDINGS:
            if not isinstance(binding, Binding) or not binding.id or not binding.description:
                continue
            if read_only and binding.action in mutating:
                continue
            key = shown_key(app, binding)
            entries.append((f"{binding.description} ({title})",
                            _help(key, binding, f" on {title}"), mode, binding.action))
    return entries


class BindingCommands(Provider):
    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, (node, action) in palette_entries(self.screen):
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title),
                          partial(self.app.run_action, action, node), help=help_text)
        for title, help_text, mode, action in other_screen_entries(self.app, self.screen):
            # Found by the action's name or its description.
            score = max(matcher.match(title), matcher.match(help_text)) * 0.8
            if score > 0:
                yield Hit(score, matcher.highlight(title),
                          partial(cast("ConsoleApp", self.app).show_and_run, mode, action),
                          help=help_text)

    async def discover(self) -> Hits:
        for title, help_text, (node, action) in palette_entries(self.screen):
            yield DiscoveryHit(title, partial(self.app.run_action, action, node),
                               help=help_text)
