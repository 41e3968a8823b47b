"""Fixtures: real brokers (parametrised), deterministic models for the UI."""

from __future__ import annotations

import os

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


@pytest.fixture(params=BROKER_KINDS)
def broker(request, _session_brokers, tmp_path):
    """Each real transport in turn: RabbitMQ, Redis, and the demo's filesystem."""
    kind = request.param
    if kind == "filesystem":
        yield filesystem_env(tmp_path / "fs-broker")
        return
    if kind not in _session_brokers:
        _session_brokers[kind] = rabbitmq_env() if kind == "rabbitmq" else redis_env()
    env = _session_brokers[kind]
    env.flush()
    yield env
