"""Fixtures: real brokers (parametrised), deterministic models for the UI."""

from __future__ import annotations

import os
import subprocess

import pytest

from brokers import filesystem_env, rabbitmq_env, redis_env

BROKER_KINDS = ("rabbitmq", "redis", "filesystem")


@pytest.fixture(autouse=True)
def _restore_environment():
    """Celery reads CELERY_BROKER_URL before any app's broker_url: a test
    that sets it must not repoint the next test's app."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def _session_brokers():
    made = {}
    yield made
    for env in made.values():
        env.close()


def _server_broker(kind, made):
    if kind not in made:
        made[kind] = rabbitmq_env() if kind == "rabbitmq" else redis_env()
    env = made[kind]
    env.flush()
    return env


@pytest.fixture(params=BROKER_KINDS)
def broker(request, _session_brokers, tmp_path):
    """Each real transport in turn: RabbitMQ, Redis, and the demo's filesystem."""
    if request.param == "filesystem":
        return filesystem_env(tmp_path / "fs-broker")
    return _server_broker(request.param, _session_brokers)


@pytest.fixture(params=("rabbitmq", "redis"))
def real_broker(request, _session_brokers):
    """The broker servers only: for connections that can be lost."""
    return _server_broker(request.param, _session_brokers)


@pytest.fixture
def redis_broker(_session_brokers):
    """Redis only: for Redis transport details such as priority sub-queues."""
    return _server_broker("redis", _session_brokers)


@pytest.fixture
def rabbitmq_broker(_session_brokers):
    """RabbitMQ only: quorum queues, users of its own, a failover partner."""
    return _server_broker("rabbitmq", _session_brokers)


@pytest.fixture
def tmux_session(tmp_path):
    """A fresh 120x36 session on the tests' private tmux server."""
    import shutil
    import uuid

    from brokers import IN_CI
    from terminal import TMUX_SOCKET, tmux

    if shutil.which("tmux") is None:
        if IN_CI:
            pytest.fail("tmux is required in CI (.ci/run installs it)")
        pytest.skip("tmux is not installed: apt-get install tmux")
    name = f"console-test-{uuid.uuid4().hex[:6]}"
    tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "36")
    yield name
    subprocess.run(["tmux", "-L", TMUX_SOCKET, "kill-session", "-t", name],
                   capture_output=True)
