"""The config file's [keymap] rebinds keys by binding id (footer, `?`, palette
all show the new key) and the chosen theme is remembered in a state file."""

from __future__ import annotations

import json

from console.core.config import load_config
from console.core.uistate import UiState
from console.sample import sample_app
from console.ui.screens.help import HelpScreen

SIZE = (120, 36)


def config_with(tmp_path, body: str):
    path = tmp_path / "config.toml"
    path.write_text(body)
    return load_config(path)


def footer_keys(app) -> list[str]:
    from textual.widgets import Footer
    from textual.widgets._footer import FooterKey

    footer = app.screen.query_one(Footer)
    return [key.key_display for key in footer.query(FooterKey)]


async def test_a_rebinding_works_and_shows_in_the_footer_help_and_palette(tmp_path):
    from console.ui.commands import other_screen_entries

    config = config_with(tmp_path, """
[keymap]
"screen.queues" = "f3"
"help" = "f1"
"tasks.revoke" = "ctrl+x"
""")
    app = sample_app(config=config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        keys = footer_keys(app)
        assert "f1" in keys and "?" not in keys, keys
        await pilot.press("3")  # the old key no longer switches
        await pilot.pause()
        assert app.current_mode == "workers"
        await pilot.press("f3")
        await pilot.pause()
        assert app.current_mode == "queues"
        # The palette names another screen's action by its new key.
        entries = {title: text for title, text, _, _ in other_screen_entries(app, app.screen)}
        assert entries["Revoke (Tasks)"].startswith("^x"), entries["Revoke (Tasks)"]
        await pilot.press("question_mark")  # the old help key does nothing
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        described = dict(app.screen.keys)
        assert any(k.startswith("f3") for k in described), described
        assert any(k.startswith("f1") for k in described), described
        assert "3" not in described and "?" not in described
        await pilot.press("escape")
        await pilot.press("2")
        await pilot.pause()
        assert "^x" in footer_keys(app), footer_keys(app)


async def test_the_theme_chosen_is_remembered_in_the_state_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    app = sample_app(remember_theme=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.theme = "nord"
        await pilot.pause()
    path = tmp_path / "state" / "celery-console" / "ui-state.json"
    assert json.loads(path.read_text()) == {"theme": "nord"}
    assert UiState.load().theme == "nord"
    again = sample_app(theme=UiState.load().theme)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.theme == "nord"
    # A theme that no longer exists, or a broken file, is ignored.
    path.write_text("{not json")
    assert UiState.load().theme is None
    assert sample_app(theme="no-such-theme").theme != "no-such-theme"


def test_a_rebinding_that_takes_another_bindings_key_is_refused(tmp_path):
    import pytest

    from console.core.connection import ConsoleError
    from console.ui.keymap import check_keymap

    with pytest.raises(ConsoleError, match=r"'tasks.revoke' = 'r' takes r from tasks.rerun "
                                           r"\(Re-run\) on the same screen"):
        check_keymap(config_with(tmp_path, '[keymap]\n"tasks.revoke" = "r"\n'))
    # An app-wide key counts on every screen.
    with pytest.raises(ConsoleError, match="takes q from quit"):
        check_keymap(config_with(tmp_path, '[keymap]\n"queues.sort" = "q"\n'))
    # Swapping two keys is fine; so is a key another screen uses.
    assert check_keymap(config_with(tmp_path, '[keymap]\n"tasks.revoke" = "r"\n'
                                              '"tasks.rerun" = "x"\n'))
    assert check_keymap(config_with(tmp_path, '[keymap]\n"tasks.revoke" = "c"\n'))


def test_the_keymap_doc_lists_every_binding_id():
    """docs/keymap.md is where a user finds the ids [keymap] takes: it lists
    every binding the console has, with its default key, and no id that
    does not exist."""
    import re
    from pathlib import Path

    from console.ui.keymap import binding_ids

    doc = (Path(__file__).resolve().parent.parent / "docs" / "keymap.md").read_text()
    listed = dict(re.findall(r"^\| `([a-z_.]+)` \| `([^`]+)` \|", doc, re.M))
    ids = binding_ids()
    assert sorted(listed) == sorted(ids)
    assert all(listed[i] == ids[i].key for i in ids)
