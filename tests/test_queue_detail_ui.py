"""Queue detail by keys (Pilot, the sample's flooded `emails` queue): the
groups and messages, and the selective purge and move dialogs' rules."""

from __future__ import annotations

from textual.widgets import Button, Checkbox, DataTable, Input

from test_tasks_screen import rendered

from console.core.messages import Peek, QueuedMessage, summarize
from console.sample import sample_app
from console.ui.dialogs.queues import SurgeryDialog
from console.ui.screens.queue_detail import MessageDetailScreen, QueueDetailScreen

FLOOD = "reports.rebuild_all"


async def open_emails(pilot):
    await pilot.press("3")  # emails is the deepest: under the cursor
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, QueueDetailScreen) and screen.queue_name == "emails"
    for _ in range(50):
        if screen.peek is not None:
            break
        await pilot.pause(0.05)
    await pilot.pause()
    return screen


def recorded(app):
    calls = []
    app.perform = lambda description, fn, *args, **kwargs: calls.append(
        (fn.__name__, args, {k: v for k, v in kwargs.items() if k != "then"}))
    return calls


async def wait_loaded(pilot, dialog):
    for _ in range(100):
        if dialog.selection is not None:
            break
        await pilot.pause(0.05)
    await pilot.pause()


async def test_the_flood_shows_as_one_group():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_emails(pilot)
        groups = screen.query_one("#groups", DataTable)
        assert groups.row_count == 4
        first = groups.get_row_at(0)
        assert [str(c) for c in first[:3]] == [FLOOD, "47,157", "98%"]
        assert screen.query_one("#messages", DataTable).row_count == 1000
        title = rendered(screen.query_one("#peek-title"))
        assert "48,112 messages counted (the whole queue)" in title
        assert "workers hold 8 more" in title


async def test_remove_a_group_opens_on_cancel_and_needs_the_typed_count():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        calls = recorded(app)
        await open_emails(pilot)
        await pilot.press("p")
        dialog = app.screen
        assert isinstance(dialog, SurgeryDialog)
        assert dialog.match_text == f"task:{FLOOD}"
        assert app.focused.id == "cancel"
        await wait_loaded(pilot, dialog)
        assert dialog.require == "47157"
        text = " ".join(rendered(dialog.query_one("#surgery-list")).split())
        assert "47,157 match and will be removed, 955 stay" in text
        assert "6 matching" in text  # what workers hold, matched too
        confirm = dialog.query_one("#confirm", Button)
        assert confirm.disabled
        await pilot.press("enter")  # on Cancel: nothing happens
        await pilot.pause()
        assert not isinstance(app.screen, SurgeryDialog) and calls == []

        await pilot.press("p")
        dialog = app.screen
        await wait_loaded(pilot, dialog)
        # Keys typed fast go into the count box, never to the screens.
        await pilot.press("1", "q", "3", "enter")
        assert isinstance(app.screen, SurgeryDialog) and calls == []
        box = dialog.query_one("#surgery-typed", Input)
        box.value = ""
        await pilot.press(*"47156")
        assert dialog.query_one("#confirm", Button).disabled
        await pilot.press("enter")  # a wrong count: Enter does nothing, and says why
        assert isinstance(app.screen, SurgeryDialog)
        said = " ".join(rendered(dialog.query_one("#surgery-require")).split())
        assert "'47156' is not the count: type 47157" in said
        await pilot.press("backspace")  # changed: the reason no longer holds
        said = " ".join(rendered(dialog.query_one("#surgery-require")).split())
        assert "is not the count" not in said and "Type 47157" in said
        box.value = "47157"
        await pilot.pause()
        assert not dialog.query_one("#confirm", Button).disabled
        revoke = dialog.query_one("#surgery-revoke", Checkbox)
        assert revoke.display and not revoke.value  # offered, never preselected
        revoke.value = True
        await pilot.click("#confirm")
        await pilot.pause()
    assert calls == [("purge_matching", ("emails", f"task:{FLOOD}"),
                      {"revoke_held": True})]


async def test_the_filter_is_the_match_and_escape_clears_it_first():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        calls = recorded(app)
        screen = await open_emails(pilot)
        await pilot.press("slash", *"task:auth.send_login_code", "enter")
        await pilot.pause()
        shown = screen.query_one("#messages", DataTable)
        assert shown.row_count == 13  # the login codes among the first 1,000
        await pilot.press("p")
        dialog = app.screen
        assert dialog.match_text == "task:auth.send_login_code"
        await wait_loaded(pilot, dialog)
        assert dialog.require == "602"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("escape")  # clears the filter, stays
        await pilot.pause()
        assert app.screen is screen and not screen.row_filter
        await pilot.press("p")  # the messages have focus, no filter: nothing chosen
        await pilot.pause()
        assert app.screen is screen
    assert calls == []


async def test_enter_on_a_group_lists_its_messages_and_enter_opens_one():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_emails(pilot)
        await pilot.press("j", "enter")  # auth.send_login_code
        await pilot.pause()
        assert screen.filter_text == "task:auth.send_login_code"
        await pilot.press("enter")
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, MessageDetailScreen)
        assert detail.message.name == "auth.send_login_code"
        assert "user-1005" in rendered(detail.query_one("#message-info"))


async def test_move_names_its_destination_and_needs_one():
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        calls = recorded(app)
        await open_emails(pilot)
        await pilot.press("m")
        dialog = app.screen
        await wait_loaded(pilot, dialog)
        destination = dialog.query_one("#surgery-destination", Input)
        assert destination.value == "emails.quarantine"
        dialog.query_one("#surgery-typed", Input).value = "47157"
        await pilot.pause()
        assert not dialog.query_one("#confirm", Button).disabled
        destination.value = ""
        await pilot.pause()
        assert dialog.query_one("#confirm", Button).disabled
        destination.value = "parking"
        await pilot.pause()
        await pilot.click("#confirm")
        await pilot.pause()
    assert calls == [("move", ("emails", "parking", f"task:{FLOOD}"), {})]


async def test_read_only_has_no_surgery_keys():
    app = sample_app(read_only=True)
    async with app.run_test(size=(120, 36)) as pilot:
        calls = recorded(app)
        screen = await open_emails(pilot)
        for key in ("p", "m", "P"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is screen
        for action in ("remove_matching", "move", "purge_all"):
            assert screen.check_action(action, ()) is False  # gone from footer and help
        assert "Remove" not in " ".join(
            b.binding.description for b in app.active_bindings.values())
    assert calls == []


async def test_hostile_messages_are_shown_literally():
    hostile = "[red]x[/red][@click=app.quit]z[/]\x1b[31m"
    app = sample_app()

    def read_peek(name):
        messages = [QueuedMessage(i, f"id-{hostile}-{i}", f"{hostile}.task", hostile,
                                  hostile, eta=hostile, retries=1) for i in range(5)]
        summary = summarize(messages, 100)
        return Peek(name, "redis", 5, 5, True, None, tuple(summary.kept),
                    summary.sorted_groups())

    app.read_peek = read_peek
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_emails(pilot)
        name = screen.query_one("#groups", DataTable).get_row_at(0)[0].plain
        assert "[@click=app.quit]z[/]" in name and name.endswith(".task")
        await pilot.press("tab", "enter")
        await pilot.pause()
        assert isinstance(app.screen, MessageDetailScreen)
        assert "[@click=app.quit]" in rendered(app.screen.query_one("#message-info"))
        assert app.is_running


async def test_enter_before_the_count_is_read_says_so_and_does_nothing(monkeypatch):
    # A broker slow to count: the count never arrives in this test.
    monkeypatch.setattr(SurgeryDialog, "_load", lambda self: None)
    app = sample_app()
    async with app.run_test(size=(120, 36)) as pilot:
        calls = recorded(app)
        await open_emails(pilot)
        await pilot.press("p")
        dialog = app.screen
        assert isinstance(dialog, SurgeryDialog)
        await pilot.press(*"47157", "enter")
        assert isinstance(app.screen, SurgeryDialog) and calls == []
        assert dialog.selection is None
        said = " ".join(rendered(dialog.query_one("#surgery-require")).split())
        assert "still counting on the broker: Enter does nothing" in said

