"""RabbitMQ backend (aio-pika): durable queues, manual acks, a dead-letter exchange.

Queues, for a queue named ``N`` (default ``filefleet:replicate``), all durable, on the
default exchange:
- ``N``: the work queue. Consumers of one group compete for its messages (RabbitMQ's own
  consumer group); each is acknowledged by hand, so the messages of a consumer whose
  connection dies are requeued by the broker at once. Its dead-letter exchange routes a
  rejected message to ``N.dead``.
- ``N.delay``: re-queued events wait here with a per-message expiration; when it runs out
  the broker dead-letters them back into ``N`` (the usual TTL + DLX delayed retry). A
  message expires only at the head of the queue, so a long delay can hold up a shorter
  one behind it: the worker's delays grow slowly, and the wait is only longer, never lost.
- ``N.dead``: dead letters, headers ``x-attempts``, ``x-first-seen``, ``x-reason``.

Messages are persistent and published with confirms; a retry publishes the delayed copy
(confirmed) before it acks the original, so a crash in between delivers it twice, never
zero times.

A lost connection (the broker restarted, the network cut) is noticed by the next call,
which fails as Unavailable; the call after it connects again, declares the queues and,
for a consumer, consumes again. The broker has requeued the messages that were in
flight on the dead channel: a delivery handed out before is stale (its tag names the old
channel's generation, so it can never ack a message of the new one), and acking it does
nothing; the message comes again (replication is idempotent). aio-pika's own "robust"
reconnection is not used: it reconnects on a timer, in the background, while calls in
between fail with errors of their own, so that a call after the broker is back could
still fail for seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractQueue,
)
from aiormq.exceptions import AMQPError

from filefleet.core.errors import Unavailable
from filefleet.queue.base import REPLICATE_STREAM, EventQueue
from filefleet.queue.dead_letters import DeadLetter, DeadLetterPolicy
from filefleet.queue.events import Delivery, ReplicateEvent

CONNECT_TIMEOUT = 5.0  # seconds to connect to the broker
PUBLISH_TIMEOUT = 5.0  # seconds for the broker to confirm one message


class RabbitQueue(EventQueue):
    def __init__(
        self,
        url: str,
        name: str = REPLICATE_STREAM,
        *,
        policy: DeadLetterPolicy | None = None,
        prefetch: int = 16,
    ) -> None:
        self.url = url
        self.name = name
        self.policy = policy or DeadLetterPolicy()
        self.prefetch = prefetch
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._work: AbstractQueue | None = None
        self._generation = 0  # +1 per channel opened: part of every delivery's tag
        self._inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._in_flight: dict[str, AbstractIncomingMessage] = {}
        self._consuming = False
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def _translated(self) -> AsyncIterator[None]:
        """aio-pika's and aiormq's errors become Unavailable; they report a closed
        connection or channel as RuntimeError (ChannelInvalidStateError among them), and
        a broker that does not answer in time as TimeoutError (an OSError)."""
        try:
            yield
        except (AMQPError, aio_pika.exceptions.AMQPException, OSError, RuntimeError) as exc:
            raise Unavailable(f"queue {self.name}: {type(exc).__name__}: {exc}") from exc

    async def _open(self) -> AbstractChannel:
        """The channel, with the queues declared; a new connection and channel if the last
        ones were lost (a stale generation's deliveries are forgotten: the broker has
        requeued them)."""
        async with self._lock:
            if self._channel is None or self._channel.is_closed:
                await self._disconnect()
                self._connection = await aio_pika.connect(self.url, timeout=CONNECT_TIMEOUT)
                channel = await self._connection.channel(publisher_confirms=True)
                await channel.set_qos(prefetch_count=self.prefetch)
                self._work = await channel.declare_queue(
                    self.name,
                    durable=True,
                    arguments={
                        "x-dead-letter-exchange": "",
                        "x-dead-letter-routing-key": f"{self.name}.dead",
                    },
                )
                await channel.declare_queue(
                    f"{self.name}.delay",
                    durable=True,
                    arguments={
                        "x-dead-letter-exchange": "",
                        "x-dead-letter-routing-key": self.name,
                    },
                )
                await channel.declare_queue(f"{self.name}.dead", durable=True)
                self._channel = channel
                self._generation += 1
                self._inbox = asyncio.Queue()
                self._in_flight.clear()
                self._consuming = False
            return self._channel

    async def _disconnect(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(Exception):  # it is being dropped for being broken
                await asyncio.wait_for(connection.close(), CONNECT_TIMEOUT)

    async def _send(
        self, routing_key: str, event: ReplicateEvent, headers: dict[str, Any], **kw: Any
    ) -> None:
        channel = await self._open()
        body = json.dumps({"chunk": event.chunk, "file": event.file}).encode()
        message = aio_pika.Message(
            body,
            headers=headers,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            content_type="application/json",
            **kw,
        )
        await channel.default_exchange.publish(
            message, routing_key=routing_key, timeout=PUBLISH_TIMEOUT
        )

    async def publish(self, events: Sequence[ReplicateEvent]) -> None:
        headers = {"x-attempts": 1, "x-first-seen": str(time.time())}
        async with self._translated():
            await asyncio.gather(*(self._send(self.name, e, headers) for e in events))

    async def consume(
        self, group: str, consumer: str, count: int = 10, block: float = 1.0
    ) -> list[Delivery]:
        async with self._translated():
            await self._open()
            if not self._consuming:
                assert self._work is not None
                await self._work.consume(self._inbox.put, no_ack=False, consumer_tag=consumer)
                self._consuming = True
            generation = self._generation
            messages: list[AbstractIncomingMessage] = []
            with contextlib.suppress(TimeoutError):
                messages.append(await asyncio.wait_for(self._inbox.get(), timeout=block))
            while len(messages) < count and not self._inbox.empty():
                messages.append(self._inbox.get_nowait())
            deliveries = []
            for message in messages:
                delivery = _delivery(message, generation)
                if delivery is None:  # not one of ours: to the dead letters through the DLX
                    await message.reject(requeue=False)
                    continue
                self._in_flight[delivery.tag] = message
                deliveries.append(delivery)
        return deliveries

    async def ack(self, delivery: Delivery) -> None:
        message = self._in_flight.pop(delivery.tag, None)
        if message is not None:
            async with self._translated():
                await message.ack()

    async def retry(self, delivery: Delivery, delay: float, reason: str) -> bool:
        dead = self.policy.is_dead(delivery)
        headers: dict[str, Any] = {"x-first-seen": str(delivery.first_seen)}
        async with self._translated():
            # Order: the copy is confirmed first, then the original acked (see the top).
            if dead:
                headers.update(
                    {
                        "x-attempts": delivery.attempts,
                        "x-failed-at": str(time.time()),
                        "x-reason": reason[:500],
                    }
                )
                await self._send(f"{self.name}.dead", delivery.event, headers)
            else:
                headers["x-attempts"] = delivery.attempts + 1
                expiration = max(1, int(delay * 1000)) / 1000
                await self._send(
                    f"{self.name}.delay", delivery.event, headers, expiration=expiration
                )
            await self.ack(delivery)
        return dead

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Read without consuming: get unacknowledged on a channel of its own, then close
        it, which puts every message back."""
        async with self._translated():
            await self._open()
            assert self._connection is not None
            channel = await self._connection.channel()
            try:
                queue = await channel.declare_queue(f"{self.name}.dead", durable=True)
                found: list[DeadLetter] = []
                while len(found) < limit:
                    message = await queue.get(no_ack=False, fail=False)
                    if message is None:
                        break
                    found.append(_dead_letter(message))
            finally:
                await channel.close()
        found.sort(key=lambda d: d.failed_at, reverse=True)
        return found

    async def purge(self) -> None:
        async with self._translated():
            await self._open()
            assert self._connection is not None
            channel = await self._connection.channel()
            try:
                for suffix in ("", ".delay", ".dead"):
                    await channel.queue_delete(self.name + suffix)
            finally:
                await channel.close()
        await self._disconnect()  # our consumer went with the queue: start afresh

    async def close(self) -> None:
        await self._disconnect()


def _header(message: AbstractIncomingMessage, key: str, default: str = "") -> str:
    value = (message.headers or {}).get(key, default)
    return value.decode() if isinstance(value, bytes) else str(value)


def _event(message: AbstractIncomingMessage) -> ReplicateEvent | None:
    try:
        body = json.loads(message.body)
        return ReplicateEvent(chunk=str(body["chunk"]), file=str(body.get("file", "")))
    except (ValueError, KeyError, TypeError):
        return None


def _delivery(message: AbstractIncomingMessage, generation: int) -> Delivery | None:
    event = _event(message)
    if event is None or message.delivery_tag is None:
        return None
    return Delivery(
        event=event,
        tag=f"{generation}.{message.delivery_tag}",  # delivery tags count per channel
        attempts=int(_header(message, "x-attempts", "1")),
        first_seen=float(_header(message, "x-first-seen", "0") or 0),
    )


def _dead_letter(message: AbstractIncomingMessage) -> DeadLetter:
    event = _event(message) or ReplicateEvent(chunk="?", file="")
    reason = _header(message, "x-reason") or "rejected: not a replicate event"
    return DeadLetter(
        event=event,
        attempts=int(_header(message, "x-attempts", "0")),
        first_seen=float(_header(message, "x-first-seen", "0") or 0),
        failed_at=float(_header(message, "x-failed-at", "0") or 0),
        reason=reason,
    )
