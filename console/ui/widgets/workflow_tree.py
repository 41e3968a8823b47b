"""The workflow tree of task detail: Textual's Tree over a ``WorkflowView``.

Every label is a ``rich.text.Text`` built through console/text.py (a str
label would be read as markup; names and ids are cluster text). Rebuilt
only when the workflow changed; what the operator folded and where the
cursor was survive a rebuild.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ...core.workflow import WorkflowNode, WorkflowView
from ...text import one_line
from ..format import STATE_STYLES

# A node with more children than this starts folded (unless the task
# opened is under it): a fan-out of 1,000 would push the rest off screen.
FOLD_ABOVE = 50
# Celery's own helper tasks, said in words.
INTERNAL = {
    "celery.chord_unlock": "waits for the header, then sends the callback",
    "celery.chord": "starts a chord",
    "celery.group": "starts a group",
    "celery.chain": "starts a chain",
    "celery.starmap": "starmap",
    "celery.chunks": "chunks",
}


def node_label(node: WorkflowNode, focus: str) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    style = STATE_STYLES.get(node.state, "")
    text.append(f"{one_line(node.state, 9):<9}", style=style)
    text.append(" ")
    text.append(one_line(node.uuid)[:8], style="cyan")
    text.append("  ")
    if node.held:
        text.append(one_line(node.name, 80) or "?", style="bold" if node.uuid == focus else "")
    else:
        text.append("not held (evicted, or sent before the console watched)", style="dim")
    if isinstance(node.runtime, float):
        text.append(f"  {node.runtime:.3f}s", style="dim")
    if node.retries:
        text.append(f"  retried {node.retries}×", style="magenta")
    if node.group:
        text.append("  group ", style="dim")
        text.append(one_line(node.group, 12), style="blue")
    if node.worker_lost:
        text.append("  worker lost", style="bold red")
    if node.detached:
        text.append("  (its parent is not held)", style="dim")
    if isinstance(node.name, str) and node.name in INTERNAL:
        text.append(f"  {INTERNAL[node.name]}", style="dim italic")
    if node.uuid == focus:
        text.append("  ◀ this task", style="bold reverse")
    return text


def _flat(view: WorkflowView) -> tuple[list[tuple[object, ...]], dict[str, tuple[object, ...]]]:
    """What the tree shows, flat: its shape (ids in order, with how many
    children and whether some are not shown) and each node's label facts.
    Iterative: a chain can be thousands deep, and comparing the nested
    frozen nodes would recurse."""
    shape: list[tuple[object, ...]] = [(view.focus,)]
    labels: dict[str, tuple[object, ...]] = {}
    stack = [view.root]
    while stack:
        node = stack.pop()
        shape.append((node.uuid, len(node.children), bool(node.more)))
        labels[node.uuid] = (node.state, node.runtime, node.retries, node.more, node.group,
                             node.worker_lost, node.held, node.detached, node.name)
        stack.extend(reversed(node.children))
    return shape, labels


class WorkflowTree(Tree[str]):
    """``enter`` selects (the screen opens the task); ``space`` folds.

    Rebuilt only when the workflow's shape changed; when only states,
    runtimes or counts moved, the labels that changed are set in place (a
    1,000-node rebuild takes ~70 ms of the UI thread, an update far less)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(Text(""), **kwargs)
        self.auto_expand = False
        self.show_root = True
        self._shape: list[tuple[object, ...]] | None = None
        self._labels: dict[str, tuple[object, ...]] = {}
        self._by_uuid: dict[str, TreeNode[str]] = {}
        self._more: dict[str, TreeNode[str]] = {}

    def show(self, view: WorkflowView) -> None:
        shape, labels = _flat(view)
        if shape == self._shape:
            self._relabel(view, labels)
        else:
            self._rebuild(view, shape)
        self._labels = labels

    def _relabel(self, view: WorkflowView, labels: dict[str, tuple[object, ...]]) -> None:
        stack = [view.root]
        while stack:
            node = stack.pop()
            stack.extend(node.children)
            if labels[node.uuid] == self._labels.get(node.uuid):
                continue
            self._by_uuid[node.uuid].set_label(node_label(node, view.focus))
            if node.uuid in self._more:
                self._more[node.uuid].set_label(_more_label(node.more))

    def _rebuild(self, view: WorkflowView, shape: list[tuple[object, ...]]) -> None:
        folded = {n.data for n in _walk(self.root)
                  if n.data and n.allow_expand and not n.is_expanded}
        cursor = self.cursor_node.data if self.cursor_node is not None else None
        first = self._shape is None
        self._shape = shape
        path = _path_to(view.root, view.focus)
        self.clear()
        root = self.root
        root.set_label(node_label(view.root, view.focus))
        root.data = view.root.uuid
        self._by_uuid = by_uuid = {view.root.uuid: root}
        self._more = {}
        stack: list[tuple[WorkflowNode, TreeNode[str]]] = [(view.root, root)]
        while stack:
            node, tree_node = stack.pop()
            for child in node.children:
                label = node_label(child, view.focus)
                if child.children or child.more:
                    added = tree_node.add(label, child.uuid)
                    stack.append((child, added))
                else:
                    added = tree_node.add_leaf(label, child.uuid)
                by_uuid[child.uuid] = added
            if node.more:
                self._more[node.uuid] = tree_node.add_leaf(_more_label(node.more))
            many = len(node.children) + node.more > FOLD_ABOVE
            fold = node.uuid in folded if not first else (many and node.uuid not in path)
            if not fold:
                tree_node.expand()
        target = by_uuid.get(view.focus if first or cursor not in by_uuid else cursor or "")
        if target is not None:
            self.call_after_refresh(self.move_cursor, target)


def _more_label(more: int) -> Text:
    return Text(f"… and {more:,} more", style="dim italic")


def _walk(root: TreeNode[str]) -> list[TreeNode[str]]:
    out, stack = [], [root]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.children)
    return out


def _path_to(root: WorkflowNode, uuid: str) -> set[str]:
    """The ids from the root down to ``uuid`` (the nodes to keep open)."""
    parents: dict[str, str] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if node.uuid == uuid:
            break
        for child in node.children:
            parents[child.uuid] = node.uuid
            stack.append(child)
    path, step = set(), uuid
    while step in parents and step not in path:
        path.add(step)
        step = parents[step]
    path.add(root.uuid)
    return path
