"""Doctor: findings with their evidence, from real workers' replies, and
each check on its own from synthetic replies."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import ExitStack

import pytest

from brokers import BrokerEnv, companion_app, running_worker
from console.core.connection import load_app
from console.core.insight import extension_of
from console.core.doctor import (
    Observations, WorkerFacts, conf_hash, diagnose, diagnosis_lines, examine, facts_from_replies,
)


def _console(broker: BrokerEnv, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "console", "-A", "console.companion", *args],
        env=broker.env(), capture_output=True, text=True, timeout=60)


def _with_conf(broker: BrokerEnv, **settings) -> BrokerEnv:
    return BrokerEnv(broker.kind, broker.url,
                     extra_env={**broker.extra_env, "CONSOLE_CONF": json.dumps(settings)})


@pytest.mark.broker
def test_events_off_and_another_config_are_reported_with_evidence(redis_broker, tmp_path):
    target = load_app(None, redis_broker.url, app=companion_app(redis_broker))
    with ExitStack() as stack:
        quiet = stack.enter_context(running_worker(
            _with_conf(redis_broker, worker_send_task_events=False), tmp_path,
            queues="default", name="quiet"))
        other = stack.enter_context(running_worker(
            _with_conf(redis_broker, worker_prefetch_multiplier=4), tmp_path,
            queues="default", name="other"))
        diagnosis = examine(target, hostnames=[quiet, other], timeout=2.0)
        by_code = {f.code: f for f in diagnosis.findings}
        assert set(by_code) == {"events-off", "mixed-config"}, diagnosis.findings
        events = by_code["events-off"]
        assert events.subject == quiet
        assert "conf: worker_send_task_events = False" in events.evidence
        mixed = by_code["mixed-config"]
        assert mixed.subject == "default"
        assert any(e.startswith(f"{quiet}: config ") for e in mixed.evidence)
        assert any(e.startswith(f"{other}: config ") for e in mixed.evidence)
        differs = [e for e in mixed.evidence if e.startswith("differs in")]
        assert {e.split(":")[0] for e in differs} == {
            "differs in worker_prefetch_multiplier", "differs in worker_send_task_events"}
        done = _console(redis_broker, "doctor", "--json", "--timeout", "2")
        assert done.returncode == 1, done.stderr
        report = json.loads(done.stdout)
        assert sorted(report["workers"]) == sorted([quiet, other])
        assert {f["code"] for f in report["findings"]} == {"events-off", "mixed-config"}


@pytest.mark.broker
def test_a_clean_companion_cluster_has_no_findings(redis_broker, tmp_path):
    target = load_app(None, redis_broker.url, app=companion_app(redis_broker))
    with ExitStack() as stack:
        hosts = [stack.enter_context(running_worker(redis_broker, tmp_path, name=f"c{i}",
                                                    queues="default,emails"))
                 for i in range(2)]
        diagnosis = examine(target, hostnames=hosts, timeout=2.0)
        assert diagnosis.findings == () and diagnosis.missing == ()
        done = _console(redis_broker, "doctor", "--timeout", "2")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "✔ no findings" in done.stdout and "2 workers examined" in done.stdout
        # The extension's fingerprint is the hash of what `inspect conf` says.
        inspect = target.app.control.inspect(destination=hosts, timeout=2)
        stats, conf = inspect.stats(), inspect.conf()
        for host in hosts:
            assert extension_of(stats[host]).fingerprint == conf_hash(conf[host])


# ------------------------------------------------------- each check alone
COMPANION_CONF = {"worker_send_task_events": True, "task_time_limit": 900,
                  "worker_prefetch_multiplier": 1}


def _worker(host="w1@h", queues=("default",), conf=None, **stats) -> WorkerFacts:
    return WorkerFacts(host, conf=dict(COMPANION_CONF, **(conf or {})),
                       stats={"pool": {"processes": [1, 2]}, **stats}, queues=queues,
                       registered=())


def test_clean_facts_have_no_findings():
    assert diagnose([_worker(), _worker("w2@h")]).findings == ()


def test_no_time_limits_anywhere_unless_a_task_declares_one():
    bare = {"task_time_limit": None}
    findings = diagnose([_worker(conf=bare)]).findings
    assert [f.code for f in findings] == ["no-time-limits"]
    assert "none of 0 task types" in findings[0].evidence[1]
    limited = WorkerFacts("w1@h", conf={"worker_send_task_events": True},
                          registered=(("t.slow", {"time_limit": "30"}),))
    assert diagnose([limited]).findings == ()


def test_prefetch_on_a_queue_of_long_tasks():
    greedy = _worker(conf={"worker_prefetch_multiplier": 4}, prefetch_count=8)
    seen = Observations(runtimes={"default": (42.0, "t.long"), "emails": (0.2, "t.mail")})
    [finding] = diagnose([greedy], seen).findings
    assert finding.code == "prefetch-long" and finding.subject == "default"
    assert finding.evidence[0] == "t.long ran 42.0 s (the longest seen on default)"
    assert "prefetches 8 for 2 processes (multiplier 4)" in finding.evidence[1]
    assert diagnose([_worker(prefetch_count=2)], seen).findings == ()


def test_redis_visibility_timeout_shorter_than_a_countdown():
    worker = _worker(conf={"broker_transport_options": {"visibility_timeout": 600}},
                     broker={"transport": "redis"})
    seen = Observations(longest_countdown=(7200.0, "t.later", "abc"), transport="redis")
    [finding] = diagnose([worker], seen).findings
    assert finding.code == "visibility-timeout"
    assert finding.evidence[:2] == ("t.later abc: eta 7,200 s after it was sent",
                                    "w1@h: visibility_timeout = 600 s")
    # kombu's default (an hour) is longer than an hour's countdown…
    default = _worker(broker={"transport": "redis"})
    assert diagnose([default], Observations(longest_countdown=(3000.0, "t", "x"))) \
        .findings == ()
    # …and RabbitMQ has no visibility timeout.
    amqp = _worker(broker={"transport": "amqp"})
    assert diagnose([amqp], Observations(longest_countdown=(9e9, "t", "x"))).findings == ()


def test_acks_late_without_reject_on_worker_lost():
    [finding] = diagnose([_worker(conf={"task_acks_late": True})]).findings
    assert finding.code == "acks-late-lost"
    assert "conf: task_reject_on_worker_lost not set (Celery's default: False)" \
        in finding.evidence
    both = {"task_acks_late": True, "task_reject_on_worker_lost": True}
    assert diagnose([_worker(conf=both)]).findings == ()


def test_a_worker_consuming_no_queue():
    [finding] = diagnose([_worker(queues=())]).findings
    assert (finding.code, finding.subject) == ("no-queue", "w1@h")


def test_mixed_versions_from_the_extension_or_the_report():
    with_extension = _worker(console_companion={"versions": {"celery": "5.7.0",
                                                             "kombu": "5.7.0"}})
    old = WorkerFacts("w2@h", conf=dict(COMPANION_CONF), queues=("default",),
                      report="software -> celery:5.3.6 (emerald-rush) kombu:5.3.4 py:3.10.12")
    findings = {f.code: f for f in diagnose([with_extension, old]).findings}
    mixed = findings["mixed-versions"]
    assert mixed.evidence == ("w1@h: celery 5.7.0, kombu 5.7.0",
                              "w2@h: celery 5.3.6, kombu 5.3.4")


def test_replies_become_facts_and_lines():
    replies = {"conf": {"a@h": {"worker_send_task_events": False}},
               "active_queues": {"a@h": [], "b@h": {"error": "KeyError('x')"}},
               "report": {"a@h": {"ok": "celery:5.7.0 kombu:5.7.0"}}}
    facts = facts_from_replies(["a@h", "b@h"], replies)
    assert facts[0].queues == () and facts[1].queues is None
    assert facts[0].versions == {"celery": "5.7.0", "kombu": "5.7.0"}
    diagnosis = diagnose(facts, missing=["c@h"])
    kinds = [kind for kind, _ in diagnosis_lines(diagnosis)]
    assert kinds[:2] == ["summary", "note"] and "error" in kinds and "evidence" in kinds


def test_heartbeat_software_gives_the_celery_version():
    facts = WorkerFacts("w@h", software="py-celery 5.7.0 Linux")
    assert facts.versions == {"celery": "5.7.0"}


def test_differing_settings_never_show_a_password():
    one = _worker(conf={"result_backend": "redis://:s3cret@r1:6379/0"})
    two = _worker("w2@h", conf={"result_backend": "redis://:s3cret@r2:6379/0"})
    [finding] = diagnose([one, two]).findings
    text = " ".join(text for _kind, text in diagnosis_lines(diagnose([one, two])))
    assert finding.code == "mixed-config" and "differs in result_backend" in text
    assert "s3cret" not in text and ":****@r1" in text


def test_an_unknown_version_is_not_a_different_one():
    known = _worker(console_companion={"versions": {"celery": "5.7.0", "kombu": "5.7.0"}})
    partly = WorkerFacts("w2@h", conf=dict(COMPANION_CONF), queues=("default",),
                         software="py-celery 5.7.0 Linux")
    assert diagnose([known, partly]).findings == ()


@pytest.mark.broker
def test_doctor_with_no_worker_says_so(redis_broker):
    done = _console(redis_broker, "doctor", "--timeout", "0.5")
    assert done.returncode == 69, done.stdout + done.stderr
    assert "no worker answered: nothing to examine" in done.stdout
    assert "No worker answered" in done.stderr and "Traceback" not in done.stderr
