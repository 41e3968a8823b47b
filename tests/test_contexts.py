"""Contexts from the config file: `console contexts`, `--context`, `:ctx`
switched in a running console against real RabbitMQ and Redis, the password
from a named variable (never shown), read-only contexts refused in core."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap

import pytest

from brokers import (_rabbitmqctl, broker_depth, companion_app, fill_queue, running_worker,
                     wait_until)
from brokers import pilot_until as until
from console.cli import Options
from console.core.actions import ReadOnlyError
from console.core.config import Context, load_config, with_password
from console.core.connection import ConsoleError
from console.core.contexts import open_context

SIZE = (120, 36)


def run(*args, env=None, timeout=90) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.pop("CELERY_BROKER_URL", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True,
                          text=True, env=full_env, timeout=timeout)


def write(tmp_path, text: str, name: str = "config.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# ------------------------------------------------------------ the file
@pytest.mark.parametrize("body, words", [
    ("[contexts.a]\nbroker = 'amqp://u:pw12345@h//'\n", "holds a password"),
    ("[contexts.a]\nqueues = ['x']\n", "give an app"),
    ("[contexts.a]\nbroker = 'redis://h'\nread_only = 'yes'\n", "read_only is true or false"),
    ("[contexts.a]\nbroker = 'redis://h'\ncolour = 1\n", "unknown setting 'colour'"),
    ("default_context = 'b'\n[contexts.a]\nbroker = 'redis://h'\n", "names no context"),
    ("[contexts.a\n", "not valid TOML"),
    ("[keymap]\n'screen.queues' = 3\n", "[keymap] maps binding ids"),
])
def test_a_bad_config_file_is_one_clear_line(tmp_path, body, words):
    path = write(tmp_path, body)
    result = run("--config", str(path), "contexts")
    assert result.returncode == 78, result
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("console: config ") and words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "pw12345" not in result.stderr


def test_unknown_keymap_id_and_unknown_context_are_one_line(tmp_path):
    path = write(tmp_path, "[keymap]\n'screen.queue' = 'f3'\n[contexts.a]\nbroker = 'redis://h'\n")
    from console.ui.keymap import check_keymap

    with pytest.raises(ConsoleError, match="did you mean screen.queues"):
        check_keymap(load_config(path))
    tui = run("--config", str(path), "-b", "redis://127.0.0.1:1/0")  # before the TUI starts
    assert tui.returncode == 78 and "'screen.queue' is no binding id" in tui.stderr
    assert len(tui.stderr.strip().splitlines()) == 1
    after = run("--config", str(path), "status", "--context", "nope")  # after the command too
    assert after.returncode == 78 and "no context 'nope'" in after.stderr
    result = run("--config", str(path), "--context", "nope", "status")
    assert result.returncode == 78 and "no context 'nope'" in result.stderr
    assert "known: a" in result.stderr
    missing = run("--config", str(tmp_path / "absent.toml"), "contexts")
    assert missing.returncode == 78 and "no such file" in missing.stderr


def test_contexts_lists_where_passwords_come_from_never_them(tmp_path):
    secret = "s3cret-" + secrets.token_hex(6)
    (tmp_path / "pw").write_text(secret + "\n")
    path = write(tmp_path, f"""
        default_context = "prod"
        [contexts.prod]
        broker = "amqp://ops@rabbit.example:5671/prod;amqp://ops@rabbit2.example:5671/prod"
        password_env = "PROD_PASS"
        queues = ["backlog", "imports"]
        [contexts.stage]
        app = "proj.celery:app"
        password_file = "{tmp_path / 'pw'}"
        read_only = false
    """)
    result = run("--config", str(path), "contexts", env={"PROD_PASS": secret})
    assert result.returncode == 0, result
    out = result.stdout
    assert "* prod" in out and "$PROD_PASS" in out and "read-only" in out
    assert "stage" in out and "writable" in out and str(tmp_path / "pw") in out
    assert secret not in out + result.stderr
    listed = json.loads(run("--config", str(path), "contexts", "--json",
                            env={"PROD_PASS": secret}).stdout)
    assert [c["name"] for c in listed["contexts"]] == ["prod", "stage"]
    assert listed["contexts"][0]["read_only"] is True  # the default
    # The URL a context opens with has the password, in every failover URL.
    config = load_config(path)
    os.environ["PROD_PASS"] = secret
    url = config.context("prod").url()
    assert url.count(f"ops:{secret}@") == 2
    assert config.context("stage").password() == secret


def test_password_is_percent_encoded_into_the_url():
    assert with_password("amqp://ops@h:5672/v", "p@ss/w:rd") == "amqp://ops:p%40ss%2Fw%3Ard@h:5672/v"
    assert with_password("redis://h:6379/0", "x") == "redis://h:6379/0"  # no user: none to add
    ctx = Context("c", broker="amqp://ops@h//", password_env="NO_SUCH_VARIABLE_X")
    with pytest.raises(ConsoleError, match="NO_SUCH_VARIABLE_X .* is not set"):
        ctx.url()


# ------------------------------------------------------- real brokers
@pytest.fixture
def rabbit_user(rabbitmq_broker):
    """A RabbitMQ user of its own, with a password only the test knows."""
    user = f"ctx-{secrets.token_hex(4)}"
    password = "pw-" + secrets.token_hex(10)
    vhost = rabbitmq_broker.url.rsplit("/", 1)[1]
    _rabbitmqctl("add_user", user, password)
    _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
    yield user, password, vhost
    _rabbitmqctl("delete_user", user)


def two_contexts(tmp_path, rabbit_user, redis_broker, rabbit_read_only=True):
    user, _, vhost = rabbit_user
    return write(tmp_path, f"""
        [contexts.rabbit]
        broker = "amqp://{user}@127.0.0.1:5672/{vhost}"
        password_env = "CTX_TEST_RABBIT_PASSWORD"
        read_only = {str(rabbit_read_only).lower()}
        queues = ["backlog"]
        audit_log = "{tmp_path / 'rabbit-audit.jsonl'}"
        [contexts.redis]
        broker = "{redis_broker.url}"
        read_only = false
        audit_log = "{tmp_path / 'redis-audit.jsonl'}"
    """)


@pytest.mark.broker
def test_status_through_a_context_takes_the_password_from_its_variable(
        tmp_path, rabbitmq_broker, rabbit_user, redis_broker):
    _, password, _ = rabbit_user
    path = two_contexts(tmp_path, rabbit_user, redis_broker)
    with running_worker(rabbitmq_broker, tmp_path, queues="default") as host:
        result = run("--config", str(path), "--context", "rabbit", "status", "--json",
                     "--wait", "2", env={"CTX_TEST_RABBIT_PASSWORD": password})
        assert result.returncode == 0, result.stderr
        assert password not in result.stdout + result.stderr
        report = json.loads(result.stdout)
        assert host in {w["hostname"] for w in report["workers"]}
        assert "****" in report["broker"]
        # A wrong password: the one-line error, masked.
        wrong = run("--config", str(path), "--context", "rabbit", "status", "--wait", "0",
                    env={"CTX_TEST_RABBIT_PASSWORD": password + "x"})
        assert wrong.returncode == 69 and "Traceback" not in wrong.stderr
        assert password not in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1
        # A read-only context refuses a purge in core, audited in its own file.
        refused = run("--config", str(path), "--context", "rabbit", "purge", "default",
                      "--yes", env={"CTX_TEST_RABBIT_PASSWORD": password})
        assert refused.returncode == 77, refused
        audit = (tmp_path / "rabbit-audit.jsonl").read_text()
        assert '"refused"' in audit and password not in audit


@pytest.mark.broker
@pytest.mark.slow
async def test_ctx_switches_between_rabbitmq_and_redis_in_a_running_console(
        tmp_path, rabbitmq_broker, rabbit_user, redis_broker, monkeypatch):
    from console.ui.app import ConsoleApp

    _, password, _ = rabbit_user
    monkeypatch.setenv("CTX_TEST_RABBIT_PASSWORD", password)
    config = load_config(two_contexts(tmp_path, rabbit_user, redis_broker))
    opened = open_context(config.context("rabbit"))
    assert opened.read_only
    fill_queue(rabbitmq_broker, companion_app(rabbitmq_broker), "backlog", 5)
    with running_worker(rabbitmq_broker, tmp_path, queues="default", name="rabbitw") as rabbit_host, \
            running_worker(redis_broker, tmp_path, queues="default", name="redisw") as redis_host:
        console = ConsoleApp(opened.target, Options(
            read_only=opened.read_only, queues=opened.queues, audit_log=opened.audit_log,
            config=config, context="rabbit", inspect_interval=1.0, probe_interval=1.0))
        async with console.run_test(size=SIZE) as pilot:
            rabbit_state = console.state
            assert await until(pilot, lambda: rabbit_host in rabbit_state.workers_online(), 30)
            assert await until(pilot, lambda: _depth(rabbit_state, "backlog") == 5, 30)
            # Read-only in core: the purge is refused and nothing changes.
            with pytest.raises(ReadOnlyError):
                console.actions.purge(["backlog"])
            with pytest.raises(ReadOnlyError):
                console.actions.read_only = False
            rabbit_monitor = console.monitor
            await pilot.press("colon", *"ctx redis", "enter")
            assert await until(pilot, lambda: console.options.context == "redis", 30)
            assert not rabbit_monitor.started  # the old context's threads stopped
            redis_state = console.state
            assert redis_state is not rabbit_state
            assert await until(pilot, lambda: redis_host in redis_state.workers_online(), 30)
            assert rabbit_host not in redis_state.known_workers()
            assert redis_host not in rabbit_state.known_workers()
            assert console.target.masked_url == redis_broker.url
            assert await until(pilot, lambda: f"redis: {redis_broker.url}"
                               in _screen_text(console), 15)
            assert not console.actions.read_only
            # Writable, and audited in this context's own file.
            assert console.actions.purge(["default"]).status.value == "ok"
            assert '"purge"' in (tmp_path / "redis-audit.jsonl").read_text()
            assert '"attempt"' not in (tmp_path / "rabbit-audit.jsonl").read_text()
            # The screen shows this cluster's worker, not the other's.
            assert await until(pilot, lambda: redis_host in _screen_text(console), 15)
            assert rabbit_host not in _screen_text(console)
            # And back: the RabbitMQ context keeps its model and its read-only.
            await pilot.press("colon", *"ctx rabbit", "enter")
            assert await until(pilot, lambda: console.options.context == "rabbit", 30)
            assert console.state is rabbit_state and console.actions.read_only
            assert await until(pilot, lambda: rabbit_host in _screen_text(console), 15)
            assert password not in _screen_text(console)
            # The monitor starts once the screens are rebuilt, a moment after
            # they first show the context.
            assert await until(pilot, lambda: console.monitor.started, 15)
    assert wait_until(lambda: broker_depth(rabbitmq_broker, companion_app(rabbitmq_broker), "backlog") == 5, 5)
    assert password not in (tmp_path / "rabbit-audit.jsonl").read_text()


def _depth(state, name):
    view = state.queue_view(name)
    return view.messages if view is not None else None


def _screen_text(console) -> str:
    from textual.widgets import DataTable

    parts = []
    screen = console.screen
    for table in screen.query(DataTable):
        for row in range(table.row_count):
            parts.append(" ".join(str(c) for c in table.get_row_at(row)))
    for widget in screen.query("StatusHeader"):
        parts.append(str(widget.render()))
    return "\n".join(parts)


@pytest.mark.broker
def test_default_context_is_used_when_nothing_else_names_a_cluster(tmp_path, redis_broker):
    path = write(tmp_path, f"""
        default_context = "here"
        [contexts.here]
        broker = "{redis_broker.url}"
        queues = ["only-in-this-context"]
    """)
    result = run("--config", str(path), "status", "--json", "--wait", "0", "--timeout", "0.2")
    assert result.returncode == 69  # no worker there
    report = json.loads(result.stdout)
    assert report["broker"] == redis_broker.url
    assert "only-in-this-context" in {q["name"] for q in report["queues"]}
    # -b names another cluster: the default context is not used.
    elsewhere = redis_broker.url.replace("127.0.0.1", "localhost")
    other = run("--config", str(path), "-b", elsewhere, "status", "--json",
                "--wait", "0", "--timeout", "0.2")
    assert json.loads(other.stdout)["broker"] == elsewhere


async def test_ctx_that_cannot_open_says_why_and_stays_where_it_was(tmp_path, monkeypatch):
    from console.sample import sample_app

    monkeypatch.delenv("CTX_TEST_MISSING", raising=False)
    config = load_config(write(tmp_path, """
        [contexts.locked]
        broker = "amqp://ops@127.0.0.1:1//"
        password_env = "CTX_TEST_MISSING"
    """))
    app = sample_app(config=config)
    async with app.run_test(size=SIZE) as pilot:
        state, target = app.state, app.target
        for typed, words in (("ctx nope", "no context 'nope'"),
                             ("ctx locked", "CTX_TEST_MISSING (its password) is not set"),
                             ("ctx", "contexts: locked")):
            await pilot.press("colon", *typed, "enter")
            assert await until(pilot, lambda words=words: any(
                words in str(n.message) for n in app._notifications), 10), \
                [str(n.message) for n in app._notifications]
        assert app.state is state and app.target is target and app.options.context is None
