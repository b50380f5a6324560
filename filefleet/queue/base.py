"""The event queue interface the frontend publishes to and the replicator consumes from."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

REPLICATE_STREAM = "filefleet:replicate"


@dataclass(frozen=True)
class ReplicateEvent:
    """A chunk that was just stored once and should reach R replicas."""

    chunk: str
    file: str = ""


class EventQueue(abc.ABC):
    @abc.abstractmethod
    async def publish(self, events: Sequence[ReplicateEvent]) -> None:
        """Publish events durably; raises Unavailable if the queue cannot take them."""

    @abc.abstractmethod
    async def close(self) -> None: ...
