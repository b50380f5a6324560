"""Redis Streams backend: events are stream entries ``{chunk, file}``."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as redis
from redis.exceptions import RedisError

from filefleet.core.errors import Unavailable
from filefleet.queue.base import REPLICATE_STREAM, EventQueue, ReplicateEvent


class RedisStreamsQueue(EventQueue):
    def __init__(self, url: str, stream: str = REPLICATE_STREAM) -> None:
        self.url = url
        self.stream = stream
        self.redis = redis.Redis.from_url(url, decode_responses=True)

    async def publish(self, events: Sequence[ReplicateEvent]) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.xadd(self.stream, {"chunk": event.chunk, "file": event.file})
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise Unavailable(f"queue {self.url}: {exc}") from exc

    async def close(self) -> None:
        await self.redis.aclose()
