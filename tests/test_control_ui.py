"""Remote-control keys and their dialogs, driven with Pilot on the sample.

These check what each dialog lists, where focus starts, what it refuses and
which core action it asks for; `perform` is recorded instead of sent, since
the sample's broker does not exist. The effects on real workers are checked
in test_actions.py and, through these same keys, in test_control_e2e.py.
"""

from __future__ import annotations

import pytest
from textual.widgets import Checkbox, Input, Select, Static

from console.sample import sample_app
from console.ui.commands import palette_entries
from console.ui.keys.tasks import TASK_BINDINGS
from console.ui.screens.worker_detail import WorkerDetailScreen
from console.ui.keys.workers import WORKER_BINDINGS
from console.ui.widgets.form import FormDialog

SIZE = (120, 36)


def recording_app(**options):
    app = sample_app(**options)
    app.calls = []
    app.perform = lambda description, fn, *args, **kwargs: app.calls.append(
        (fn.__name__, args, kwargs))
    return app


async def open_dialog(pilot, *keys) -> FormDialog:
    for key in keys:
        await pilot.press(key)
        await pilot.pause()
    dialog = pilot.app.screen
    assert isinstance(dialog, FormDialog), f"{keys} opened {dialog!r}"
    return dialog


def listed(dialog) -> str:
    return dialog.query_one("#form-list", Static).render().plain


def error(dialog) -> str:
    return dialog.query_one("#form-error", Static).render().plain


async def submit(pilot, dialog, **values) -> None:
    for key, value in values.items():
        widget = dialog.query_one(f"#field-{key}")
        widget.value = value
    await pilot.pause()
    dialog.submit()
    await pilot.pause()


@pytest.mark.parametrize("keys,title", [
    (("2", "x"), "Revoke 1 task?"),
    (("2", "X"), "Terminate 1 task?"),
    (("1", "R"), "Restart the pool of alpha@web-1?"),
    (("1", "ctrl+d"), "Shut down alpha@web-1?"),
])
async def test_destructive_dialogs_start_on_cancel(keys, title):
    app = recording_app()
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot, *keys)
        assert dialog.dialog_title.startswith(title)
        assert app.focused.id == "cancel"
        await pilot.press("enter")  # enter on Cancel: nothing is sent
        await pilot.pause()
        assert not isinstance(app.screen, FormDialog)
        dialog = await open_dialog(pilot, keys[-1])
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, FormDialog) and app.calls == []


async def test_bulk_revoke_lists_every_marked_task_and_those_the_filter_hides():
    app = recording_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        screen = app.screen
        await pilot.press("space", "space", "space")  # the three newest: RECEIVED
        marked = set(screen.marks)
        assert len(marked) == 3
        screen.apply_filter(f"uuid:{sorted(marked)[0]}")  # two of them now hidden
        await pilot.pause()
        dialog = await open_dialog(pilot, "x")
        assert dialog.dialog_title == "Revoke 3 tasks?"
        text = listed(dialog)
        assert all(uuid in text for uuid in marked)
        assert "2 of them hidden by the current filter" in dialog.note
        assert "alpha@web-1, beta@web-2" in dialog.note  # who will receive it
        await pilot.press("tab", "enter")  # Cancel → Revoke
        await pilot.pause()
        assert app.calls == [("revoke", (sorted(marked),), {"terminate": False})]


async def test_terminate_refuses_an_unknown_signal_and_sends_the_chosen_one():
    app = recording_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        for _ in range(6):
            await pilot.press("j")  # the first running task
        dialog = await open_dialog(pilot, "X")
        assert dialog.query_one("#field-signal", Input).value == "SIGTERM"
        assert "not running" not in dialog.note
        await submit(pilot, dialog, signal="SIGFOO")
        assert app.screen is dialog and "unknown signal 'SIGFOO'" in error(dialog)
        await submit(pilot, dialog, signal="kill")
        assert app.screen is not dialog
        (name, args, kwargs), = app.calls
        assert name == "revoke" and kwargs == {"terminate": True, "signal": "SIGKILL"}
        assert app.state.task(args[0][0]).state == "STARTED"


async def test_rate_limit_from_a_task_validates_and_targets_the_chosen_worker():
    app = recording_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        dialog = await open_dialog(pilot, "l")
        task_name = app.state.tasks_newest_first()[0].name
        assert dialog.query_one("#field-task", Select).value == task_name
        assert app.focused is dialog.query_one("#field-rate", Input)  # typed first
        await pilot.press(*"abc", "enter")
        await pilot.pause()
        assert app.screen is dialog and "is not a rate" in error(dialog)
        dialog.query_one("#field-task", Select).value = "console.companion.tasks.send_email"
        await pilot.pause()
        assert "now: rate_limit=10/s" in listed(dialog)  # the worker's current limit
        await submit(pilot, dialog, rate="100/m", workers="beta@web-2")
        assert app.calls == [("rate_limit", (), {
            "task_name": "console.companion.tasks.send_email", "rate": "100/m",
            "destination": ["beta@web-2"], "previous": "10/s"})]


async def test_time_limit_checks_order_and_asks_before_restarting_pools():
    app = recording_app()
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot, "1", "t")  # alpha's registered types
        choices = [value for _, value in dialog.fields[0].choices]
        assert "console.companion.tasks.render_report" in choices
        await submit(pilot, dialog, soft="30", hard="60")
        assert "choose a task type" in error(dialog) and app.calls == []
        dialog.query_one("#field-task", Select).value = "console.companion.tasks.render_report"
        await submit(pilot, dialog, soft="90", hard="60")
        assert "soft limit must be below the hard limit" in error(dialog)
        await submit(pilot, dialog, soft="-1", hard="")
        assert "positive" in error(dialog)
        dialog.query_one("#field-apply_now", Checkbox).value = True
        await submit(pilot, dialog, soft="30", hard="60")
        restart = app.screen
        assert isinstance(restart, FormDialog) and restart.destructive
        assert restart.dialog_title.startswith("Restart the pool of alpha@web-1")
        assert app.focused.id == "cancel" and app.calls == []
        await pilot.press("tab", "enter")
        await pilot.pause()
        (name, _, kwargs), = app.calls
        assert name == "time_limit" and kwargs["apply_now"] is True
        assert kwargs["soft"] == 30.0 and kwargs["hard"] == 60.0
        assert kwargs["destination"] == ["alpha@web-1"]


@pytest.mark.parametrize("key,field,bad,message,good,call", [
    ("plus", "n", "-3", "at least 1", "2", ("pool_grow", {"n": 2})),
    ("minus", "n", "two", "not a whole number", "1", ("pool_shrink", {"n": 1})),
    ("c", "queue", "two words", "no spaces", "emails", ("add_consumer", {"queue": "emails"})),
    ("c", "queue", "q" * 10_000, "at most 255 characters", "backlog",
     ("add_consumer", {"queue": "backlog"})),
])
async def test_worker_dialogs_refuse_nonsense(key, field, bad, message, good, call):
    app = recording_app()
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot, "1", key)
        await submit(pilot, dialog, **{field: bad})
        assert app.screen is dialog and message in error(dialog) and app.calls == []
        await submit(pilot, dialog, **{field: good})
        name, kwargs = call
        assert app.calls == [(name, (), dict(kwargs, destination=["alpha@web-1"]))]


async def test_autoscale_needs_min_not_above_max():
    app = recording_app()
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot, "1", "a")
        field = dialog.query_one("#field-max", Input)
        assert field.value == "" and "now 4" in field.placeholder  # typed, not prefilled
        await submit(pilot, dialog, max="2", min="5")
        assert app.screen is dialog and "min must not be above max" in error(dialog)
        await submit(pilot, dialog, max="6", min="2")
        assert app.calls == [("autoscale", (), {"max_concurrency": 6, "min_concurrency": 2,
                                                "destination": ["alpha@web-1"]})]


async def test_cancel_consumer_offers_the_workers_queues():
    app = recording_app()
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot, "1", "j", "C")  # beta
        assert [v for _, v in dialog.fields[0].choices] == ["default", "reports", "slow"]
        await submit(pilot, dialog, queue="slow")
        assert app.calls == [("cancel_consumer", (), {"queue": "slow",
                                                      "destination": ["beta@web-2"]})]


async def test_marked_workers_are_all_targets():
    app = recording_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        await pilot.pause()
        await pilot.press("space", "space")
        dialog = await open_dialog(pilot, "ctrl+d")
        assert dialog.dialog_title == "Shut down 2 workers?"
        assert "alpha@web-1" in listed(dialog) and "beta@web-2" in listed(dialog)
        await pilot.press("tab", "enter")
        await pilot.pause()
        assert app.calls == [("shutdown", (), {"destination": ["alpha@web-1", "beta@web-2"]})]


async def test_nothing_moves_under_an_action_dialog():
    app = recording_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        tasks = app.screen
        before = [t.uuid for t in tasks.table.rows[:5]]
        await open_dialog(pilot, "x")
        app.state.apply({"type": "task-received", "uuid": "new-task", "name": "x.y",
                         "hostname": "alpha@web-1", "timestamp": app.now()})
        await pilot.pause(0.6)
        assert [t.uuid for t in tasks.table.rows[:5]] == before


async def test_worker_detail_shows_every_inspection_with_its_age():
    app = recording_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, WorkerDetailScreen) and screen.hostname == "alpha@web-1"

        def text(section):
            return screen.query_one(f"#{section}", Static).content

        assert "prefork, 4 processes now" in _plain(text("pool"))
        assert "5100 5101 5102 5103" in _plain(text("pool"))
        assert "ago" in _plain(text("pool"))
        assert "default, emails" in _plain(text("queues"))
        assert "Active (running): 2" in _plain(text("active"))
        assert "10/s" in _plain(text("registered")) and "90.0" in _plain(text("registered"))
        assert "amqp://ops:****@rabbit" in _plain(text("conf")) and "s3cret" not in _plain(text("conf"))
        # Its keys act on this worker.
        dialog = await open_dialog(pilot, "plus")
        assert "alpha@web-1" in listed(dialog)
        await pilot.press("escape")
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("G", "enter")  # gamma never answered
        await pilot.pause()
        assert "no reply within 1 s" in _plain(app.screen.query_one("#pool", Static).content)


def _plain(renderable) -> str:
    from rich.console import Console

    console = Console(width=200, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize("screen_keys,bindings", [
    (("2",), TASK_BINDINGS), (("2", "enter"), TASK_BINDINGS),
    (("1",), WORKER_BINDINGS), (("1", "enter"), WORKER_BINDINGS),
])
async def test_read_only_hides_every_action_key(screen_keys, bindings):
    app = recording_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        for key in screen_keys:
            await pilot.press(key)
            await pilot.pause()
        screen = app.screen
        actions = {b.action for b in bindings}
        active = {a.binding.action for a in screen.active_bindings.values()}
        assert not actions & active
        described = {title for title, _, _ in palette_entries(screen)}
        assert not {b.description for b in bindings} & described
        for binding in bindings:
            await pilot.press(binding.key)
            await pilot.pause()
            assert app.screen is screen, f"{binding.key} opened {app.screen!r}"
        assert app.calls == []


async def test_every_action_key_is_in_help_and_the_palette():
    app = recording_app()
    async with app.run_test(size=SIZE) as pilot:
        for key, bindings in (("2", TASK_BINDINGS), ("1", WORKER_BINDINGS)):
            await pilot.press(key)
            await pilot.pause()
            described = {title for title, _, _ in palette_entries(app.screen)}
            assert {b.description for b in bindings} <= described
            await pilot.press("question_mark")
            await pilot.pause()
            helped = " ".join(text for _, text in app.screen.keys)
            assert all(b.tooltip in helped for b in bindings)
            await pilot.press("escape")
            await pilot.pause()


# ------------------------------------- Enter never changes the cluster alone
@pytest.mark.parametrize("keys", [
    ("1", "plus"), ("1", "minus"), ("1", "a"), ("1", "c"), ("1", "C"), ("1", "l"),
    ("1", "t"), ("2", "l"), ("2", "t"),
], ids=lambda keys: "+".join(keys))
async def test_enter_on_an_untouched_dialog_sends_nothing(keys):
    """Every non-destructive dialog: Enter on what it opened with sends
    nothing and says why; the dialog stays open."""
    app = recording_app()
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot, *keys)
        await pilot.press("enter")
        await pilot.pause()
        assert app.calls == []
        assert app.screen is dialog, "an untouched dialog must not submit"
        dialog.submit()  # the Set button, pressed on the untouched dialog
        await pilot.pause()
        assert app.calls == [] and app.screen is dialog and error(dialog)


async def test_rate_limit_removal_is_explicit_and_names_old_and_new():
    app = recording_app()
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot, "1", "l")  # alpha: no type preselected
        assert dialog.query_one("#field-task", Select).value is Select.NULL
        dialog.query_one("#field-task", Select).value = "console.companion.tasks.send_email"
        await pilot.pause()
        assert "now: rate_limit=10/s" in listed(dialog) and "→" not in listed(dialog)
        dialog.query_one("#field-rate", Input).value = "none"
        await pilot.pause()
        assert "now: rate_limit=10/s → no limit" in listed(dialog)
        dialog.submit()
        await pilot.pause()
        assert app.calls == [("rate_limit", (), {
            "task_name": "console.companion.tasks.send_email", "rate": None,
            "destination": ["alpha@web-1"], "previous": "10/s"})]


async def test_slash_filters_workers_and_a_burst_never_reaches_an_action():
    """`/alpha` filters the Workers table; `/evil-1` and Enter typed in one
    burst (as someone looking for a worker types) go into the filter, where
    they used to open the rate-limit dialog and remove a limit."""
    from console.ui.widgets.vim_table import VimTable

    app = recording_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        await pilot.pause()
        await pilot.press("slash", *"alpha", "enter")  # no pause between keys
        await pilot.pause()
        table = app.screen.query_one(VimTable)
        assert [row.value for row in table.rows] == ["alpha@web-1"]
        await pilot.press("escape")
        await pilot.pause()
        assert table.row_count == 3
        await pilot.press("slash", *"status:offline", "enter")
        await pilot.pause()
        assert [row.value for row in table.rows] == ["gamma@batch-1"]
        await pilot.press("escape")
        await pilot.press("slash", *"evil-1", "enter")
        await pilot.pause()
        assert app.calls == [] and not isinstance(app.screen, FormDialog)
        assert table.row_count == 0 and app.screen.filter_text == "evil-1"


@pytest.mark.parametrize("screen", ["1", "2"])
async def test_keys_typed_while_a_dialog_opens_never_reach_the_screen_below(screen):
    """`l` then keys in one burst: they go into the dialog or are dropped,
    never to the screen below, and Enter on what they left sends nothing
    unless it is a valid value the operator typed."""
    app = recording_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(screen)
        await pilot.pause()
        below = app.screen
        await pilot.press("l", "slash", "x", "space", "enter")
        await pilot.pause()
        assert isinstance(app.screen, FormDialog)
        assert app.calls == []
        assert below.filter_text == "" and not below.marks  # nothing reached it
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is below and app.calls == []


SMALL_DIALOG_KEYS = [
    ["2", "space", "space", "x"], ["2", "X"], ["2", "l"], ["1", "t"], ["1", "plus"],
    ["1", "a"], ["1", "c"], ["1", "j", "C"], ["1", "R"], ["1", "space", "space", "ctrl+d"],
    ["3", "p"], ["3", "P"],
]


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
async def test_every_dialog_keeps_its_buttons_on_a_small_terminal(size):
    """At 60x20 only Cancel used to show, and at 80x24 the purge dialog was
    clipped: every dialog's buttons are on screen, whole."""
    from textual.widgets import Button

    for keys in SMALL_DIALOG_KEYS:
        app = sample_app()
        async with app.run_test(size=size) as pilot:
            for key in keys:
                await pilot.press(key)
                await pilot.pause()
            dialog = app.screen
            screen_region = dialog.region
            for button in dialog.query(Button):
                region = button.region
                assert region.area > 0 and screen_region.contains_region(region), \
                    (keys, button.id, region, screen_region)
                assert button.size.width >= len(str(button.label)), (keys, button.id)
