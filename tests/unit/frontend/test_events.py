"""Replicate events go out as chunks are recorded, in batches, once each, bounded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import cast

import pytest

from filefleet.core.errors import Unavailable
from filefleet.frontend import events as events_module
from filefleet.frontend.events import ReplicateEvents
from filefleet.queue.base import EventQueue
from filefleet.queue.events import ReplicateEvent


class Queue:
    """Records what was published; can be made to fail or to hang."""

    def __init__(self, *, fail: bool = False, hang: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail
        self.hang = hang
        self.gate = asyncio.Event()

    async def publish(self, events: Sequence[ReplicateEvent]) -> None:
        if self.hang:
            await asyncio.Event().wait()
        if self.fail:
            raise Unavailable("queue down")
        await self.gate.wait()
        self.batches.append([e.chunk for e in events])


def publisher(queue: Queue) -> ReplicateEvents:
    return ReplicateEvents(cast(EventQueue, queue), "F" * 24)


async def test_chunks_go_out_as_recorded_batched_while_a_publish_is_under_way() -> None:
    queue = Queue()
    events = publisher(queue)
    events.recorded(["a", "b"])
    await asyncio.sleep(0)  # the first publish has begun: it waits at the gate
    events.recorded(["c"])
    events.recorded(["d", "a"])  # "a" is on its way already
    queue.gate.set()
    await events.finish(["a", "b", "c", "d", "e"])
    assert queue.batches == [["a", "b"], ["c", "d", "e"]]
    assert events.failures == 0


async def test_a_queue_that_is_down_costs_nothing_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = publisher(Queue(fail=True))
    events.recorded(["a"])
    await asyncio.sleep(0)
    events.recorded(["b"])
    await events.finish(["a", "b", "c"])
    assert events.failures == 2  # left to the periodic repair
    assert [r.levelname for r in caplog.records] == ["WARNING"]  # logged once


async def test_a_queue_that_hangs_holds_the_answer_at_most_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events_module, "PUBLISH_TIMEOUT", 0.2)
    events = publisher(Queue(hang=True))
    events.recorded(["a"])
    started = time.monotonic()
    await events.finish(["a", "b"])
    assert time.monotonic() - started < 0.5
    assert events.failures >= 1


async def test_without_a_queue_nothing_is_sent() -> None:
    events = ReplicateEvents(None, "F" * 24)
    events.recorded(["a"])
    await events.finish(["b"])
    assert events.failures == 0
