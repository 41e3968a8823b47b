"""Bounded load generator for the companion cluster.

    python -m console.companion.load --rate 20 --duration 60

Sends a weighted, realistic mix of tasks at about ``--rate`` per second over
one producer connection, then prints ``sent N tasks in S s``.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading
import time
from typing import Any, NamedTuple

from kombu.exceptions import OperationalError

from console.companion import config

_T = "console.companion.tasks."


class Pick(NamedTuple):
    task: str
    args: tuple
    kwargs: dict
    queue: str
    countdown: float | None = None


# A task's (args, kwargs).
Arguments = tuple[tuple[Any, ...], dict[str, Any]]


def _numbers(rng: random.Random) -> Arguments:
    return (rng.randrange(100), rng.randrange(100)), {}


def _email(rng: random.Random) -> Arguments:
    user = rng.choice(("ana", "bo", "chen", "dara", "eli", "fay", "gus"))
    subject = rng.choice(("Welcome", "Receipt", "Password reset", "Digest"))
    return (f"{user}{rng.randrange(1000)}@example.com",
            f"{subject} #{rng.randrange(10**6)}"), {}


def _report(rng: random.Random) -> Arguments:
    return (f"rpt-{rng.randrange(10**5):05d}",), {"pages": rng.randint(1, 20)}


def _crunch(rng: random.Random) -> Arguments:
    return (rng.randrange(2_000, 50_000),), {}


def _flaky(rng: random.Random) -> Arguments:
    # 4 exceeds max_retries=3, so some flaky tasks end in FAILURE.
    return (rng.randrange(1000),), {"fail_times": rng.choice((1, 1, 2, 4))}


def _one_int(rng: random.Random) -> Arguments:
    return (rng.randrange(1000),), {}


def _slow(rng: random.Random) -> Arguments:
    return (round(rng.uniform(1, 3), 1),), {}


def _nothing(rng: random.Random) -> Arguments:
    return (), {}


def _later(rng: random.Random) -> float:
    return round(rng.uniform(2, 6), 1)


#: (percent, task, arguments(rng), queue, countdown(rng) or None).  A queue
#: of None stands for the backlog queue.  throttled stays rare on purpose: a
#: rate-limited message waiting for its token keeps its prefetch slot, so
#: with prefetch 1 a burst of them stalls the whole worker.
MIX = (
    (33, "add", _numbers, "default", None),
    (24, "send_email", _email, "emails", None),
    (12, "render_report", _report, "reports", None),
    (6, "crunch", _crunch, "default", None),
    (4, "add", _numbers, "default", _later),
    (2, "send_email", _email, "emails", _later),
    (5, "flaky", _flaky, "default", None),
    (2, "always_fails", _nothing, "default", None),
    (1, "throttled", _one_int, "default", None),
    (3, "slow", _slow, "slow", None),
    (8, "render_report", _report, None, None),
)


def choose(rng: random.Random, queues=None,
           backlog_queue: str = config.BACKLOG_QUEUE) -> Pick:
    """Pick the next task from the mix, restricted to ``queues`` if given.

    Pure apart from ``rng``: the same seed gives the same sequence.
    """
    entries = [(weight, task, arguments, queue or backlog_queue, countdown)
               for weight, task, arguments, queue, countdown in MIX]
    if queues:
        entries = [entry for entry in entries if entry[3] in queues]
        if not entries:
            raise ValueError(f"no task in the mix goes to {sorted(queues)}")
    _, task, arguments, queue, countdown = rng.choices(
        entries, weights=[entry[0] for entry in entries])[0]
    args, kwargs = arguments(rng)
    return Pick(_T + task, args, kwargs, queue,
                countdown(rng) if countdown else None)


def _send(app, producer, pick: Pick) -> None:
    app.send_task(pick.task, args=pick.args, kwargs=pick.kwargs,
                  queue=pick.queue, countdown=pick.countdown,
                  producer=producer)


def run_load(app, rate, duration, queues=None, stop_event=None, seed=None, *,
             backlog=0, backlog_queue=config.BACKLOG_QUEUE) -> int:
    """Send the mix at ``rate``/s for ``duration`` s (0: until stopped).

    ``backlog`` extra report tasks go to ``backlog_queue`` up front.  Returns
    the number of tasks sent.  Raises kombu's OperationalError when the
    broker cannot be reached.
    """
    if rate <= 0:
        raise ValueError("rate must be > 0")
    stop = stop_event or threading.Event()
    rng = random.Random(seed)
    sent = 0
    # One producer, hence one connection, for the whole run.
    with app.producer_or_acquire() as producer:
        # Fail fast with the real error rather than retrying for minutes.
        producer.connection.ensure_connection(
            max_retries=2, interval_start=0.2, interval_step=0.2)
        for _ in range(backlog):
            _send(app, producer, Pick(_T + "render_report", *_report(rng),
                                      backlog_queue))
            sent += 1
        interval = 1.0 / rate
        start = next_at = time.monotonic()
        deadline = start + duration if duration else None
        while not stop.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if next_at > now:
                stop.wait(next_at - now)
                continue  # re-check the stop flag and the deadline
            if now - next_at > 1.0:
                # Fell behind (slow broker): drop the debt instead of
                # bursting to catch up.
                next_at = now
            _send(app, producer, choose(rng, queues, backlog_queue))
            sent += 1
            next_at += interval
    return sent


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return number


def _non_negative(kind):
    def parse(value: str):
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
        if number < 0:
            raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
        return number
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m console.companion.load",
        description="Send a realistic mix of tasks to the companion cluster.")
    parser.add_argument("--rate", type=_positive, default=5.0,
                        help="tasks per second (default: 5)")
    parser.add_argument("--duration", type=_non_negative(float), default=60.0,
                        help="seconds to run, 0 = until SIGINT/SIGTERM "
                             "(default: 60)")
    parser.add_argument("--queue", dest="queues", action="append",
                        choices=config.ALL_QUEUES, metavar="QUEUE",
                        help="only send tasks routed to QUEUE (repeatable; "
                             f"one of {', '.join(config.ALL_QUEUES)})")
    parser.add_argument("--backlog-queue", choices=config.ALL_QUEUES,
                        default=config.BACKLOG_QUEUE, metavar="QUEUE",
                        help="queue for the backlog share and --backlog "
                             "(default: %(default)s, which no worker consumes)")
    parser.add_argument("--backlog", type=_non_negative(int), default=0,
                        metavar="N",
                        help="send N report tasks to the backlog queue first")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed for a repeatable task sequence")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from console.companion import app

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    started = time.monotonic()
    try:
        sent = run_load(app, args.rate, args.duration, queues=args.queues,
                        stop_event=stop, seed=args.seed,
                        backlog=args.backlog, backlog_queue=args.backlog_queue)
    except (OperationalError, OSError) as exc:
        url = app.connection_for_write().as_uri()
        print(f"load: cannot reach broker {url}: {exc}", file=sys.stderr)
        return 2
    print(f"sent {sent} tasks in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
