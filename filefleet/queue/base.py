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
  (``dead_letters.py``; listed by ``dead_letters`` for ``filefleet status``) and
  ``retry`` returns True.
- An event is never lost between in flight and re-queued: each backend moves it
  atomically (Redis: MULTI; RabbitMQ: the delayed copy is confirmed before the ack). A
  crash in between can deliver it twice; replication is idempotent.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from filefleet.queue.dead_letters import DeadLetter, DeadLetterPolicy
from filefleet.queue.events import Delivery, ReplicateEvent

REPLICATE_STREAM = "filefleet:replicate"


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
