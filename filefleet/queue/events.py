"""What travels on the queue: a replicate event, and one delivery of it to a consumer."""

from __future__ import annotations

from dataclasses import dataclass


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
