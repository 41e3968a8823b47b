"""Celery messages waiting in a queue, decoded for reading and matching.

A message as a broker holds it is bytes plus headers and properties; this
module turns one into a ``QueuedMessage`` with Celery's meaning (task name,
id, eta, retries, the args as the sender's repr…) without ever running
anything from it: bodies are decoded only with JSON, msgpack or YAML's safe
loader, never pickle. Protocol 2 carries the task's identity in the
headers, so a pickled body still groups by name; protocol 1 carries it in
the body.

A ``Peek`` is what the head of one queue holds: the first messages in the
order a worker will get them, and the counted ones grouped by task name.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .filters import Field, FilterSpec, RowFilter

# What is kept of an args/kwargs repr per message (Celery itself cuts the
# repr it sends at ``argsrepr_maxsize``, 1,024 by default).
TEXT_KEPT = 4096
# Content types decoded to read a protocol-1 task or a body without
# argsrepr. Pickle is never on this list: a queue is not trusted input.
SAFE_CONTENT = frozenset({"application/json", "application/x-msgpack",
                          "application/x-yaml"})
NOT_A_TASK = "(not a Celery task)"

MESSAGE_SPEC = FilterSpec("messages", (
    # name: contains (as on Tasks); task: the whole name (one group exactly:
    # task:reports.rebuild leaves reports.rebuild_all alone).
    Field("name"), Field("task", exact=True), Field("id", ("uuid",)),
    Field("args"), Field("kwargs"),
    Field("eta"), Field("retries", exact=True), Field("priority", exact=True),
    Field("origin"), Field("root", ("root_id",)), Field("parent", ("parent_id",)),
), free=("name", "id", "args", "kwargs"))


@dataclass(frozen=True)
class QueuedMessage:
    """One message in a queue, as Celery would read it."""

    position: int  # 0: the next a worker gets
    id: str | None = None
    name: str | None = None
    args: str = ""
    kwargs: str = ""
    eta: str | None = None
    expires: str | None = None
    retries: int | None = None
    root_id: str | None = None
    parent_id: str | None = None
    group: str | None = None
    origin: str | None = None
    priority: int | None = None
    protocol: int | None = None  # 1, 2, or None when not a Celery task
    content_type: str = ""
    content_encoding: str = ""
    compression: str | None = None
    size: int = 0  # body bytes, as stored
    redelivered: bool | None = None
    error: str | None = None  # why the message could not be fully read

    @property
    def label(self) -> str:
        return self.name or NOT_A_TASK

    def parts(self) -> dict[str, str]:
        """The message as the filter reads it (lowercased)."""
        name = (self.name or "").lower()
        return {"name": name, "task": name, "id": (self.id or "").lower(),
                "args": self.args.lower(), "kwargs": self.kwargs.lower(),
                "eta": (self.eta or "").lower(),
                "retries": "" if self.retries is None else str(self.retries),
                "priority": "" if self.priority is None else str(self.priority),
                "origin": (self.origin or "").lower(), "root": (self.root_id or "").lower(),
                "parent": (self.parent_id or "").lower()}

    def fields(self) -> list[tuple[str, str]]:
        """Every field, for the message detail and ``--json``."""
        return [(k, "" if v is None else str(v)) for k, v in self.as_dict().items()]

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "id": self.id, "name": self.name,
                "args": self.args, "kwargs": self.kwargs, "eta": self.eta,
                "expires": self.expires, "retries": self.retries, "root_id": self.root_id,
                "parent_id": self.parent_id, "group": self.group, "origin": self.origin,
                "priority": self.priority, "protocol": self.protocol,
                "content_type": self.content_type,
                "content_encoding": self.content_encoding,
                "compression": self.compression, "size": self.size,
                "redelivered": self.redelivered, "error": self.error}


def matches(match: RowFilter | None, message: QueuedMessage) -> bool:
    """No filter matches every message (a move of the whole queue)."""
    return not match or match.matches(message.parts())


def parse_match(text: str | None) -> RowFilter | None:
    """The filter a selective purge or move takes; None for all. Raises
    ``FilterError`` naming the closest field for a typo."""
    text = (text or "").strip()
    return RowFilter.parse(MESSAGE_SPEC, text) if text else None


# ------------------------------------------------------------------ decoding
def decode(position: int, body: bytes | str, headers: Mapping[str, Any] | None,
           properties: Mapping[str, Any] | None, content_type: str | None,
           content_encoding: str | None, redelivered: bool | None = None) -> QueuedMessage:
    """A message from its parts. Never raises: what cannot be read is said
    in ``error`` and the rest is kept."""
    headers = headers if isinstance(headers, Mapping) else {}
    properties = properties if isinstance(properties, Mapping) else {}
    raw = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else bytes(body)
    info: dict[str, Any] = {
        "position": position, "content_type": _text(content_type) or "",
        "content_encoding": _text(content_encoding) or "", "size": len(raw),
        "redelivered": redelivered, "priority": _int(properties.get("priority")),
        "compression": _text(headers.get("compression"))}
    error = None
    if "task" in headers:  # protocol 2: who and what are in the headers
        info.update(
            protocol=2, name=_text(headers.get("task")), id=_text(headers.get("id")),
            eta=_text(headers.get("eta")), expires=_text(headers.get("expires")),
            retries=_int(headers.get("retries")), root_id=_text(headers.get("root_id")),
            parent_id=_text(headers.get("parent_id")), group=_text(headers.get("group")),
            origin=_text(headers.get("origin")))
        args, kwargs = headers.get("argsrepr"), headers.get("kwargsrepr")
        if args is None or kwargs is None:
            decoded, error = _body(raw, info)
            if isinstance(decoded, (list, tuple)) and len(decoded) >= 2:
                args = repr(tuple(decoded[0])) if args is None and isinstance(
                    decoded[0], (list, tuple)) else args
                kwargs = repr(decoded[1]) if kwargs is None else kwargs
        info["args"] = _bounded(args)
        info["kwargs"] = _bounded(kwargs)
    else:  # protocol 1, or not a Celery task at all
        decoded, error = _body(raw, info)
        if isinstance(decoded, Mapping) and "task" in decoded:
            info.update(
                protocol=1, name=_text(decoded.get("task")), id=_text(decoded.get("id")),
                eta=_text(decoded.get("eta")), expires=_text(decoded.get("expires")),
                retries=_int(decoded.get("retries")), group=_text(decoded.get("taskset")),
                args=_bounded(_repr(decoded.get("args", ()))),
                kwargs=_bounded(_repr(decoded.get("kwargs", {}))))
        elif error is None:
            error = "no task header: not a Celery task message"
    return QueuedMessage(error=error, **info)


def decode_redis(position: int, raw: bytes | str) -> QueuedMessage:
    """One element of a Redis queue list: kombu's JSON envelope."""
    try:
        envelope = json.loads(raw)
        if not isinstance(envelope, dict):
            raise ValueError("not an object")
    except (ValueError, UnicodeDecodeError) as exc:
        return QueuedMessage(position, size=len(raw),
                             error=f"not a kombu message: {_first(exc)}")
    properties = envelope.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    body: Any = envelope.get("body", "")
    if properties.get("body_encoding") == "base64" and isinstance(body, str):
        try:
            body = base64.b64decode(body, validate=False)
        except (binascii.Error, ValueError) as exc:
            return QueuedMessage(position, size=len(raw),
                                 error=f"body is not base64: {_first(exc)}")
    if not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    return decode(position, body, envelope.get("headers"), properties,
                  envelope.get("content-type"), envelope.get("content-encoding"))


def _body(raw: bytes, info: dict[str, Any]) -> tuple[Any, str | None]:
    content_type = info["content_type"]
    if content_type not in SAFE_CONTENT:
        return None, (f"body not decoded: {content_type or 'no content type'} "
                      "is not read by the console")
    data = raw
    if info.get("compression"):
        try:
            from kombu.compression import decompress
            data = decompress(raw, info["compression"])
        except Exception as exc:  # unknown or corrupt compression
            return None, f"cannot decompress ({info['compression']}): {_first(exc)}"
    try:
        from kombu.serialization import loads
        return loads(data, content_type, info["content_encoding"] or "utf-8",
                     accept=SAFE_CONTENT), None
    except Exception as exc:  # malformed body: said, not raised
        return None, f"body cannot be decoded: {_first(exc)}"


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _repr(value: object) -> str:
    try:
        return repr(tuple(value)) if isinstance(value, list) else repr(value)
    except Exception:  # a hostile object's repr
        return "<unreadable>"


def _bounded(value: object) -> str:
    text = "" if value is None else (value if isinstance(value, str) else _repr(value))
    return text if len(text) <= TEXT_KEPT else text[: TEXT_KEPT - 1] + "…"


def _first(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


# ------------------------------------------------------------------- summary
@dataclass
class MessageGroup:
    """The messages of one task name."""

    name: str
    count: int = 0
    first_position: int = 0
    oldest_eta: str | None = None
    newest_eta: str | None = None
    sample_args: str = ""
    share: float = 0.0

    def add(self, message: QueuedMessage) -> None:
        if not self.count:
            self.first_position = message.position
            self.sample_args = message.args[:200]
        self.count += 1
        if message.eta:
            when = _when(message.eta)
            if when is not None:
                if self.oldest_eta is None or when < (_when(self.oldest_eta) or when):
                    self.oldest_eta = message.eta
                if self.newest_eta is None or when > (_when(self.newest_eta) or when):
                    self.newest_eta = message.eta

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "count": self.count, "share": round(self.share, 4),
                "first_position": self.first_position, "oldest_eta": self.oldest_eta,
                "newest_eta": self.newest_eta, "sample_args": self.sample_args}


def _when(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:  # naive etas (old senders) compare as UTC
        from datetime import timezone
        when = when.replace(tzinfo=timezone.utc)
    return when


class Summary:
    """Counts messages as they are read; keeps the first ``keep`` whole."""

    def __init__(self, keep: int):
        self.keep = keep
        self.kept: list[QueuedMessage] = []
        self.groups: dict[str, MessageGroup] = {}
        self.counted = 0
        self.undecoded = 0

    def add(self, message: QueuedMessage) -> None:
        self.counted += 1
        if len(self.kept) < self.keep:
            self.kept.append(message)
        if message.error and message.protocol is None:
            self.undecoded += 1
        group = self.groups.get(message.label)
        if group is None:
            group = self.groups[message.label] = MessageGroup(message.label)
        group.add(message)

    def sorted_groups(self) -> tuple[MessageGroup, ...]:
        for group in self.groups.values():
            group.share = group.count / self.counted if self.counted else 0.0
        return tuple(sorted(self.groups.values(), key=lambda g: (-g.count, g.name)))


@dataclass(frozen=True)
class HeldTask:
    """A task a worker already took from the queue (reserved, prefetched or
    waiting for its eta): out of a purge's reach, revocable by id."""

    id: str
    name: str
    worker: str
    args: str = ""
    kwargs: str = ""

    def parts(self) -> dict[str, str]:
        return {"name": self.name.lower(), "task": self.name.lower(), "id": self.id.lower(),
                "args": self.args.lower(), "kwargs": self.kwargs.lower(),
                "eta": "", "retries": "", "priority": "", "origin": "",
                "root": "", "parent": ""}


@dataclass(frozen=True)
class Held:
    """What workers hold of one queue, and where that was learned."""

    tasks: tuple[HeldTask, ...] = ()
    source: str = ""  # "the transport's unacked hash", "inspect reserved/scheduled"
    error: str | None = None
    complete: bool = True  # False: some workers did not answer

    def matching(self, match: RowFilter | None) -> list[HeldTask]:
        return [t for t in self.tasks if not match or match.matches(t.parts())]


@dataclass(frozen=True)
class Peek:
    """The head of one queue: the next messages a worker will get."""

    queue: str
    transport: str
    depth: int | None  # the broker's own count when it was read
    counted: int  # messages read and grouped
    exact: bool  # True: every message in the queue was counted
    window: int | None  # the most counted when not exact
    messages: tuple[QueuedMessage, ...] = ()
    groups: tuple[MessageGroup, ...] = ()
    undecoded: int = 0
    held: Held | None = None
    error: str | None = None
    at: float = 0.0

    @property
    def scope(self) -> str:
        """``all 50,500`` or ``the first 10,000``: said wherever counts are."""
        if self.exact:
            return f"all {self.counted:,}"
        return f"the first {self.counted:,}"

    def as_dict(self) -> dict[str, Any]:
        return {"queue": self.queue, "transport": self.transport, "depth": self.depth,
                "counted": self.counted, "exact": self.exact, "window": self.window,
                "groups": [g.as_dict() for g in self.groups],
                "messages": [m.as_dict() for m in self.messages],
                "undecoded": self.undecoded,
                "held": None if self.held is None else {
                    "count": len(self.held.tasks), "source": self.held.source,
                    "complete": self.held.complete, "error": self.held.error},
                "error": self.error, "at": self.at}


def summarize(messages: Iterable[QueuedMessage], keep: int) -> Summary:
    summary = Summary(keep)
    for message in messages:
        summary.add(message)
    return summary


@dataclass
class Selection:
    """A dry run of a selective purge or move: what would go and stay."""

    queue: str
    matched: int = 0
    kept: int = 0
    exact: bool = True
    window: int | None = None
    depth: int | None = None
    by_name: dict[str, int] = field(default_factory=dict)
    held: Held | None = None
    error: str | None = None

    @property
    def scope(self) -> str:
        counted = self.matched + self.kept
        return f"all {counted:,}" if self.exact else f"the first {counted:,}"
