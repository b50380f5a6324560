"""The event queue interface the frontend publishes to and the replicator consumes from.

Life of an event (both backends keep the same promises; ``tests/contract/test_queue.py``
checks them on Redis Streams, RabbitMQ and the embedded Redis):

    publish ──> queued ──consume──> in flight ──ack──> gone
                  ^                    │  │
                  │   retry(delay)     │  └─ consumer crashed: redelivered to another
                  └──── delayed <──────┘     consumer within ``claim_after`` (< 30 s)
                                       │
                                       └─ retry after >= 5 attempts over >= 1 min: dead letter

- ``consume`` hands out each event to one consumer of the group at a time.
- ``retry`` re-queues the event after ``delay`` seconds with one more attempt, unless the
  ``DeadLetterPolicy`` says it has failed long enough: then it goes to the dead letters
  (listed by ``dead_letters`` for ``filefleet status``) and ``retry`` returns True.
- An event is never lost between in flight and re-queued: each backend moves it
  atomically (Redis: MULTI; RabbitMQ: the delayed copy is confirmed before the ack). A
  crash in between can deliver it twice; replication is idempotent.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Sequence
from dataclasses import dataclass

REPLICATE_STREAM = "filefleet:replicate"


@dataclass(frozen=True, order=True)
class ReplicateEvent:
    """A chunk that was just stored once and should reach R replicas."""

    chunk: str
    file: str = ""


@dataclass(frozen=True)
class Delivery:
    """One event handed to a consumer; give it back to ``ack`` or ``retry``."""

    event: ReplicateEvent
    tag: str  # the backend's handle: stream entry id, or RabbitMQ delivery tag
    attempts: int = 1  # 1 on the first delivery; +1 per retry
    first_seen: float = 0.0  # epoch seconds of the first publish


@dataclass(frozen=True)
class DeadLetter:
    event: ReplicateEvent
    attempts: int
    first_seen: float
    failed_at: float
    reason: str


@dataclass(frozen=True)
class DeadLetterPolicy:
    """An event is dead only after ``attempts`` tries spread over at least ``min_age`` s."""

    attempts: int = 5
    min_age: float = 60.0

    def is_dead(self, delivery: Delivery, now: float | None = None) -> bool:
        age = (time.time() if now is None else now) - delivery.first_seen
        return delivery.attempts >= self.attempts and age >= self.min_age


class EventQueue(abc.ABC):
    name: str
    policy: DeadLetterPolicy

    @abc.abstractmethod
    async def publish(self, events: Sequence[ReplicateEvent]) -> None:
        """Publish events durably; raises Unavailable if the queue cannot take them."""

    @abc.abstractmethod
    async def consume(
        self, group: str, consumer: str, count: int = 10, block: float = 1.0
    ) -> list[Delivery]:
        """Up to ``count`` events for this consumer of ``group``, waiting up to ``block``
        seconds for the first one (an empty list when there is none: no busy loop)."""

    @abc.abstractmethod
    async def ack(self, delivery: Delivery) -> None:
        """The event is done; it will not be delivered again."""

    @abc.abstractmethod
    async def retry(self, delivery: Delivery, delay: float, reason: str) -> bool:
        """Re-queue the event after ``delay`` s, or dead-letter it (returns True)."""

    @abc.abstractmethod
    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters, without consuming them."""

    @abc.abstractmethod
    async def purge(self) -> None:
        """Delete every stream/queue of this name (tests, and an operator's reset)."""

    @abc.abstractmethod
    async def close(self) -> None: ...
