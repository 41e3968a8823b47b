"""Command palette: every key-bound action of the current screen, and every screen."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


def palette_entries(screen) -> list[tuple[str, str, object]]:
    """(title, help, node) for each active binding with a description."""
    seen = set()
    entries = []
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.description or binding.action in seen:
            continue
        if binding.action in ("command_palette", "app.command_palette"):
            continue
        seen.add(binding.action)
        shown_key = binding.key_display or key
        entries.append((binding.description, f"key {shown_key}",
                        (active.node, binding.action)))
    return entries


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
