"""Tasks that behave like a small production app: quick, slow, flaky, failing.

Every task returns a small JSON-serialisable value so results render in any
backend and in the console without special cases.
"""

from __future__ import annotations

import hashlib
import random
import time

from console.companion.celeryapp import app

#: Sleep granularity of the long tasks: short enough that a revoke with
#: terminate, a soft time limit or a warm shutdown lands almost at once.
STEP = 0.1


def _sleep(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(STEP, left))


@app.task
def add(x, y):
    return x + y


@app.task
def total(numbers):
    # A chord's callback: the sum of its header's results.
    return sum(numbers)


@app.task
def fan_out(n=4):
    # A workflow started by a task, as in production: a chord of ``n``
    # adds whose callback sums them. Every member names this task as its
    # parent and root, so the console shows the whole tree.
    from celery import chord

    chord(add.s(i, i) for i in range(n))(total.s())
    return {"members": n}


@app.task
def beat_ping():
    # Sent by the companion's beat every 2 s (config.BEAT_SCHEDULE).
    return "pong"


@app.task
def beat_rollup(n=5):
    return {"rolled_up": sum(range(n))}


@app.task
def beat_digest():
    return {"digest": "sent"}


@app.task
def send_email(to, subject, fail=None):
    # Seeded from the arguments so a given message always behaves the same:
    # the load generator varies them to get ~5% failures, tests pin `fail`.
    rng = random.Random(f"{to}\0{subject}")
    _sleep(rng.uniform(0.05, 0.3))
    if fail is None:
        fail = rng.random() < 0.05
    if fail:
        raise ValueError("smtp: 550 mailbox unavailable")
    return {"to": to, "subject": subject, "status": "sent"}


@app.task
def render_report(report_id, pages=5):
    _sleep(min(1.0, 0.2 + 0.04 * pages))
    return {"report_id": report_id, "pages": pages, "bytes": 2048 * pages}


@app.task(bind=True, max_retries=3, default_retry_delay=0.5)
def flaky(self, n, fail_times=1):
    attempt = self.request.retries + 1
    if self.request.retries < fail_times:
        # After max_retries Celery re-raises this exception, so a fail_times
        # above 3 ends in FAILURE after four attempts.
        raise self.retry(exc=ConnectionError(
            f"upstream reset the connection (attempt {attempt})"))
    return {"n": n, "attempts": attempt}


@app.task(rate_limit="20/m")
def throttled(i):
    return i


@app.task
def slow(seconds=2.0):
    _sleep(seconds)
    return {"slept": seconds}


@app.task(bind=True)
def long_running(self, seconds=60):
    # Reports progress so the console has a custom state to show while the
    # operator decides whether to revoke or terminate it.
    started = time.monotonic()
    done = 0
    while done < seconds:
        if not self.request.called_directly:
            self.update_state(state="PROGRESS",
                              meta={"done": done, "total": seconds})
        _sleep(min(1, seconds - done))
        done = min(seconds, done + 1)
    return {"slept": round(time.monotonic() - started, 1)}


@app.task
def crunch(n):
    # Real CPU work (hash chain), not a sleep, so the pool process shows load.
    digest = str(n).encode()
    for _ in range(n):
        digest = hashlib.sha256(digest).digest()
    return {"n": n, "digest": digest.hex()[:16]}


@app.task
def always_fails():
    raise RuntimeError(
        "always_fails: this task fails on purpose to show a traceback")
