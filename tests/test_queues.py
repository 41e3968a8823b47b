"""Queue depths and purge against the real brokers, effects checked on the broker."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import uuid

import pytest

from brokers import broker_depth, companion_app, fill_queue, running_worker
from console.core.actions import Actions, InvalidInput, ReadOnlyError
from console.core.views import ResultKind, TargetResult


def purged(n: int) -> TargetResult:
    return TargetResult(ResultKind.OK, f"{n:,} purged", n)
from console.core.audit import AuditLog
from console.core.broker import QueueProbe, discover_queues
from console.core.connection import Target
from console.core.inspector import Inspector
from console.core.state import ClusterState

pytestmark = pytest.mark.broker


def big(broker) -> int:
    # 100k on the servers; the filesystem transport keeps a file per message.
    return 100_000 if broker.kind != "filesystem" else 3_000


@pytest.fixture
def actions(broker, tmp_path):
    app = companion_app(broker)
    audit = AuditLog(tmp_path / "audit.jsonl", broker.url)
    return Actions(Target(app), ClusterState(), audit), app


def audit_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_exact_depth_and_purge_touches_only_that_queue(broker, actions, tmp_path):
    acts, app = actions
    count = big(broker)
    fill_queue(broker, app, "reports", count)
    fill_queue(broker, app, "emails", 7)
    depths = QueueProbe(acts.target).probe(["reports", "emails", "slow"])
    assert depths["reports"].messages == count and depths["reports"].exists
    assert depths["emails"].messages == 7
    outcome = acts.purge(["reports"])
    assert outcome.status == "ok", outcome.summary
    assert outcome.results == {"reports": purged(count)}
    assert f"purged {count:,} messages" in outcome.summary
    assert broker_depth(broker, app, "reports") == 0
    assert broker_depth(broker, app, "emails") == 7
    lines = audit_lines(tmp_path / "audit.jsonl")
    assert [l["phase"] for l in lines] == ["attempt", "outcome"]
    assert lines[0]["targets"] == ["reports"] and lines[1]["outcome"]["reports"]["count"] == count
    assert stat.S_IMODE((tmp_path / "audit.jsonl").stat().st_mode) == 0o600


def test_mistyped_queue_is_missing_not_zero(broker, actions):
    acts, app = actions
    fill_queue(broker, app, "emails", 5)
    depth = QueueProbe(acts.target).probe(["emials"])["emials"]
    assert depth.exists is False and depth.messages is None
    outcome = acts.purge(["emials", "emails"])
    assert outcome.results["emials"] == TargetResult(ResultKind.ERROR, "no such queue")
    assert outcome.results["emails"] == purged(5)
    assert outcome.status == "partial"


def test_read_only_refuses_purge_in_core(broker, tmp_path):
    app = companion_app(broker)
    fill_queue(broker, app, "emails", 4)
    audit = AuditLog(tmp_path / "audit.jsonl", broker.url)
    acts = Actions(Target(app), ClusterState(), audit, read_only=True)
    with pytest.raises(ReadOnlyError):
        acts.purge(["emails"])
    assert broker_depth(broker, app, "emails") == 4
    assert audit_lines(tmp_path / "audit.jsonl")[0]["phase"] == "refused"


def test_worker_only_queue_is_found_and_purgeable(broker, actions, tmp_path):
    acts, app = actions
    private = f"only-{uuid.uuid4().hex[:6]}"
    state = acts.state
    with running_worker(broker, tmp_path, queues=f"default,{private}") as hostname:
        Inspector(acts.target, state).run(("active_queues",), destination=[hostname])
    found = discover_queues(app, state)
    assert f"worker:{hostname}" in found[private]
    fill_queue(broker, app, private, 11)  # the worker is gone: they wait
    assert QueueProbe(acts.target).probe([private])[private].messages == 11
    assert acts.purge([private]).results == {private: purged(11)}
    assert broker_depth(broker, app, private) == 0


def test_invalid_queue_names_are_refused_before_sending(broker, actions):
    acts, _ = actions
    for name in ("", "has space", "x" * 10_000, "tab\there"):
        with pytest.raises(InvalidInput):
            acts.purge([name])


def test_headless_purge(broker, tmp_path):
    app = companion_app(broker)
    fill_queue(broker, app, "reports", 25)
    fill_queue(broker, app, "emails", 3)
    env = broker.env()
    base = [sys.executable, "-m", "console", "-A", "console.companion",
            "--audit-log", str(tmp_path / "audit.jsonl")]
    refused = subprocess.run(base + ["purge", "reprots"], capture_output=True, text=True,
                             env=env, timeout=60)
    assert refused.returncode == 1 and "reprots: no such queue" in refused.stderr
    no_tty = subprocess.run(base + ["purge", "reports"], capture_output=True, text=True,
                            env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert no_tty.returncode == 1 and "--yes" in no_tty.stderr
    assert broker_depth(broker, app, "reports") == 25
    done = subprocess.run(base + ["purge", "reports", "--yes"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "reports: purged 25" in done.stdout
    assert broker_depth(broker, app, "reports") == 0
    assert broker_depth(broker, app, "emails") == 3
    read_only = subprocess.run(base + ["--read-only", "purge", "emails", "--yes"],
                               capture_output=True, text=True, env=env, timeout=60)
    assert read_only.returncode == 77 and "read-only" in read_only.stderr
    assert broker_depth(broker, app, "emails") == 3
    assert "guest:guest" not in (tmp_path / "audit.jsonl").read_text()


def test_redis_priority_sub_queues_are_counted_and_purged(redis_broker, tmp_path):
    real_broker = redis_broker
    app = companion_app(real_broker)
    for priority, n in ((0, 5), (3, 6), (6, 7), (9, 8)):
        fill_queue(real_broker, app, "reports", n, priority=priority)
    acts = Actions(Target(app), ClusterState(), AuditLog(tmp_path / "a.jsonl"))
    assert QueueProbe(acts.target).probe(["reports"])["reports"].messages == 26
    assert acts.purge(["reports"]).results == {"reports": purged(26)}
    assert broker_depth(real_broker, app, "reports") == 0
