"""Queue surgery: read a queue without consuming it, and remove or move only
the messages that match, with nothing ever held only in the console.

The guarantee, on both brokers: at every instant each message is on the
broker — in its queue, in the destination, or (RabbitMQ) delivered to the
console but not yet acknowledged, which the broker gives back if the
console dies. A crash can at worst duplicate a message on RabbitMQ; it
never loses one.

Redis (``LPUSH`` by producers, ``BRPOP`` by workers, so a list's right end
is the next to run; priorities are sub-lists read in step order):

- reading is ``LRANGE`` inside one ``MULTI``: an exact snapshot of the whole
  queue and its priority sub-lists, changing nothing;
- removing or moving runs a Lua script per batch, which Redis runs
  atomically: each matching message is replaced in place by a tombstone
  (after being pushed onto the destination, for a move) and the tombstones
  are removed at the end of the script. Each script touches only its
  batch's window of the list (found with LPOS from the head), so a pass is
  linear in the queue and no script blocks Redis for long. A message is in the source or in
  the destination, never in neither, whatever dies when. Messages that do
  not match are never touched: same bytes, same place. A message a worker
  took meanwhile is simply not found (counted as taken by workers).

RabbitMQ (no way to read a queue without taking messages from it):

- a peek takes the first messages with ``basic.get`` without acknowledging
  them and hands them all back at once by closing the channel: they return
  to their places, flagged redelivered. While held (about 1.7 s for
  10,000 here) workers cannot get them. The window is bounded (10,000
  counted by default) and said on screen as "of the first 10,000";
- removing or moving consumes one pass over the messages there when it
  began (at most that many): a match is acknowledged (removed) or first
  re-published to the destination with publisher confirms and then
  acknowledged; a message that does not match is re-published to its own
  queue — same body, headers, properties and priority — with confirms,
  then acknowledged. The kept messages keep their order among themselves
  but go behind any that arrived during the pass (RabbitMQ requeues
  thousands of interleaved messages very slowly: 10,000 took ~10 s on
  3.10). A copy confirmed whose original's acknowledgement was lost in a
  crash is a duplicate: the operation reports how many it may have left.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .broker import QueueProbe
from .connection import Target
from .filters import RowFilter
from .messages import (
    Held,
    HeldTask,
    Peek,
    QueuedMessage,
    Selection,
    Summary,
    decode,
    decode_redis,
    matches,
)
from .views import ResultKind, TargetResult, pidbox_scope

log = logging.getLogger(__name__)

LISTED = 1_000  # messages kept whole by a peek
RABBIT_WINDOW = 10_000  # messages counted by a RabbitMQ peek
REDIS_WINDOW = 1_000_000  # a Redis peek counts the whole queue up to this
BATCH = 2_000  # messages per Redis script / RabbitMQ confirm round
BATCH_BYTES = 4 << 20
STALL = 10.0  # seconds without a delivery before a RabbitMQ pass gives up

# Tombstone swap, atomic in Redis. KEYS: source list, destination list
# (the source again for a removal). ARGV: mode ("move"/"remove"), the
# tombstone, the batch's span in the snapshot (how many elements from its
# first to its last message), then the exact messages to take, head first.
#
# Bounded work per batch, never a scan of the whole list in Lua: LPOS (a
# C scan from the head) finds the first message of the batch still there;
# the rest lie within ``span`` of it (workers pop only from the head, so
# nothing between them moved), read with one LRANGE of that window. Each
# is replaced by the tombstone with LSET, and LREM with a negative count
# removes exactly the tombstones laid, scanning from the head only as far
# as the last. A message not in the window was taken by a worker; if many
# are missing, one full read settles it.
_TAKE = """
local mode, tomb, span = ARGV[1], ARGV[2], tonumber(ARGV[3])
local want, order = {}, {}
for i = 4, #ARGV do
  local v = ARGV[i]
  if not want[v] then order[#order + 1] = v end
  want[v] = (want[v] or 0) + 1
end
local taken = 0
local function take_at(index, v)
  if mode == 'move' then redis.call('LPUSH', KEYS[2], v) end
  redis.call('LSET', KEYS[1], index, tomb)
  want[v] = want[v] - 1
  taken = taken + 1
end
local function sweep(low, high)
  local items = redis.call('LRANGE', KEYS[1], low, high)
  for j = #items, 1, -1 do
    local v = items[j]
    local n = want[v]
    if n and n > 0 then take_at(low + j - 1, v) end
  end
end
local anchor = nil
for i = 1, math.min(#order, 32) do
  anchor = redis.call('LPOS', KEYS[1], order[i], 'RANK', -1)
  if anchor then break end
end
if anchor then
  sweep(math.max(0, anchor - span - 64), anchor)
end
local missing = {}
for _, v in ipairs(order) do
  if want[v] > 0 then missing[#missing + 1] = v end
end
if #missing > 0 and #missing <= 64 then
  for _, v in ipairs(missing) do
    while want[v] > 0 do
      local p = redis.call('LPOS', KEYS[1], v, 'RANK', -1)
      if not p then break end
      take_at(p, v)
    end
  end
elseif #missing > 0 then
  sweep(0, -1)
end
if taken > 0 then redis.call('LREM', KEYS[1], -taken, tomb) end
return taken
"""


QUARANTINE = ".quarantine"


def default_destination(source: str) -> str:
    """``reports`` → ``reports.quarantine``; and back again."""
    if source.endswith(QUARANTINE) and len(source) > len(QUARANTINE):
        return source[: -len(QUARANTINE)]
    return source + QUARANTINE


class SurgeryError(Exception):
    """The operation could not start (no such queue, unreachable broker)."""


@dataclass
class SurgeryResult:
    """What one selective purge or move did to one queue."""

    queue: str
    destination: str | None = None
    examined: int = 0  # messages read in the pass
    removed: int = 0
    moved: int = 0
    kept: int = 0
    gone: int = 0  # matched, but a worker took it first
    duplicates: int = 0  # RabbitMQ: copies whose original may still be there
    complete: bool = False
    exact: bool = True
    error: str | None = None
    by_name: dict[str, int] = field(default_factory=dict)
    # Ids of the task messages removed (a worker may have taken a few first
    # on Redis): their tasks are shown as purged.
    removed_ids: list[str] = field(default_factory=list)
    # Redis: a batch sent whose reply never came (applied whole, or not).
    in_flight: int = 0

    @property
    def acted(self) -> int:
        return self.removed + self.moved

    def result(self) -> TargetResult:
        verb = "moved" if self.destination else "removed"
        text = (f"{self.acted:,} {verb}"
                + (f" to {self.destination}" if self.destination else "")
                + f", {self.kept:,} kept")
        if self.gone:
            text += f", {self.gone:,} taken by workers first"
        if self.duplicates:
            text += f", up to {self.duplicates:,} may be duplicated"
        if self.error:
            if self.in_flight:
                text += (f"; a batch of {self.in_flight:,} was on its way: Redis applied "
                         "all of it or none")
            uncertain = self.acted or self.duplicates or self.in_flight
            kind = ResultKind.UNKNOWN if uncertain else ResultKind.ERROR
            # Interrupted, the counts are what was sent, not what arrived.
            return TargetResult(kind, f"{self.error} (stopped; at most {text})",
                                count=self.acted)
        return TargetResult(ResultKind.OK, text, count=self.acted)

    def as_dict(self) -> dict[str, Any]:
        return {"queue": self.queue, "destination": self.destination,
                "examined": self.examined, "removed": self.removed, "moved": self.moved,
                "kept": self.kept, "gone": self.gone, "duplicates": self.duplicates,
                "complete": self.complete, "exact": self.exact, "error": self.error,
                "in_flight": self.in_flight,
                "by_name": self.by_name}


Progress = Callable[[int, int], None]


class Surgeon:
    """Peek, count, remove and move the messages of one queue."""

    def __init__(self, target: Target, timeout: float = 4.0, batch: int = BATCH,
                 workers: list[str] | None = None):
        """``workers``: the online workers the console knows, so asking them
        what they hold returns as soon as they have all answered (None: ask
        everyone and wait the whole second)."""
        self.target = target
        self.timeout = timeout
        self.batch = max(1, batch)
        self.workers = workers

    # ------------------------------------------------------------- public
    def peek(self, queue: str, limit: int = LISTED, window: int | None = None,
             held: bool = True) -> Peek:
        """The head of ``queue``: the first ``limit`` messages whole and
        ``window`` counted and grouped (default: the whole queue on Redis,
        10,000 on RabbitMQ)."""
        summary = Summary(limit)
        now = time.time()
        try:
            with self._connection() as conn:
                kind = conn.transport.driver_type
                depth = self._exists(conn, queue)
                if kind == "redis":
                    bound = window or REDIS_WINDOW
                    for message in self._redis_messages(conn, queue, bound):
                        summary.add(message)
                    exact = summary.counted >= (depth or 0)
                elif kind == "amqp":
                    bound = window or RABBIT_WINDOW
                    for message, _ in self._amqp_peek(conn, queue, bound):
                        summary.add(message)
                    exact = summary.counted >= (depth or 0)
                elif kind == "filesystem":
                    bound = window or REDIS_WINDOW
                    for message, _ in self._fs_messages(conn, queue, bound):
                        summary.add(message)
                    exact = summary.counted >= (depth or 0)
                else:
                    raise SurgeryError(f"reading messages is not supported on "
                                       f"{self.target.transport}")
                holding = self._held(conn, queue) if held else None
        except SurgeryError as exc:
            return Peek(queue, self.target.transport, None, 0, False, window,
                        error=str(exc), at=now)
        except Exception as exc:
            log.info("peek of %s failed", queue, exc_info=True)
            return Peek(queue, self.target.transport, None, summary.counted, False,
                        window, tuple(summary.kept), summary.sorted_groups(),
                        error=self._scrub(exc), at=now)
        return Peek(queue, kind, depth, summary.counted, exact,
                    None if exact else bound, tuple(summary.kept),
                    summary.sorted_groups(), summary.undecoded, holding, at=now)

    def select(self, queue: str, match: RowFilter | None,
               window: int | None = None) -> Selection:
        """A fresh dry run: how many messages would go and how many stay."""
        selection = Selection(queue)
        try:
            with self._connection() as conn:
                kind = conn.transport.driver_type
                selection.depth = self._exists(conn, queue)
                if kind == "redis":
                    source: Iterable[QueuedMessage] = self._redis_messages(
                        conn, queue, window or REDIS_WINDOW)
                elif kind == "amqp":
                    source = (m for m, _ in self._amqp_peek(conn, queue,
                                                           window or RABBIT_WINDOW))
                elif kind == "filesystem":
                    source = (m for m, _ in self._fs_messages(conn, queue,
                                                             window or REDIS_WINDOW))
                else:
                    raise SurgeryError(f"not supported on {self.target.transport}")
                for message in source:
                    if matches(match, message):
                        selection.matched += 1
                        selection.by_name[message.label] = \
                            selection.by_name.get(message.label, 0) + 1
                    else:
                        selection.kept += 1
                counted = selection.matched + selection.kept
                selection.exact = counted >= (selection.depth or 0)
                if not selection.exact:
                    selection.window = counted
                selection.held = self._held(conn, queue)
        except Exception as exc:
            log.info("counting %s failed", queue, exc_info=True)
            selection.error = str(exc) if isinstance(exc, SurgeryError) else self._scrub(exc)
        return selection

    def remove(self, queue: str, match: RowFilter | None,
               progress: Progress | None = None) -> SurgeryResult:
        """Delete the messages of ``queue`` that match; keep the rest."""
        if match is None:
            raise ValueError("a removal needs a match: a whole-queue purge is purge()")
        return self._operate(queue, None, match, progress)

    def move(self, source: str, destination: str, match: RowFilter | None,
             progress: Progress | None = None) -> SurgeryResult:
        """Move the messages of ``source`` that match (all with no match) to
        ``destination``, declared like the source when it does not exist."""
        if source == destination:
            raise ValueError("the destination is the source")
        return self._operate(source, destination, match, progress)

    def held(self, queue: str) -> Held:
        try:
            with self._connection() as conn:
                return self._held(conn, queue)
        except Exception as exc:
            return Held(error=self._scrub(exc), complete=False)

    def destination_exists(self, name: str) -> bool | None:
        depths = QueueProbe(self.target, self.timeout).probe([name])
        return depths[name].exists

    # ------------------------------------------------------------ plumbing
    def _connection(self) -> Any:
        conn = self.target.connection_for_write(connect_timeout=self.timeout)
        try:
            conn.ensure_connection(max_retries=1, timeout=self.timeout)
        except Exception:
            conn.release()
            raise
        return conn

    def _scrub(self, exc: BaseException) -> str:
        return self.target.scrub(f"{type(exc).__name__}: {exc}")

    def _exists(self, conn: Any, queue: str) -> int | None:
        probe = QueueProbe(self.target, self.timeout)
        probe._fresh = True  # existence must be current before acting
        depth = probe._probe_with(conn, [queue])[queue]
        if depth.error:
            raise SurgeryError(depth.error)
        if depth.exists is False:
            raise SurgeryError(f"no such queue {queue!r} on {self.target.masked_url}")
        return depth.messages

    def _operate(self, queue: str, destination: str | None, match: RowFilter | None,
                 progress: Progress | None) -> SurgeryResult:
        result = SurgeryResult(queue, destination)
        try:
            with self._connection() as conn:
                kind = conn.transport.driver_type
                self._exists(conn, queue)
                if destination is not None:
                    self._declare_like(conn, queue, destination)
                if kind == "redis":
                    self._redis_operate(conn, result, match, progress)
                elif kind == "amqp":
                    self._amqp_operate(conn, result, match, progress)
                elif kind == "filesystem":
                    self._fs_operate(conn, result, match, progress)
                else:
                    raise SurgeryError(f"not supported on {self.target.transport}")
        except SurgeryError as exc:
            result.error = str(exc)
        except Exception as exc:
            log.warning("%s of %s stopped", "move" if destination else "removal", queue,
                        exc_info=True)
            result.error = self._scrub(exc)
        return result

    def _declare_like(self, conn: Any, source: str, destination: str) -> None:
        """The destination as Celery declares the source (exchange, arguments
        such as x-max-priority, durability), unless it exists already."""
        try:
            self._exists(conn, destination)
            return
        except SurgeryError:
            pass
        from kombu import Queue
        like = self.target.app.amqp.queues[source]
        Queue(destination, exchange=like.exchange, routing_key=destination,
              durable=like.durable, queue_arguments=like.queue_arguments,
              max_priority=like.max_priority).declare(channel=conn.default_channel)
        self._exists(conn, destination)

    # --------------------------------------------------------------- Redis
    @staticmethod
    def _redis(conn: Any) -> tuple[Any, Any, str]:
        """A plain client on the transport's own pool (TLS, Sentinel and all),
        with every key prefixed here: kombu's prefixing client prefixes some
        commands and not others (LRANGE and EVAL are not)."""
        import redis
        channel = conn.default_channel
        return channel, redis.Redis(connection_pool=channel.pool), \
            getattr(channel, "global_keyprefix", "") or ""

    @staticmethod
    def _redis_keys(channel: Any, prefix: str, queue: str) -> list[tuple[int, str]]:
        """(priority step, key) in the order workers pop them."""
        return [(pri, prefix + channel._q_for_pri(queue, pri))
                for pri in sorted(set(channel.priority_steps))]

    def _redis_snapshot(self, conn: Any, queue: str,
                        bound: int) -> list[tuple[int, list[bytes]]]:
        """Each sub-list's messages, head first, in one MULTI: an exact
        snapshot across the priority sub-lists."""
        channel, client, prefix = self._redis(conn)
        keys = self._redis_keys(channel, prefix, queue)
        with client.pipeline(transaction=True) as pipe:
            for _, key in keys:
                pipe.lrange(key, -bound, -1)
            lists = pipe.execute()
        out = []
        left = bound
        for (pri, _), items in zip(keys, lists, strict=True):
            items.reverse()  # the right end is the next to run
            out.append((pri, items[:left]))
            left -= len(out[-1][1])
        return out

    def _redis_messages(self, conn: Any, queue: str, bound: int) -> Iterable[QueuedMessage]:
        position = 0
        for _, items in self._redis_snapshot(conn, queue, bound):
            for raw in items:
                yield decode_redis(position, raw)
                position += 1

    def _redis_operate(self, conn: Any, result: SurgeryResult, match: RowFilter | None,
                       progress: Progress | None) -> None:
        channel, client, prefix = self._redis(conn)
        take = client.register_script(_TAKE)
        snapshot = self._redis_snapshot(conn, result.queue, REDIS_WINDOW)
        total = sum(len(items) for _, items in snapshot)
        result.exact = total < REDIS_WINDOW
        tombstone = f"celery-console-tombstone-{uuid.uuid4()}"
        position = 0
        for pri, items in snapshot:
            source_key = prefix + channel._q_for_pri(result.queue, pri)
            target_key = (prefix + channel._q_for_pri(result.destination, pri)
                          if result.destination else source_key)
            chosen: list[bytes] = []
            ids: list[str] = []
            size = 0
            first = 0
            for index, raw in enumerate(items):
                message = decode_redis(position, raw)
                position += 1
                result.examined += 1
                if not matches(match, message):
                    result.kept += 1
                    continue
                result.by_name[message.label] = result.by_name.get(message.label, 0) + 1
                if not chosen:
                    first = index
                chosen.append(raw)
                if message.id:
                    ids.append(message.id)
                size += len(raw)
                if len(chosen) >= self.batch or size >= BATCH_BYTES:
                    self._redis_take(take, source_key, target_key, chosen, ids,
                                     index - first + 1, tombstone, result)
                    chosen, ids, size = [], [], 0
                    if progress:
                        progress(result.examined, total)
            if chosen:
                self._redis_take(take, source_key, target_key, chosen, ids,
                                 len(items) - first, tombstone, result)
        result.complete = True
        if progress:
            progress(result.examined, total)

    @staticmethod
    def _redis_take(take: Any, source: str, target: str, chosen: list[bytes],
                    ids: list[str], span: int, tombstone: str,
                    result: SurgeryResult) -> None:
        mode = "move" if result.destination else "remove"
        # Until the script's reply arrives, the batch may or may not have
        # been applied (Redis runs a script whole, even for a client gone).
        result.in_flight = len(chosen)
        taken = int(take(keys=[source, target], args=[mode, tombstone, span, *chosen]))
        result.in_flight = 0
        if result.destination:
            result.moved += taken
        else:
            result.removed += taken
            result.removed_ids.extend(ids)
        result.gone += len(chosen) - taken

    def _redis_held(self, conn: Any, queue: str) -> Held:
        """Messages workers took but have not acknowledged: kombu keeps them
        in its ``unacked`` hash as [message, exchange, routing key]."""
        import json
        channel, client, prefix = self._redis(conn)
        routes: dict[str, set[str]] = {}

        def queues_for(exchange: str, routing_key: str) -> set[str]:
            if exchange not in routes:
                members = client.smembers(prefix + channel.keyprefix_queue % exchange)
                routes[exchange] = set()
                for member in members:
                    member = member.decode("utf-8", "replace") if isinstance(
                        member, bytes) else member
                    rk, _, name = member.split(channel.sep)
                    if rk == routing_key or not rk:
                        routes[exchange].add(name)
            return routes[exchange]

        tasks = []
        for _, value in client.hscan_iter(prefix + channel.unacked_key, count=1000):
            try:
                envelope, exchange, routing_key = json.loads(value)
            except (ValueError, TypeError):
                continue
            if routing_key != queue and queue not in queues_for(exchange or "", routing_key):
                continue
            message = decode_redis(0, json.dumps(envelope))
            if message.id:
                tasks.append(HeldTask(message.id, message.label, "", message.args,
                                      message.kwargs))
        return Held(tuple(tasks), "the transport's unacked hash")

    # ---------------------------------------------------------- filesystem
    @staticmethod
    def _fs_files(conn: Any, queue: str) -> tuple[str, list[str]]:
        """kombu's filesystem transport: one file per message, named
        ``<ms>_<uuid>.<queue>.msg``; workers take them in name order."""
        import os
        folder = conn.transport_options.get("data_folder_in", "data_in")
        wanted = f"{queue}.msg"
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            names = []
        return folder, [n for n in names if n.partition(".")[2] == wanted]

    def _fs_messages(self, conn: Any, queue: str,
                     bound: int) -> Iterable[tuple[QueuedMessage, str]]:
        import os
        folder, names = self._fs_files(conn, queue)
        position = 0
        for name in names[:bound]:
            try:
                with open(os.path.join(folder, name), "rb") as handle:
                    raw = handle.read()
            except OSError:  # a worker took it meanwhile
                continue
            yield decode_redis(position, raw), name  # the same JSON envelope
            position += 1

    def _fs_operate(self, conn: Any, result: SurgeryResult, match: RowFilter | None,
                    progress: Progress | None) -> None:
        """Remove is unlink, move is rename (same name, the destination's
        queue): each atomic, so a file is in one queue or gone, never both."""
        import os
        folder, names = self._fs_files(conn, result.queue)
        total = len(names)
        for message, name in self._fs_messages(conn, result.queue, REDIS_WINDOW):
            result.examined += 1
            if not matches(match, message):
                result.kept += 1
                continue
            result.by_name[message.label] = result.by_name.get(message.label, 0) + 1
            path = os.path.join(folder, name)
            try:
                if result.destination:
                    stem = name.partition(".")[0]
                    os.rename(path, os.path.join(folder,
                                                 f"{stem}.{result.destination}.msg"))
                    result.moved += 1
                else:
                    os.remove(path)
                    result.removed += 1
                    if message.id:
                        result.removed_ids.append(message.id)
            except FileNotFoundError:
                result.gone += 1
            if progress and result.examined % self.batch == 0:
                progress(result.examined, total)
        result.complete = True

    # ---------------------------------------------------------------- AMQP
    def _amqp_peek(self, conn: Any, queue: str,
                   bound: int) -> Iterable[tuple[QueuedMessage, Any]]:
        """The first ``bound`` messages by ``basic.get``, never acknowledged:
        closing the channel gives them all back to their places."""
        channel = conn.connection.channel()
        try:
            for position in range(bound):
                raw = channel.basic_get(queue, no_ack=False)
                if raw is None:
                    break
                yield _amqp_message(position, raw), raw
        finally:
            _close(channel)

    def _amqp_operate(self, conn: Any, result: SurgeryResult, match: RowFilter | None,
                      progress: Progress | None) -> None:
        raw_conn = conn.connection
        counter = raw_conn.channel()
        try:
            total = int(counter.queue_declare(result.queue, passive=True).message_count)
        finally:
            _close(counter)
        pass_ = _AmqpPass(raw_conn, result, match, self.batch, progress, total)
        pass_.run()

    def _amqp_held(self, conn: Any, queue: str) -> Held:
        """Tasks the workers reserved or scheduled from this queue, by asking
        them (RabbitMQ keeps no list of what each consumer holds)."""
        app = self.target.app
        routing_keys = {queue}
        try:
            routing_keys.add(app.amqp.queues[queue].routing_key)
        except Exception:  # a queue the app does not define
            pass
        destination, limit = pidbox_scope(self.workers or ())
        inspect = app.control.inspect(timeout=1.0, connection=conn,
                                      destination=destination, limit=limit)
        tasks = []
        replied = 0
        for method in ("reserved", "scheduled"):
            replies = getattr(inspect, method)() or {}
            replied = max(replied, len(replies))
            for worker, entries in replies.items():
                for entry in entries or ():
                    request = entry.get("request", entry) if isinstance(entry, dict) else {}
                    info = request.get("delivery_info") or {}
                    if info.get("routing_key") not in routing_keys:
                        continue
                    tasks.append(HeldTask(str(request.get("id")),
                                          str(request.get("name") or ""), str(worker),
                                          str(request.get("args", "")),
                                          str(request.get("kwargs", ""))))
        complete = limit is None or replied >= limit
        return Held(tuple(tasks), "inspect reserved and scheduled", complete=complete)

    def _held(self, conn: Any, queue: str) -> Held:
        try:
            kind = conn.transport.driver_type
            if kind == "redis":
                return self._redis_held(conn, queue)
            # RabbitMQ keeps no list of what each consumer holds, and a
            # filesystem worker moves the file out: ask the workers.
            return self._amqp_held(conn, queue)
        except Exception as exc:
            log.info("could not read what workers hold of %s", queue, exc_info=True)
            return Held(error=self._scrub(exc), complete=False)


class _AmqpPass:
    """One pass of a selective purge or move over a RabbitMQ queue."""

    def __init__(self, conn: Any, result: SurgeryResult, match: RowFilter | None,
                 batch: int, progress: Progress | None, total: int):
        self.conn = conn
        self.result = result
        self.match = match
        self.batch = batch
        self.progress = progress
        self.total = total
        self.channel = conn.channel()
        self.seq = 0
        # publish sequence -> (original delivery tag, "move"/"keep")
        self.pending: dict[int, tuple[int, str]] = {}
        self.returned: set[int] = set()
        self.failed: str | None = None
        self.unsettled = 0  # originals acked since the last round trip

    def run(self) -> None:

        import amqp

        channel = self.channel
        channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        channel.events["basic_return"].add(self._on_return)
        channel.basic_qos(0, self.batch, False)
        deliveries: list[Any] = []
        tag = channel.basic_consume(self.result.queue, callback=deliveries.append,
                                    no_ack=False)
        self._amqp = amqp
        last = time.monotonic()
        try:
            while self.result.examined < self.total and self.failed is None:
                if not deliveries:
                    try:
                        self.conn.drain_events(timeout=0.3)
                        last = time.monotonic()
                    except TimeoutError:
                        if self._empty():
                            break
                        if time.monotonic() - last > STALL:
                            # Messages wait but none comes to us: another
                            # consumer is exclusive or single-active.
                            self.failed = (f"no message delivered for {STALL:g} s while "
                                           "the queue holds some (an exclusive or "
                                           "single-active consumer?)")
                    continue
                while deliveries and self.result.examined < self.total:
                    self._handle(deliveries.pop(0))
                if len(self.pending) >= self.batch or not deliveries:
                    self._settle()
                if self.progress:
                    self.progress(self.result.examined, self.total)
            self._settle()
            self.result.complete = self.failed is None
            if self.failed:
                self.result.error = self.failed
            channel.basic_cancel(tag)
        except Exception:
            # Unsettled copies may be on the broker with their originals
            # not acknowledged yet: duplicates, never losses.
            self.result.duplicates += len(self.pending) + self.unsettled
            raise
        finally:
            # Deliveries not handled go back (closing requeues them).
            _close(channel)

    def _empty(self) -> bool:
        probe = self.conn.channel()
        try:
            return int(probe.queue_declare(self.result.queue, passive=True)
                       .message_count) == 0
        finally:
            _close(probe)

    def _handle(self, raw: Any) -> None:
        result = self.result
        message = _amqp_message(result.examined, raw)
        result.examined += 1
        tag = raw.delivery_info["delivery_tag"]
        if matches(self.match, message):
            result.by_name[message.label] = result.by_name.get(message.label, 0) + 1
            if result.destination is None:
                self.unsettled += 1
                self.channel.basic_ack(tag)  # removed: the only copy goes
                result.removed += 1
                if message.id:
                    result.removed_ids.append(message.id)
                return
            self._publish(raw, result.destination, tag, "move")
        else:
            self._publish(raw, result.queue, tag, "keep")

    def _publish(self, raw: Any, queue: str, tag: int, why: str) -> None:
        copy = self._amqp.Message(raw.body, **raw.properties)
        self.channel.basic_publish(copy, exchange="", routing_key=queue, mandatory=True)
        self.seq += 1
        self.pending[self.seq] = (tag, why)

    def _settle(self) -> None:
        """Wait for every outstanding confirm, then a round trip so the
        acknowledgements sent before it are known to have arrived."""
        deadline = time.monotonic() + 30
        while self.pending and self.failed is None:
            if time.monotonic() > deadline:
                self.failed = "the broker did not confirm the copies within 30 s"
                break
            try:
                self.conn.drain_events(timeout=1)
            except TimeoutError:  # a slow confirm (disk, quorum): wait on
                continue
        self.channel.basic_qos(0, self.batch, False)  # a synchronous round trip
        self.unsettled = 0

    def _on_ack(self, seq: int, multiple: bool) -> None:
        done = [s for s in self.pending if s <= seq] if multiple else [seq]
        for s in sorted(done):
            tag, why = self.pending.pop(s, (None, ""))
            if tag is None:
                continue
            if s in self.returned:
                # Unroutable (the queue went): the copy is not on the broker,
                # so the original stays unacknowledged and goes back.
                self.returned.discard(s)
                self.failed = "the broker returned a copy as unroutable: " \
                    "the destination queue is gone"
                continue
            self.unsettled += 1  # counted first: an ack that raises may not arrive
            self.channel.basic_ack(tag)
            if why == "move":
                self.result.moved += 1
            else:
                self.result.kept += 1

    def _on_nack(self, seq: int, multiple: bool) -> None:
        done = [s for s in self.pending if s <= seq] if multiple else [seq]
        for s in done:
            self.pending.pop(s, None)  # the original stays and goes back
        self.failed = "the broker refused a copy (nack)"

    def _on_return(self, exc: Any, exchange: str, routing_key: str, message: Any) -> None:
        # Confirms may come out of order, so which publish came back cannot
        # be told for sure: none of the pending originals is acknowledged
        # (they go back; copies that did land are counted as duplicates).
        self.returned.update(self.pending)
        self.failed = "the broker returned a copy as unroutable: the destination is gone"


def _amqp_message(position: int, raw: Any) -> QueuedMessage:
    properties = dict(raw.properties)
    headers = properties.get("application_headers") or {}
    return decode(position, raw.body, headers, properties,
                  properties.get("content_type"), properties.get("content_encoding"),
                  redelivered=bool(raw.delivery_info.get("redelivered")))


def _close(channel: Any) -> None:
    try:
        channel.close()
    except Exception as exc:  # the connection is already gone
        log.debug("closing a channel: %s", exc)
