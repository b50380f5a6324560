"""Redis Streams backend.

Keys, for a queue named ``N`` (default ``filefleet:replicate``):
- ``N``: the stream; entries ``{chunk, file, attempts, first}``; one consumer group per
  kind of consumer (the replicators share ``replicators``);
- ``N:delayed``: a sorted set of events waiting to be re-queued, scored by due time;
  ``consume`` moves the due ones back into the stream with one Lua script (atomic, so two
  consumers never promote the same event twice);
- ``N:dead``: a stream of dead letters with their reason.

A consumer that dies keeps its entries pending in the group; ``consume`` takes over
entries idle for longer than ``claim_after`` (XAUTOCLAIM), so they are redelivered to a
live consumer within that time. Acknowledged entries are deleted (XACK + XDEL in one
MULTI), so the stream holds only work that is not done.

A restart of Redis costs the calls made while it is down (Unavailable, at once: the
connection is refused); the next call connects again. With the append-only file on, the
stream, its groups and their pending entries are as they were; without it they are
gone, and ``consume`` creates the group again (NOGROUP) while the periodic repair finds
what the lost events would have triggered.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError, ResponseError

from filefleet.core.errors import Unavailable
from filefleet.queue.base import REPLICATE_STREAM, EventQueue
from filefleet.queue.dead_letters import DeadLetter, DeadLetterPolicy
from filefleet.queue.events import Delivery, ReplicateEvent

DEAD_MAXLEN = 10_000
# A Redis that is down refuses at once; one that does not answer (hung, or its packets
# dropped) must not hold a call forever. The read timeout outlasts the longest blocking
# read a consumer asks for (``block``, a second).
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0

_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local e = cjson.decode(member)
  redis.call('XADD', KEYS[2], '*', 'chunk', e.chunk, 'file', e.file,
             'attempts', tostring(e.attempts), 'first', tostring(e.first))
  redis.call('ZREM', KEYS[1], member)
end
return #due
"""


class RedisStreamsQueue(EventQueue):
    def __init__(
        self,
        url: str,
        name: str = REPLICATE_STREAM,
        *,
        policy: DeadLetterPolicy | None = None,
        claim_after: float = 15.0,
    ) -> None:
        self.url = url
        self.name = name
        self.policy = policy or DeadLetterPolicy()
        self.claim_after = claim_after
        self.delayed = f"{name}:delayed"
        self.dead = f"{name}:dead"
        self.redis = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=READ_TIMEOUT,
        )
        self._promote = self.redis.register_script(_PROMOTE)
        self._groups: set[str] = set()

    @contextlib.asynccontextmanager
    async def _translated(self) -> AsyncIterator[None]:
        try:
            yield
        except (RedisError, OSError) as exc:
            raise Unavailable(f"queue {self.url}: {type(exc).__name__}: {exc}") from exc

    async def publish(self, events: Sequence[ReplicateEvent]) -> None:
        first = str(time.time())
        async with self._translated(), self.redis.pipeline(transaction=False) as pipe:
            for event in events:
                fields: dict[Any, Any] = {"chunk": event.chunk, "file": event.file}
                pipe.xadd(self.name, {**fields, "attempts": "1", "first": first})
            await pipe.execute()

    async def _ensure_group(self, group: str) -> None:
        if group in self._groups:
            return
        try:
            await self.redis.xgroup_create(self.name, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add(group)

    async def consume(
        self, group: str, consumer: str, count: int = 10, block: float = 1.0
    ) -> list[Delivery]:
        if not 0 < block < READ_TIMEOUT:  # a longer block would end as a read timeout
            raise ValueError(f"block must be between 0 and {READ_TIMEOUT} seconds, not {block}")
        async with self._translated():
            try:
                return await self._consume(group, consumer, count, block)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self._groups.discard(group)  # the stream was deleted under us: recreate
                return await self._consume(group, consumer, count, block)

    async def _consume(self, group: str, consumer: str, count: int, block: float) -> list[Delivery]:
        await self._ensure_group(group)
        await self._promote(keys=[self.delayed, self.name], args=[time.time(), count * 10])
        claimed = await self.redis.xautoclaim(
            self.name, group, consumer, int(self.claim_after * 1000), "0-0", count=count
        )
        entries: list[tuple[str, dict[str, str]]] = [e for e in claimed[1] if e and e[1]]
        if len(entries) < count:
            wait = None if entries else max(1, int(block * 1000))
            answer: Any = await self.redis.xreadgroup(
                group, consumer, {self.name: ">"}, count=count - len(entries), block=wait
            )
            for _stream, items in answer or []:
                entries += items
        return [_delivery(tag, fields) for tag, fields in entries]

    async def ack(self, delivery: Delivery) -> None:
        async with self._translated(), self.redis.pipeline(transaction=True) as pipe:
            await self._drop(pipe, delivery).execute()

    def _drop(self, pipe: Any, delivery: Delivery) -> Any:
        for group in self._groups:
            pipe.xack(self.name, group, delivery.tag)
        return pipe.xdel(self.name, delivery.tag)

    async def retry(self, delivery: Delivery, delay: float, reason: str) -> bool:
        dead = self.policy.is_dead(delivery)
        now = time.time()
        # One MULTI: the event is re-queued (or dead) and dropped from the stream together.
        async with self._translated(), self.redis.pipeline(transaction=True) as pipe:
            if dead:
                pipe.xadd(
                    self.dead,
                    {
                        "chunk": delivery.event.chunk,
                        "file": delivery.event.file,
                        "attempts": str(delivery.attempts),
                        "first": str(delivery.first_seen),
                        "failed_at": str(now),
                        "reason": reason[:500],
                    },
                    maxlen=DEAD_MAXLEN,
                    approximate=True,
                )
            else:
                member = json.dumps(
                    {
                        "chunk": delivery.event.chunk,
                        "file": delivery.event.file,
                        "attempts": delivery.attempts + 1,
                        "first": delivery.first_seen,
                        "tag": delivery.tag,
                    }
                )
                pipe.zadd(self.delayed, {member: now + max(0.0, delay)})
            await self._drop(pipe, delivery).execute()
        return dead

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        async with self._translated():
            entries: Any = await self.redis.xrevrange(self.dead, count=limit)
        return [_dead_letter(fields) for _tag, fields in entries or []]

    async def purge(self) -> None:
        async with self._translated():
            await self.redis.delete(self.name, self.delayed, self.dead)
        self._groups.clear()

    async def close(self) -> None:
        await self.redis.aclose()


def _delivery(tag: str, fields: dict[str, str]) -> Delivery:
    return Delivery(
        event=ReplicateEvent(chunk=fields.get("chunk", ""), file=fields.get("file", "")),
        tag=tag,
        attempts=int(fields.get("attempts", 1)),
        first_seen=float(fields.get("first", 0) or 0),
    )


def _dead_letter(fields: dict[str, str]) -> DeadLetter:
    return DeadLetter(
        event=ReplicateEvent(chunk=fields.get("chunk", ""), file=fields.get("file", "")),
        attempts=int(fields.get("attempts", 0)),
        first_seen=float(fields.get("first", 0)),
        failed_at=float(fields.get("failed_at", 0)),
        reason=fields.get("reason", ""),
    )
