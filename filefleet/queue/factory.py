"""Choose the queue backend from its URL."""

from __future__ import annotations

from filefleet.core.errors import InvalidInput
from filefleet.queue.base import EventQueue


def open_queue(url: str) -> EventQueue:
    """``redis://host:port/db`` and ``unix:///path.sock`` are Redis Streams."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        from filefleet.queue.redis_streams import RedisStreamsQueue

        return RedisStreamsQueue(url)
    raise InvalidInput(f"unsupported queue URL {url!r}: use redis://, unix:// or amqp://")
