"""The command line as a person meets it: messages, exit codes, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from brokers import free_port

SECRET = "hunter2-very-secret"


def run(*args, env=None, cwd=None, timeout=60) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.pop("CELERY_BROKER_URL", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True,
                          text=True, env=full_env, cwd=cwd, timeout=timeout)


def assert_clean_failure(result, code):
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("console: ")


def test_help_and_version():
    result = run("--help")
    assert result.returncode == 0
    for option in ("--app", "--broker", "--demo", "--read-only", "--max-tasks", "status"):
        assert option in result.stdout
    version = run("--version")
    assert version.returncode == 0 and "celery-console" in version.stdout


def test_celery_plugin_help():
    result = subprocess.run([sys.executable, "-m", "celery", "-A", "console.companion",
                             "console", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--read-only" in result.stdout and "status" in result.stdout


@pytest.mark.parametrize("url", [
    f"amqp://guest:{SECRET}@127.0.0.1:{{port}}//",
    f"redis://:{SECRET}@127.0.0.1:{{port}}/0",
])
def test_unreachable_broker_is_a_clear_masked_message(url):
    result = run("-b", url.format(port=free_port()), "status", "--wait", "0")
    assert_clean_failure(result, 69)
    assert SECRET not in result.stderr + result.stdout
    assert "****" in result.stderr
    assert "Cannot reach the broker" in result.stderr and "--demo" in result.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_connection_options_work_before_or_after_the_command(where):
    url = f"amqp://guest:{SECRET}@127.0.0.1:{free_port()}//"
    args = ("-b", url, "status", "--wait", "0") if where == "before" \
        else ("status", "-b", url, "--wait", "0")
    result = run(*args)
    assert_clean_failure(result, 69)
    assert "Cannot reach the broker" in result.stderr and SECRET not in result.stderr
    assert "127.0.0.1:" in result.stderr  # the broker given, not Celery's default


def test_read_only_after_the_purge_command_is_honoured(tmp_path):
    audit = tmp_path / "audit.jsonl"
    result = run("purge", "-b", f"amqp://guest:{SECRET}@127.0.0.1:{free_port()}//",
                 "--read-only", "--audit-log", str(audit), "somequeue", "--yes")
    assert_clean_failure(result, 77)  # EX_NOPERM, as before the command
    assert "read-only" in result.stderr
    assert '"refused"' in audit.read_text() and SECRET not in audit.read_text()


def test_unknown_transport():
    result = run("-b", f"nosuch://u:{SECRET}@h//", "status")
    assert_clean_failure(result, 64)
    assert SECRET not in result.stderr
    assert "not usable" in result.stderr


def test_missing_app_module():
    result = run("-A", "no_such_module_here", "status")
    assert_clean_failure(result, 64)
    assert "no module named 'no_such_module_here'" in result.stderr


def test_app_module_that_raises(tmp_path):
    (tmp_path / "brokenapp.py").write_text(textwrap.dedent(f"""
        raise RuntimeError("config missing: password {SECRET} rejected")
    """))
    result = run("-A", "brokenapp", "status", cwd=tmp_path,
                 env={"CELERY_BROKER_URL": f"amqp://u:{SECRET}@h//"})
    assert_clean_failure(result, 70)
    assert "RuntimeError" in result.stderr
    assert SECRET not in result.stderr


def test_invalid_option_values():
    result = run("--max-tasks", "0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--max-tasks" in result.stderr
    result = run("status", "--wait", "-1")
    assert result.returncode == 2 and "--wait" in result.stderr


def test_core_never_imports_textual():
    """Every module of console.core — found by walking the package, not
    listed — and the CLI and demo import in a fresh interpreter where
    Textual cannot be imported."""
    code = ("import sys, importlib, pkgutil; sys.modules['textual'] = None\n"
            "import console.core\n"
            "names = [m.name for m in pkgutil.walk_packages(console.core.__path__, "
            "'console.core.')]\n"
            "for name in names + ['console.cli', 'console.demo', 'console.report', "
            "'console.text']:\n"
            "    importlib.import_module(name)\n"
            "print(len(names))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 20  # every module, not a few


# --------------------------------------------- bad input (reliability table)
@pytest.mark.parametrize("args, option", [
    (("--max-tasks", "abc"), "--max-tasks"),
    (("--max-tasks", "-5"), "--max-tasks"),
    (("--inspect-interval", "0"), "--inspect-interval"),
    (("--probe-interval", "nan"), "--probe-interval"),
    (("--inspect-interval", "inf"), "--inspect-interval"),
    (("--audit-log", "/"), "--audit-log"),
    (("status", "--wait", "inf"), "--wait"),
    (("status", "--wait", "abc"), "--wait"),
    (("status", "--timeout", "0"), "--timeout"),
    (("--demo", "status"), "--demo"),
])
def test_invalid_values_are_refused_before_anything_starts(args, option):
    """Each bad value is named in a one-line usage error (exit 2): nan and
    inf used to pass the range checks (`--wait inf` never returned)."""
    result = run(*args, timeout=30)
    assert result.returncode == 2, (args, result.returncode, result.stderr[-500:])
    assert "Traceback" not in result.stderr + result.stdout
    assert option in result.stderr


@pytest.mark.parametrize("name, message", [
    ("bad name", "no spaces"),
    ("q" * 10_000, "at most 255 characters"),
    ("tab\there", "no spaces"),
    ("", "required"),
])
def test_purge_refuses_nonsense_queue_names(name, message):
    # A broker that is not there: the name is refused before any connection.
    result = run("-b", f"amqp://guest:guest@127.0.0.1:{free_port()}//", "purge", name,
                 "--yes", timeout=30)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert message in result.stderr


@pytest.mark.parametrize("source, code, expected", [
    ("import sys\nsys.exit(3)\n", 70, "called sys.exit(3)"),
    ("def broken(:\n", 70, "SyntaxError"),
    ("import os\nos.environ['NO_SUCH_SETTING']\n", 70, "KeyError"),
    ("import not_installed_dependency\n", 64, "not_installed_dependency"),
    ("app = 42\n", 64, "not a Celery app"),
])
def test_app_modules_that_fail_on_import(tmp_path, source, code, expected):
    """A module that exits, does not parse, raises, or imports something
    missing: one clear line and a sysexits code; sys.exit() used to end the
    console silently."""
    (tmp_path / "badapp.py").write_text(source)
    target = "badapp:app" if "app = 42" in source else "badapp"
    result = run("-A", target, "status", cwd=tmp_path, timeout=30)
    assert_clean_failure(result, code)
    assert expected in result.stderr
