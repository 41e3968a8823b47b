"""Command palette: every key-bound action of the current screen, and every screen."""

from __future__ import annotations

from functools import partial
from typing import Any

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode


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
    return [(binding.description, f"key {key}", (node, binding.action))
            for key, binding, node in console_bindings(screen)]


class BindingCommands(Provider):
    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, (node, action) in palette_entries(self.screen):
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title),
                          partial(self.app.run_action, action, node), help=help_text)

    async def discover(self) -> Hits:
        for title, help_text, (node, action) in palette_entries(self.screen):
            yield DiscoveryHit(title, partial(self.app.run_action, action, node),
                               help=help_text)
