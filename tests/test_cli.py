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
    code = ("import sys; sys.modules['textual'] = None\n"
            "import console.core.state, console.core.capture, console.core.monitor, "
            "console.core.status, console.core.broker, console.core.inspector, console.cli, "
            "console.demo\n"
            "print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
