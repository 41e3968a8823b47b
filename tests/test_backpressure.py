"""Back-pressure that never lies: how far intake is behind, how many events
wait in the console's own RabbitMQ event queue, event connections lost."""

from __future__ import annotations

import uuid as uuidlib

import pytest
from kombu import Queue
from rich.text import Text

from brokers import companion_app, wait_until
from console.core.capture import Capture
from console.core.connection import Target
from console.core.state import ClusterState
from console.core.views import ConnectionView, HeaderView, IntakeView
from console.ui.widgets.status_header import StatusHeader


def header_text(intake: IntakeView) -> str:
    view = HeaderView(connection=ConnectionView("connected", 0.0, None, 0, None),
                      online=1, total=1, tasks_per_s=0.0, last_action=None,
                      intake=intake)
    text = Text()
    StatusHeader._intake(text, view)
    return text.plain


def test_header_says_how_far_behind_and_what_was_lost():
    assert header_text(IntakeView()) == ""
    assert header_text(IntakeView(behind=0.4, waiting=0)) == ""  # keeping up
    said = header_text(IntakeView(behind=2.54, waiting=12345))
    assert "2.5 s behind" in said and "12,345 events waiting" in said
    assert "3 event disconnects (events lost)" in header_text(IntakeView(disconnects=3))


def test_readings_go_stale_rather_than_linger():
    state = ClusterState(clock=lambda: 1000.0)
    state.intake.behind, state.intake.behind_at = 3.0, 990.0
    state.intake.waiting, state.intake.waiting_at = 50, 999.0
    view = state.header_view(1000.0).intake
    assert view.behind is None  # ten seconds old: nothing arrives, nothing behind
    assert view.waiting == 50


@pytest.mark.broker
def test_event_queue_depth_read_passively(real_broker):
    app = companion_app(real_broker)
    state = ClusterState()
    capture = Capture(Target(app), state, enable_events=False)
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=2)
        if real_broker.kind == "redis":
            # Pub/sub keeps no queue: nothing to read, nothing claimed.
            assert capture._depth_reader(conn, "celeryev.x") is None
            assert state.header_view(0.0).intake.waiting is None
            return
        name = f"console-test-depth-{uuidlib.uuid4().hex[:8]}"
        channel = conn.channel()
        queue = Queue(name, routing_key=name, durable=False,
                      auto_delete=False).bind(channel)
        queue.declare()
        try:
            producer = conn.Producer(channel=channel)
            for n in range(37):
                producer.publish({"type": "task-sent", "n": n}, routing_key=name,
                                 exchange="", serializer="json")
            read = capture._depth_reader(conn, name)
            assert read is not None

            def waiting():
                read()
                return state.intake.waiting

            assert wait_until(lambda: waiting() == 37, 10), state.intake
            assert state.header_view(state.intake.waiting_at or 0.0).intake.waiting == 37
        finally:
            queue.delete()
        read()  # the queue is gone: a channel error, said as unknown, not raised
        assert state.intake.waiting is None
