"""The 3 a.m. story by keys, in a real terminal (tmux) on a real Redis: a
queue flooded by one task, `enter` on it shows the flood as one group, `p`
removes exactly those after the count is typed, `m` parks the rest in
quarantine. Effects checked on the broker's own count."""

from __future__ import annotations

import shlex
import sys

import pytest

from brokers import TOUCHED_QUEUES, broker_depth, companion_app, wait_until
from terminal import tmux, wait_for_screen

pytestmark = [pytest.mark.slow, pytest.mark.broker]
T = "console.companion.tasks."


def test_remove_the_flood_then_quarantine_the_rest_by_keys(redis_broker, tmux_session,
                                                          tmp_path):
    app = companion_app(redis_broker)
    queue = "tmux-flood"
    TOUCHED_QUEUES.update({queue, queue + ".quarantine"})
    with app.producer_or_acquire() as producer:
        for i in range(5_100):
            name = T + "add" if i % 51 == 50 else T + "render_report"
            app.send_task(name, args=(i, 1), queue=queue, producer=producer)
    assert broker_depth(redis_broker, app, queue) == 5_100

    command = (f"CELERY_BROKER_URL={shlex.quote(redis_broker.url)} "
               f"{shlex.quote(sys.executable)} -m console -Q {queue} "
               f"--audit-log {shlex.quote(str(tmp_path / 'audit.jsonl'))} "
               f"--log-file {shlex.quote(str(tmp_path / 'console.log'))}")
    tmux("send-keys", "-t", tmux_session, command, "Enter")
    wait_for_screen(tmux_session, r"connected", 30)
    tmux("send-keys", "-t", tmux_session, "3")
    wait_for_screen(tmux_session, rf"{queue}\s+5,100", 30)  # the deepest: under the cursor
    tmux("send-keys", "-t", tmux_session, "Enter")
    detail = wait_for_screen(tmux_session, r"5,100 messages counted \(the whole queue\)", 20)
    assert "render_report" in detail and "98%" in detail, detail

    tmux("send-keys", "-t", tmux_session, "p")  # on the flood's group
    dialog = wait_for_screen(tmux_session, r"Type 5000", 20)
    assert f"task:{T}render_report" in dialog and "5,000 match" in dialog, dialog
    assert "100 stay" in dialog, dialog
    tmux("send-keys", "-t", tmux_session, "Enter")  # on Cancel: nothing happens
    # Gone before the next `p`: a "Type 5000" still on screen from this one
    # would let the keys below reach the next dialog before its count is read.
    assert wait_until(lambda: "Type 5000" not in tmux("capture-pane", "-p", "-t",
                                                       tmux_session), 10)
    wait_for_screen(tmux_session, r"ctrl\+r reads again", 10)
    assert broker_depth(redis_broker, app, queue) == 5_100

    tmux("send-keys", "-t", tmux_session, "p")
    wait_for_screen(tmux_session, r"Type 5000", 20)
    tmux("send-keys", "-t", tmux_session, "5000")
    wait_for_screen(tmux_session, r"█ 5000 ", 10)  # in the count box
    tmux("send-keys", "-t", tmux_session, "Enter")  # the count typed: Enter removes
    wait_for_screen(tmux_session, r"5,000 removed, 100 kept", 30)
    assert wait_until(lambda: broker_depth(redis_broker, app, queue) == 100, 10)
    # Not "5,100 messages counted" still on screen from before the removal: the
    # group under the cursor would then be the flood's, with nothing left in it.
    wait_for_screen(tmux_session, r"(?<![\d,])100 messages counted \(the whole queue\)", 20)

    tmux("send-keys", "-t", tmux_session, "m")  # the one group left: add
    wait_for_screen(tmux_session, rf"{queue}\.quarantine", 20)
    wait_for_screen(tmux_session, r"Type 100 ", 20)
    tmux("send-keys", "-t", tmux_session, "100")
    wait_for_screen(tmux_session, r"█ 100 ", 10)
    tmux("send-keys", "-t", tmux_session, "Enter")
    wait_for_screen(tmux_session, rf"100 moved to {queue}\.quarantine", 30)
    assert wait_until(lambda: broker_depth(redis_broker, app, queue + ".quarantine")
                      == 100, 10)
    assert broker_depth(redis_broker, app, queue) == 0
    tmux("send-keys", "-t", tmux_session, "q")
