"""Security: the broker password never shows, the audit file is private, the
console listens on nothing, and --read-only holds from every entry point.

The broker tests make a real user with a password of their own (RabbitMQ:
`rabbitmqctl add_user` on the session vhost; Redis: an ACL user), run real
workers with it, and grep every output the console produces for it.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from brokers import (
    IN_CI, REDIS_HOST, REDIS_PORT, BrokerEnv, broker_depth, companion_app, fill_queue,
    running_worker, wait_until,
)
from console.cli import Options
from console.core.actions import Actions, ReadOnlyError
from console.core.audit import AuditLog
from console.core.connection import Target
from console.core.rerun import RerunPlan
from console.core.state import ClusterState
from proxy import TcpProxy

TASKS = "console.companion.tasks."


# ------------------------------------------------------------ secret users
@pytest.fixture
def secret(real_broker):
    """(BrokerEnv whose URL carries a password of our own, the password)."""
    broker = real_broker
    user = f"console-sec-{uuid.uuid4().hex[:6]}"
    password = f"Pw{uuid.uuid4().hex[:10]}Zq"
    parts = urlsplit(broker.url)
    if broker.kind == "rabbitmq":
        vhost = parts.path.lstrip("/")
        ctl = ["rabbitmqctl", "-q"]
        subprocess.run([*ctl, "add_user", user, password], check=True, capture_output=True,
                       timeout=60)
        subprocess.run([*ctl, "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
                       check=True, capture_output=True, timeout=60)
        cleanup = [*ctl, "delete_user", user]
    else:
        import redis

        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
        client.acl_setuser(user, enabled=True, passwords=[f"+{password}"],
                           keys=["*"], channels=["*"], commands=["+@all"])
        cleanup = None
    url = f"{parts.scheme}://{user}:{password}@{parts.hostname}:{parts.port}{parts.path}"
    try:
        yield BrokerEnv(broker.kind, url, flush=broker.flush), password
    finally:
        if cleanup:
            subprocess.run(cleanup, capture_output=True, timeout=60)
        else:
            client.acl_deluser(user)


def run_console(*args, env=None, cwd=None, timeout=90) -> subprocess.CompletedProcess:
    full = dict(os.environ)
    full.pop("CELERY_BROKER_URL", None)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True,
                          text=True, env=full, cwd=cwd, timeout=timeout)


def assert_no_secret(password: str, **outputs) -> None:
    for where, text in outputs.items():
        assert password not in str(text), f"password in {where}: {str(text)[:2000]}"


# --------------------------------------------------------- headless output
@pytest.mark.broker
def test_password_never_in_headless_output_errors_or_audit(secret, tmp_path):
    broker, password = secret
    app = companion_app(broker)
    fill_queue(broker, app, "reports", 3)
    audit = tmp_path / "audit.jsonl"
    outputs = {}
    with running_worker(broker, tmp_path):
        env = {"CELERY_BROKER_URL": broker.url}
        status = run_console("-A", "console.companion", "status", "--json", "--wait", "2",
                             env=env)
        assert status.returncode == 0, status.stderr
        assert "****" in status.stdout and '"workers_online": 1' in status.stdout
        outputs["status --json"] = status.stdout + status.stderr
        table = run_console("-b", broker.url, "status", "--wait", "1")  # in argv too
        outputs["status"] = table.stdout + table.stderr
        plugin = subprocess.run(
            [sys.executable, "-m", "celery", "-A", "console.companion", "console", "status",
             "--json", "--wait", "1"], capture_output=True, text=True, timeout=90,
            env={**os.environ, "CELERY_BROKER_URL": broker.url})
        outputs["celery console status"] = plugin.stdout + plugin.stderr
        purge = run_console("-b", broker.url, "--audit-log", str(audit), "purge", "reports",
                            "--yes")
        assert purge.returncode == 0, purge.stderr
        outputs["purge"] = purge.stdout + purge.stderr
        missing = run_console("-b", broker.url, "--audit-log", str(audit), "purge",
                              "no-such-queue", "--yes")
        assert missing.returncode == 1
        outputs["purge of a missing queue"] = missing.stdout + missing.stderr
    # Error paths: the right password, a broker that is not there / a vhost
    # or db the user may not use / a wrong port; with CONSOLE_DEBUG the
    # unexpected-error path too.
    parts = urlsplit(broker.url)
    wrong_place = broker.url.rsplit("/", 1)[0] + ("/no-such-vhost" if broker.kind == "rabbitmq"
                                                  else "/99")
    wrong_port = broker.url.replace(f":{parts.port}/", ":1/")
    for name, url in (("wrong vhost/db", wrong_place), ("wrong port", wrong_port)):
        result = run_console("-b", url, "status", "--wait", "0", env={"CONSOLE_DEBUG": ""})
        assert result.returncode != 0 and "Traceback" not in result.stderr
        outputs[name] = result.stdout + result.stderr
    outputs["audit log"] = audit.read_text()
    assert '"purge"' in outputs["audit log"]
    assert_no_secret(password, **outputs)


# ----------------------------------------------------- the TUI, headless
@pytest.mark.broker
async def test_password_never_on_screen_in_logs_or_the_audit(secret, tmp_path):
    """A whole session through a proxy: every screen, an action, a purge, the
    connection cut and restored. Screens, notifications, the action log, the
    audit file and every log record (ours and the libraries', at DEBUG) are
    searched for the password."""
    from console.ui.app import ConsoleApp
    from test_reliability import screen_lines

    broker, password = secret
    parts = urlsplit(broker.url)
    proxy = TcpProxy(parts.port).start()
    proxied = broker.url.replace(f":{parts.port}/", f":{proxy.port}/")
    fill_queue(broker, companion_app(broker), "reports", 3)
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Keep(level=logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s %(exc_text)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    audit = tmp_path / "audit.jsonl"
    seen: list[str] = []
    try:
        with running_worker(broker, tmp_path) as hostname:
            # A fresh app per broker (Celery caches pools on the app object).
            target = Target(companion_app(broker), url=proxied)
            app = ConsoleApp(target, Options(audit_log=str(audit), probe_interval=0.5,
                                             inspect_interval=1.0))
            async with app.run_test(size=(120, 36)) as pilot:
                async def settle(predicate, timeout=20.0):
                    deadline = time.monotonic() + timeout
                    while time.monotonic() < deadline and not predicate():
                        await pilot.pause(0.2)
                    return predicate()

                assert await settle(lambda: hostname in app.state.workers_online())
                app.perform("rate limit", app.actions.rate_limit, TASKS + "add", "2/s")
                app.perform("purge", app.actions.purge, ["reports"])
                assert await settle(lambda: len(app.state.actions) == 2)
                for key in "12345":
                    await pilot.press(key)
                    await pilot.pause(0.3)
                    seen.extend(screen_lines(app))
                proxy.cut()
                assert await settle(lambda: app.state.connection.state == "reconnecting")
                app.perform("pool grow", app.actions.pool_grow, 1, destination=[hostname])
                assert await settle(lambda: len(app.state.actions) == 3)
                await pilot.pause(0.5)
                for key in "12345":
                    await pilot.press(key)
                    await pilot.pause(0.3)
                    seen.extend(screen_lines(app))
                seen.extend(str(n.message) for n in app._notifications)
                proxy.restore()
                assert await settle(lambda: app.state.connection.state == "connected")
                await pilot.press("q")
            assert app.state.actions[-1].status == "error"  # not sent: broker away
            with app.state.lock:
                model_text = repr(app.state.actions) + repr(app.state.queues) + \
                    repr(app.state.inspections) + repr(app.state.connection)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        proxy.close()
    assert any("reconnecting" in line or "disconnected" in line for line in seen)
    assert any("****" in line for line in seen)  # the URL was on screen, masked
    assert records, "no log records captured: the check would prove nothing"
    assert_no_secret(password, screens="\n".join(seen), logs="\n".join(records),
                     audit=audit.read_text(), model=model_text)


# ---------------------------------------------------------------- the files
def test_audit_file_is_0600_and_its_folder_0700(tmp_path):
    old = os.umask(0)  # the modes must not depend on the caller's umask
    try:
        path = tmp_path / "state" / "celery-console" / "audit.jsonl"
        log = AuditLog(path, "amqp://ops:Sup3rSecret@rabbit:5672/prod")
        log.attempt("purge", ["q"], {"url": "amqp://ops:Sup3rSecret@rabbit:5672/prod"},
                    "amqp://ops:****@rabbit:5672/prod")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
        assert "Sup3rSecret" not in path.read_text()
        # A file someone made world-readable is tightened on the next write.
        loose = tmp_path / "loose.jsonl"
        loose.write_text("")
        os.chmod(loose, 0o644)
        AuditLog(loose).refused("purge", ["q"], {}, "x", "read-only")
        assert stat.S_IMODE(os.stat(loose).st_mode) == 0o600
    finally:
        os.umask(old)


# ------------------------------------------------------ no listening socket
def listening_sockets(pid: int) -> tuple[list[str], int]:
    """(listening/bound sockets the process owns, how many sockets it has)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes and fields[3] == "0A":  # TCP_LISTEN
                found.append(f"{table} {fields[1]}")
    for table in ("udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:  # any bound UDP socket receives
                found.append(f"{table} {fields[1]}")
    for line in Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[6] in inodes and int(fields[3], 16) & 0x10000:  # __SO_ACCEPTCON
            found.append(f"unix {fields[-1] if len(fields) > 7 else '(unnamed)'}")
    return found, len(inodes)


@pytest.mark.broker
@pytest.mark.slow
def test_console_listens_on_nothing_and_shows_no_password(secret, tmp_path):
    """The real `console` in a terminal (tmux) on a password-protected broker:
    after it connected and ran inspections, probes and an enable_events
    broadcast, none of its sockets listens, and no screen shows the password."""
    from test_demo import TMUX_SOCKET, console_pid, tmux, wait_for_screen

    if shutil.which("tmux") is None:
        if IN_CI:
            pytest.fail("tmux is required in CI")
        pytest.skip("tmux is not installed")
    broker, password = secret
    marker = tmp_path / "marker"
    marker.mkdir()
    session = f"sec-{uuid.uuid4().hex[:6]}"
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "36")
    try:
        with running_worker(broker, tmp_path) as hostname:
            command = (f"TMPDIR={shlex.quote(str(marker))} "
                       f"CELERY_BROKER_URL={shlex.quote(broker.url)} "
                       f"{shlex.quote(sys.executable)} -m console -A console.companion "
                       f"--audit-log {shlex.quote(str(tmp_path / 'audit.jsonl'))}")
            tmux("send-keys", "-t", session, command, "Enter")
            wait_for_screen(session, rf"{hostname.split('@')[0]}.*online", 30)
            pid = console_pid(str(marker), flag=b"-m")
            time.sleep(2)  # an inspection round and some probes have run
            found, sockets = listening_sockets(pid)
            assert sockets >= 1, "the console should hold broker connections"
            assert found == [], found
            screens = []
            for key in "12345":
                tmux("send-keys", "-t", session, key)
                time.sleep(0.5)
                screens.append(tmux("capture-pane", "-p", "-t", session))
            assert any("****" in s for s in screens)
            assert_no_secret(password, screens="\n".join(screens))
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            assert password not in cmdline  # the env var keeps it out of `ps`
            tmux("send-keys", "-t", session, "q")
            assert wait_until(lambda: not Path(f"/proc/{pid}").exists(), 15)
    finally:
        subprocess.run(["tmux", "-L", TMUX_SOCKET, "kill-session", "-t", session],
                       capture_output=True)


# ---------------------------------------------------------------- read-only
def every_action_call(actions: Actions):
    """Each mutating action of core, called with valid arguments."""
    return {
        "revoke": lambda: actions.revoke(["t1"]),
        "terminate": lambda: actions.revoke(["t1"], terminate=True, signal="SIGKILL"),
        "rate_limit": lambda: actions.rate_limit(TASKS + "add", "1/s"),
        "time_limit": lambda: actions.time_limit(TASKS + "add", 1, 2),
        "pool_grow": lambda: actions.pool_grow(1),
        "pool_shrink": lambda: actions.pool_shrink(1),
        "autoscale": lambda: actions.autoscale(4, 1),
        "add_consumer": lambda: actions.add_consumer("reports"),
        "cancel_consumer": lambda: actions.cancel_consumer("reports"),
        "pool_restart": lambda: actions.pool_restart(),
        "shutdown": lambda: actions.shutdown(["w1@test"]),
        "purge": lambda: actions.purge(["reports"]),
        "purge_matching": lambda: actions.purge_matching("reports", "args:1"),
        "move": lambda: actions.move("reports", "reports.quarantine"),
        "rerun": lambda: actions.rerun([RerunPlan("t1", TASKS + "add", (1, 2), {},
                                                  "edited")]),
    }


@pytest.mark.broker
def test_read_only_core_refuses_every_action_and_sends_nothing(real_broker, tmp_path):
    broker = real_broker
    app = companion_app(broker)
    fill_queue(broker, app, "reports", 4)
    audit = tmp_path / "audit.jsonl"
    actions = Actions(Target(app), ClusterState(), AuditLog(audit, broker.url),
                      read_only=True)
    calls = every_action_call(actions)
    public = {name for name in dir(Actions) if not name.startswith("_")
              and callable(getattr(Actions, name))}
    assert public <= set(calls), f"new actions need a read-only test: {public - set(calls)}"
    for name, call in calls.items():
        with pytest.raises(ReadOnlyError):
            call()
    assert broker_depth(broker, app, "reports") == 4
    lines = audit.read_text().splitlines()
    assert len(lines) == len(calls) and all('"phase": "refused"' in line for line in lines)
    assert all(a.status == "refused" for a in actions.state.actions)


@pytest.mark.broker
@pytest.mark.parametrize("entry", ["console", "celery plugin", "option after the command"])
def test_read_only_headless_purge_is_refused(real_broker, tmp_path, entry):
    broker = real_broker
    app = companion_app(broker)
    fill_queue(broker, app, "reports", 6)
    audit = tmp_path / "audit.jsonl"
    env = {**os.environ, "CELERY_BROKER_URL": broker.url}
    if entry == "console":
        argv = [sys.executable, "-m", "console", "--read-only", "--audit-log", str(audit),
                "purge", "reports", "--yes"]
    elif entry == "celery plugin":
        argv = [sys.executable, "-m", "celery", "-A", "console.companion", "console",
                "--read-only", "--audit-log", str(audit), "purge", "reports", "--yes"]
    else:  # the connection options work after the command too: refused, never a purge
        argv = [sys.executable, "-m", "console", "purge", "reports", "--yes", "--read-only",
                "--audit-log", str(audit)]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=90)
    assert "Traceback" not in result.stderr
    assert result.returncode == 77, (result.returncode, result.stderr)
    assert "read-only" in result.stderr
    assert '"phase": "refused"' in audit.read_text()
    assert broker_depth(broker, app, "reports") == 6


async def test_read_only_holds_in_the_palette_the_command_line_and_every_screen(tmp_path):
    """No mutating action is offered on any screen or detail, running one by
    name (as a palette hit would) does nothing, and the `:` line has no
    command that changes anything."""
    from console.sample import sample_app
    from console.ui.commands import palette_entries
    from console.ui.screens.command_line import parse_command

    app = sample_app(read_only=True, audit_log=str(tmp_path / "audit.jsonl"))
    checked = set()
    async with app.run_test(size=(120, 36)) as pilot:
        for key in "12345":
            for detail in (False, True):
                await pilot.press(key)
                await pilot.pause()
                if detail:
                    await pilot.press("enter")
                    await pilot.pause()
                screen = app.screen
                mutating = set(getattr(screen, "MUTATING", ()))
                offered = {action for _, _, (_, action) in palette_entries(screen)}
                assert not offered & mutating, (type(screen).__name__, offered & mutating)
                for action in mutating:
                    await app.run_action(action, screen)
                    await pilot.pause()
                    checked.add(action)
                    assert app.screen is screen, f"{action} opened {app.screen}"
                if detail and app.screen is not None:
                    await pilot.press("escape")
                    await pilot.pause()
        await pilot.press("colon", *"purge reports", "enter")
        await pilot.pause()
        error = str(app.screen.query_one("#command-error").render())
        assert "unknown command" in error
    assert "purge" in checked and len(checked) >= 5  # the screens do declare them
    assert not (tmp_path / "audit.jsonl").exists()  # nothing was even attempted
    for text in ("purge reports", "shutdown", "revoke x", "rate_limit a 1/s"):
        with pytest.raises(ValueError):
            parse_command(text)
