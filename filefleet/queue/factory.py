"""Choose the queue backend from its URL.

``redis://host:port/db``, ``rediss://...`` and ``unix:///path.sock`` are Redis Streams;
``amqp://user:pass@host/vhost`` (or ``amqps://``) is RabbitMQ. A ``name`` query parameter
names the stream/queue (default ``filefleet:replicate``), so several clusters can share
one server: ``redis://127.0.0.1:6379/0?name=team-a``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from filefleet.core.errors import InvalidInput
from filefleet.queue.base import REPLICATE_STREAM, EventQueue
from filefleet.queue.dead_letters import DeadLetterPolicy


def split_name(url: str) -> tuple[str, str]:
    """(the URL without its ``name`` parameter, the queue name)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    names = [v for k, v in query if k == "name"]
    rest = urlencode([(k, v) for k, v in query if k != "name"])
    return urlunsplit(parts._replace(query=rest)), (names[-1] if names else REPLICATE_STREAM)


def open_queue(
    url: str, policy: DeadLetterPolicy | None = None, *, claim_after: float = 15.0
) -> EventQueue:
    bare, name = split_name(url)
    if not name:
        raise InvalidInput("the queue URL's name parameter is empty")
    if url.startswith(("redis://", "rediss://", "unix://")):
        from filefleet.queue.redis_streams import RedisStreamsQueue

        return RedisStreamsQueue(bare, name, policy=policy, claim_after=claim_after)
    if url.startswith(("amqp://", "amqps://")):
        from filefleet.queue.rabbitmq import RabbitQueue

        return RabbitQueue(bare, name, policy=policy)
    raise InvalidInput(f"unsupported queue URL {url!r}: use redis://, unix:// or amqp://")
