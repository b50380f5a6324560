"""The event worker: consume chunk-replicate events and bring each chunk to R.

One pass (``run_once``) takes up to ``batch`` events (waiting up to ``block`` seconds for
the first, so an idle worker does not spin) and brings their chunks to R together
(``ChunkCopier.replicate_many``: one controller lookup, a few node-to-node copies at a
time, one call recording every copy made); then each event is settled:
- the chunk reached R (or needs nothing any more): ack;
- else: ``retry`` with a delay growing per attempt (1 s, 2 s, 4 s ... up to 30 s); the queue
  dead-letters it once it failed at least 5 times over at least a minute.
An event is acked only after the controller lists the copies, so a worker that dies
mid-copy leaves it unacked and the queue hands it to another worker (DESIGN §7).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass

from filefleet.core.errors import FilefleetError
from filefleet.queue.base import EventQueue
from filefleet.queue.events import Delivery
from filefleet.replicator.copy import ChunkCopier, Outcome
from filefleet.runtime.service import Service

log = logging.getLogger(__name__)

GROUP = "replicators"
RETRY_BASE = 1.0
RETRY_MAX = 30.0
QUEUE_DOWN_PAUSE = 2.0


def retry_delay(attempts: int) -> float:
    """Seconds before a failed event comes back: doubling from 1 s, at most 30 s."""
    return float(min(RETRY_MAX, RETRY_BASE * 2.0 ** max(0, attempts - 1)))


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class EventCounters:
    received: int = 0
    acked: int = 0
    retried: int = 0  # events re-queued with a delay
    dead_lettered: int = 0


class EventWorker(Service):
    name = "replicate-events"

    def __init__(
        self,
        queue: EventQueue,
        copier: ChunkCopier,
        *,
        consumer: str | None = None,
        batch: int = 32,
        block: float = 1.0,
    ) -> None:
        super().__init__(interval=0.0)
        self.queue = queue
        self.copier = copier
        self.consumer = consumer or consumer_name()
        self.batch = batch
        self.block = block
        self.counters = EventCounters()

    async def run_once(self) -> dict[str, int]:
        try:
            deliveries = await self.queue.consume(GROUP, self.consumer, self.batch, self.block)
        except FilefleetError as exc:
            log.warning("queue unavailable: %s; trying again in %.0fs", exc.message,
                        QUEUE_DOWN_PAUSE)  # fmt: skip
            self.interval = QUEUE_DOWN_PAUSE
            return {}
        self.interval = 0.0
        self.counters.received += len(deliveries)
        outcomes = await self._replicate(deliveries)
        results = await asyncio.gather(
            *(self._settle(d, outcomes[d.event.chunk]) for d in deliveries)
        )
        return {
            "events": len(deliveries),
            "acked": sum(r == "acked" for r in results),
            "retried": sum(r == "retried" for r in results),
            "dead": sum(r == "dead" for r in results),
        }

    async def _settle(self, delivery: Delivery, outcome: Outcome) -> str:
        try:
            if outcome.done:
                await self.queue.ack(delivery)
                self.counters.acked += 1
                return "acked"
            return await self._retry(delivery, outcome.reason)
        except FilefleetError as exc:
            # Not acked: the queue redelivers it (to us or another worker) later.
            log.warning("queue: could not settle event %s: %s", delivery.tag, exc.message)
            return "unsettled"

    async def _replicate(self, deliveries: list[Delivery]) -> dict[str, Outcome]:
        chunks = [d.event.chunk for d in deliveries]
        try:
            return await self.copier.replicate_many(chunks)
        except FilefleetError as exc:
            return dict.fromkeys(chunks, Outcome(False, reason=exc.message))

    async def _retry(self, delivery: Delivery, reason: str) -> str:
        delay = retry_delay(delivery.attempts)
        dead = await self.queue.retry(delivery, delay, reason)
        if dead:
            self.counters.dead_lettered += 1
            log.error("chunk %s dead-lettered after %d attempts: %s",
                      delivery.event.chunk, delivery.attempts, reason)  # fmt: skip
            return "dead"
        self.counters.retried += 1
        log.info("chunk %s not at R yet (%s); again in %.0fs", delivery.event.chunk, reason, delay)
        return "retried"
