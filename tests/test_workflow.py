"""The workflow tree in core: a hand-built stream of chains, groups, chords,
retries and a huge fan-out, read back as task detail's tree."""

from __future__ import annotations

from console.core.state import ClusterState
from console.core.workflow import WorkflowNode


def sent(state, uuid, name, root, parent=None, **extra):
    state.apply({"type": "task-sent", "uuid": uuid, "name": name, "root_id": root,
                 "parent_id": parent, "hostname": "client@h", "timestamp": 1.0, **extra})


def finish(state, uuid, runtime=0.5, retries=0):
    state.apply({"type": "task-received", "uuid": uuid, "hostname": "w@h",
                 "timestamp": 2.0, "retries": retries})
    state.apply({"type": "task-started", "uuid": uuid, "hostname": "w@h", "timestamp": 3.0})
    state.apply({"type": "task-succeeded", "uuid": uuid, "hostname": "w@h",
                 "timestamp": 3.0 + runtime, "runtime": runtime})


def shape(node: WorkflowNode) -> tuple:
    """(uuid, [children…]) all the way down, in the order shown."""
    return (node.uuid, [shape(c) for c in node.children])


def find(node: WorkflowNode, uuid: str) -> WorkflowNode:
    if node.uuid == uuid:
        return node
    for child in node.children:
        try:
            return find(child, uuid)
        except KeyError:
            pass
    raise KeyError(uuid)


def test_a_chain_is_a_line_from_its_root_whichever_link_is_opened():
    state = ClusterState()
    sent(state, "a", "etl.extract", "a")
    sent(state, "b", "etl.transform", "a", "a")
    sent(state, "c", "etl.load", "a", "b")
    for uuid in "abc":
        finish(state, uuid)
    for opened in "abc":
        view = state.workflow_view(opened)
        assert view is not None and view.focus == opened
        assert shape(view.root) == ("a", [("b", [("c", [])])])
        assert view.nodes == view.members == 3 and view.hidden == 0
        assert not view.trivial
    node = find(state.workflow_view("a").root, "c")
    assert node.name == "etl.load" and node.state == "SUCCESS" and node.runtime == 0.5


def test_a_group_and_a_chord_hang_under_the_task_that_sent_them():
    state = ClusterState()
    sent(state, "p", "app.fan_out", "p")
    for i in range(3):
        sent(state, f"g{i}", "app.add", "p", "p", group="grp-1")
    sent(state, "unlock", "celery.chord_unlock", "p", "p")
    sent(state, "cb", "app.total", "p", "unlock")
    view = state.workflow_view("g1")
    assert shape(view.root) == ("p", [("g0", []), ("g1", []), ("g2", []),
                                      ("unlock", [("cb", [])])])
    # Named by the group where the events say so; the rest name none.
    assert {find(view.root, f"g{i}").group for i in range(3)} == {"grp-1"}
    assert find(view.root, "cb").group is None
    assert find(view.root, "g0").state == "PENDING"


def test_a_retried_task_is_one_node_with_its_retries():
    state = ClusterState()
    sent(state, "r", "app.root", "r")
    sent(state, "f", "app.flaky", "r", "r")
    for attempt in (1, 2):
        state.apply({"type": "task-retried", "uuid": "f", "hostname": "w@h",
                     "timestamp": 2.0 + attempt, "exception": "ConnectionError()"})
        # The retry's message names the task as its own parent.
        sent(state, "f", "app.flaky", "r", "f", retries=attempt)
    finish(state, "f", retries=2)
    view = state.workflow_view("f")
    assert shape(view.root) == ("r", [("f", [])])
    node = find(view.root, "f")
    assert node.retries == 2 and node.state == "SUCCESS" and not node.detached


def test_a_root_not_held_is_a_placeholder_and_orphans_say_so():
    state = ClusterState()
    # The root and "mid" were never seen (sent before the console watched).
    sent(state, "x", "app.child", "gone-root", "gone-root")
    sent(state, "y", "app.grandchild", "gone-root", "mid")
    view = state.workflow_view("y")
    root = view.root
    assert root.uuid == "gone-root" and not root.held and root.state == "?"
    assert shape(root) == ("gone-root", [("x", []), ("y", [])])
    assert find(root, "y").detached and not find(root, "x").detached
    assert view.members == 2 and view.nodes == 3 and view.hidden == 0


def test_a_task_on_its_own_is_trivial_and_not_held_is_none():
    state = ClusterState()
    sent(state, "solo", "app.add", "solo")
    view = state.workflow_view("solo")
    assert view.trivial and shape(view.root) == ("solo", [])
    assert state.workflow_view("nope") is None


def test_a_huge_fan_out_is_bounded_and_keeps_the_opened_task():
    state = ClusterState(max_tasks=10_000)
    sent(state, "big", "app.fan_out", "big")
    for i in range(1_500):
        sent(state, f"m{i:04d}", "app.add", "big", "big")
    view = state.workflow_view("m1200")
    root = view.root
    shown = [c.uuid for c in root.children]
    # The first 1,000 in the order seen, then the opened one; the rest counted.
    assert shown[:1_000] == [f"m{i:04d}" for i in range(1_000)]
    assert shown[1_000:] == ["m1200"]
    assert root.more == 1_500 - 1_001
    assert view.hidden == 499 and view.members == 1_501
    small = state.workflow_view("big", max_children=10, max_nodes=5)
    assert len(small.root.children) == 4 and small.root.more == 1_496


def test_a_long_chain_builds_without_recursion():
    state = ClusterState()
    previous = None
    for i in range(3_000):
        sent(state, f"c{i}", "app.step", "c0", previous)
        previous = f"c{i}"
    view = state.workflow_view("c2999")
    depth, node = 0, view.root
    while node.children:
        node, depth = node.children[0], depth + 1
    assert depth == 2_999 and node.uuid == "c2999"


def test_a_root_id_missing_is_found_by_climbing_parents():
    state = ClusterState()
    sent(state, "top", "app.a", None)
    sent(state, "kid", "app.b", None, "top")
    assert shape(state.workflow_view("kid").root) == ("top", [("kid", [])])


def test_a_parent_cycle_from_hostile_events_does_not_hang():
    state = ClusterState()
    sent(state, "a", "x", None, "b")
    sent(state, "b", "x", None, "a")
    view = state.workflow_view("a")
    assert view is not None and view.nodes >= 1
