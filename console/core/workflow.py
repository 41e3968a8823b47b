"""A task's whole workflow, from its root: chains, groups, chords, retries.

Celery's events give each task a ``root_id`` (the first task of the
workflow; a task sent on its own is its own root) and a ``parent_id`` (the
task that sent it: the previous link of a chain, the task that called a
group, the last member of a chord's header for its callback). A retry is
the same task again (its messages name the task as its own parent): one
node, with its retry count.

Built on demand, when task detail opens or redraws, in one pass over the
tasks held (O(tasks held)), never per event: the model keeps no
parent→children index (see docs/architecture.md). Bounded for huge
fan-outs: at most ``max_children`` children of a node and ``max_nodes``
nodes in all, the rest counted; the path from the root to the task asked
about is always kept.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .records import TaskRecord

MAX_CHILDREN = 1_000
MAX_NODES = 5_000
# Parent links climbed to find a root when a task names none.
_MAX_CLIMB = 1_000


@dataclass(frozen=True)
class WorkflowNode:
    uuid: str
    # Cluster text (a task name, a group id): shown only through console/text.py.
    name: Any
    state: str
    runtime: float | None
    retries: int
    # The group the task belongs to, when its events say so (Celery's own
    # events do not; a producer that adds ``group`` to them is honoured).
    group: str | None
    # False for a task known only as another's parent or root (not held:
    # evicted, or sent before the console watched).
    held: bool
    worker_lost: bool
    children: tuple[WorkflowNode, ...]
    # Children not shown (past the bounds), and whether this node hangs
    # under the root because its own parent is not held.
    more: int = 0
    detached: bool = False


@dataclass(frozen=True)
class WorkflowView:
    root: WorkflowNode
    focus: str          # the task the view was asked for
    nodes: int          # nodes in the tree
    members: int        # tasks held that belong to the workflow
    hidden: int         # members not in the tree (past the bounds)

    @property
    def trivial(self) -> bool:
        """A task on its own: no parent, no children, no siblings."""
        return self.nodes == 1 and self.root.held and not self.root.more


def parent_of(task: TaskRecord) -> str | None:
    """The task that sent this one; a retry names the task itself, and a
    retried task remembers the parent it had before (TaskHistory)."""
    history = task.history
    parent = history.parent if history is not None else task.parent_id
    if not isinstance(parent, str) or parent == task.uuid:
        return None
    return parent


def root_of(task: TaskRecord, held: dict[str, TaskRecord]) -> str:
    root = task.root_id
    if isinstance(root, str) and root:
        return root
    # No root in the events (an old or foreign producer): climb the parents.
    current, seen = task, {task.uuid}
    for _ in range(_MAX_CLIMB):
        parent = parent_of(current)
        if parent is None or parent in seen:
            return current.uuid
        seen.add(parent)
        found = held.get(parent)
        if found is None:
            return parent
        current = found
    return current.uuid


def build_workflow(task: TaskRecord, tasks: Iterable[TaskRecord],
                   held: dict[str, TaskRecord], *, max_children: int = MAX_CHILDREN,
                   max_nodes: int = MAX_NODES) -> WorkflowView:
    """The workflow ``task`` belongs to. ``tasks`` is every task held, in
    first-seen order (children keep that order); ``held`` finds one by id.
    Called under the model's lock; returns immutable nodes."""
    root = root_of(task, held)
    members: dict[str, TaskRecord] = {}
    for candidate in tasks:
        if candidate.root_id == root or candidate.uuid == root:
            members[candidate.uuid] = candidate
    members[task.uuid] = task
    # The chain up from the task, in case some link names no root.
    current: TaskRecord | None = task
    for _ in range(_MAX_CLIMB):
        parent = parent_of(current) if current is not None else None
        if parent is None or parent in members or parent == root:
            break
        current = held.get(parent)
        if current is None:
            break
        members[parent] = current

    kids: dict[str, list[str]] = {}
    detached: set[str] = set()
    for uuid, member in members.items():
        if uuid == root:
            continue
        parent = parent_of(member)
        if parent is None or (parent not in members and parent != root):
            # Its parent is not held (or it names none while the root does):
            # shown under the root, said so.
            if parent is not None:
                detached.add(uuid)
            parent = root
        kids.setdefault(parent, []).append(uuid)

    # The path from the root to the task asked about is always shown.
    path: set[str] = set()
    step: str | None = task.uuid
    for _ in range(_MAX_CLIMB):
        if step is None or step in path:
            break
        path.add(step)
        if step == root:
            break
        found = members.get(step)
        parent = parent_of(found) if found is not None else None
        step = root if parent is None or (parent not in members) else parent

    # Breadth first from the root, within the bounds.
    shown: dict[str, list[str]] = {}
    more: dict[str, int] = {}
    count = 1
    queue = deque([root])
    while queue:
        uuid = queue.popleft()
        children = kids.get(uuid, [])
        room = max(0, min(max_children, max_nodes - count))
        chosen = children[:room]
        missing = [c for c in children[room:] if c in path]
        chosen += missing
        shown[uuid] = chosen
        more[uuid] = len(children) - len(chosen)
        count += len(chosen)
        queue.extend(chosen)

    # Bottom up, iteratively: a chain of thousands must not recurse.
    order: list[str] = []
    stack = [root]
    while stack:
        uuid = stack.pop()
        order.append(uuid)
        stack.extend(shown.get(uuid, ()))
    built: dict[str, WorkflowNode] = {}
    for uuid in reversed(order):
        record = members.get(uuid)
        nodes = tuple(built.pop(c) for c in shown.get(uuid, ()))
        built[uuid] = _node(uuid, record, nodes, more.get(uuid, 0), uuid in detached)
    return WorkflowView(root=built[root], focus=task.uuid, nodes=count,
                        members=len(members), hidden=len(members) - count
                        + (0 if root in members else 1))


def _node(uuid: str, task: TaskRecord | None, children: tuple[WorkflowNode, ...],
          more: int, detached: bool) -> WorkflowNode:
    if task is None:
        return WorkflowNode(uuid, None, "?", None, 0, None, False, False, children,
                            more, detached)
    runtime = task.runtime
    retries = task.retries
    group = task.group
    return WorkflowNode(
        uuid=uuid, name=task.name, state=task.state,
        runtime=float(runtime) if _number(runtime) else None,
        retries=retries if isinstance(retries, int) and not isinstance(retries, bool) else 0,
        group=group if isinstance(group, str) and group else None, held=True,
        worker_lost=bool(task.worker_lost), children=children, more=more,
        detached=detached)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
