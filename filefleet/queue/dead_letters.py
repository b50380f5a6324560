"""Dead letters: where an event that keeps failing ends, and when.

The replicator retries an event it cannot finish (no holder alive, no node with room)
with a growing delay (``replicator/worker.py``); each retry is one more attempt. Once an
event has had ``DeadLetterPolicy.attempts`` attempts spread over at least ``min_age``
seconds, the queue moves it to the dead letters instead of re-queuing it: the ``N:dead``
stream on Redis (``redis_streams.py``), the ``N.dead`` queue on RabbitMQ
(``rabbitmq.py``), each entry with its attempts, first and last failure, and the reason.
``filefleet status`` lists the newest (``EventQueue.dead_letters``). A dead letter is a
signal for the operator, not a lost chunk: the replicator's periodic repair keeps trying
the chunk regardless (DESIGN §7).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from filefleet.queue.events import Delivery, ReplicateEvent


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
