"""The config file's ``[keymap]``: binding ids to keys, checked before the
TUI starts (an id that names no binding is a one-line error, not a key
that silently does nothing) and applied with Textual's ``App.set_keymap``."""

from __future__ import annotations

import difflib

from textual.binding import Binding
from textual.dom import DOMNode

from ..core.connection import EX_CONFIG, ConsoleError


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    subs: list[type] = type.__subclasses__(cls)
    for sub in subs:
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def binding_ids() -> dict[str, Binding]:
    """Every binding of the console's app, screens and widgets, by id."""
    from .app import ConsoleApp  # imports every screen and widget

    ids: dict[str, Binding] = {}
    for node in [ConsoleApp, *_subclasses(DOMNode)]:
        if not node.__module__.startswith("console."):
            continue
        for binding in node.__dict__.get("BINDINGS", ()):
            if isinstance(binding, Binding) and binding.id:
                ids.setdefault(binding.id, binding)
    return ids


def check_keymap(config: object) -> dict[str, str]:
    """The keymap of ``config`` (a core Config), every id checked."""
    keymap: dict[str, str] = dict(getattr(config, "keymap", None) or {})
    known = binding_ids()
    for binding_id in keymap:
        if binding_id not in known:
            close = difflib.get_close_matches(binding_id, known, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else \
                "docs/keymap.md lists every id"
            raise ConsoleError(f"config {getattr(config, 'path', '')}: [keymap] "
                               f"{binding_id!r} is no binding id; {hint}", EX_CONFIG)
    return keymap


def shown_key(app: object, binding: Binding) -> str:
    """The key a binding answers to under the keymap, as the footer shows it
    (for bindings of screens not on display: the palette, hints)."""
    keys = (getattr(app, "keymap_overrides", None) or {}).get(binding.id or "")
    if keys:
        get_display = getattr(app, "get_key_display", None)
        first = keys.split(",")[0].strip()
        if get_display is not None:
            return str(get_display(binding.with_key(first, key_display=None)))
        return first
    return binding.key_display or binding.key.split(",")[0]
