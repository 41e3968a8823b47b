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


def _console_nodes() -> list[type]:
    from .app import ConsoleApp  # imports every screen and widget

    return [ConsoleApp] + [node for node in _subclasses(DOMNode)
                           if node.__module__.startswith("console.")]


def _own_bindings(node: type) -> list[Binding]:
    found: list[Binding] = []
    for klass in reversed(node.__mro__):
        found.extend(b for b in klass.__dict__.get("BINDINGS", ())
                     if isinstance(b, Binding) and b.id)
    return found


def binding_ids() -> dict[str, Binding]:
    """Every binding of the console's app, screens and widgets, by id."""
    ids: dict[str, Binding] = {}
    for node in _console_nodes():
        for binding in _own_bindings(node):
            ids.setdefault(binding.id or "", binding)
    return ids


def _clash(keymap: dict[str, str]) -> tuple[str, str, Binding] | None:
    """(id rebound, key, binding that would lose it) on one screen, or None.
    Textual drops the other binding's key without a word when both have ids."""
    from textual.screen import ModalScreen, Screen

    from .app import ConsoleApp

    def keys(binding: Binding) -> set[str]:
        spec = keymap.get(binding.id or "") or binding.key
        return {k.strip() for k in spec.split(",") if k.strip()}

    app_bindings = _own_bindings(ConsoleApp)
    for node in _console_nodes():
        bindings = _own_bindings(node)
        if isinstance(node, type) and issubclass(node, Screen) and \
                not issubclass(node, ModalScreen):
            bindings = bindings + app_bindings
        for rebound in (b for b in bindings if b.id in keymap):
            for other in bindings:
                if other.id == rebound.id or other.id in keymap:
                    continue
                taken = keys(rebound) & keys(other)
                if taken:
                    return rebound.id or "", sorted(taken)[0], other
    return None


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
    clash = _clash(keymap)
    if clash is not None:
        rebound, key, other = clash
        raise ConsoleError(f"config {getattr(config, 'path', '')}: [keymap] {rebound!r} = "
                           f"{keymap[rebound]!r} takes {key} from {other.id} "
                           f"({other.description}) on the same screen; give {other.id} "
                           "another key in [keymap] too", EX_CONFIG)
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
