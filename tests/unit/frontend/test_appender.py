"""Batching appends: a batch waits for more refs up to the linger, unless every caller that
waits for its append (the chunk API's requests) is already waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, cast

from filefleet.core.models import ChunkRef
from filefleet.frontend.appender import ChunkAppender
from filefleet.http.controller_api import ControllerClient


class Recording:
    """Stands in for the controller's append call: records each batch it is sent."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def append_chunks(self, file_id: str, chunks: Sequence[ChunkRef]) -> Any:
        self.batches.append([c.order for c in chunks])


def ref(order: int) -> ChunkRef:
    return ChunkRef(id=f"{order:064x}", order=order, size=1)


def appender(recording: Recording, linger: float) -> ChunkAppender:
    return ChunkAppender(cast(ControllerClient, recording), "f" * 24, linger=linger)


async def test_plain_callers_are_batched_for_the_linger() -> None:
    recording = Recording()
    chunks = appender(recording, linger=0.2)
    start = time.monotonic()
    await asyncio.gather(*(chunks.append(ref(n)) for n in range(3)))
    assert recording.batches == [[0, 1, 2]]
    assert time.monotonic() - start >= 0.2


async def test_once_every_taking_part_caller_waits_the_batch_goes_at_once() -> None:
    recording = Recording()
    chunks = appender(recording, linger=5.0)

    async def request(order: int) -> None:
        with chunks.taking_part():
            await asyncio.sleep(0.01 * order)  # the bodies arrive one after the other
            await chunks.append(ref(order))

    start = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(request(n) for n in range(3))), 2.0)
    assert recording.batches == [[0, 1, 2]]  # all three, and without the 5 s linger
    assert time.monotonic() - start < 2.0


async def test_a_caller_that_leaves_without_appending_does_not_hold_the_batch() -> None:
    recording = Recording()
    chunks = appender(recording, linger=5.0)

    async def appends() -> None:
        with chunks.taking_part():
            await chunks.append(ref(0))

    async def fails() -> None:
        with chunks.taking_part():
            await asyncio.sleep(0.05)  # e.g. a wrong hash: it never appends

    await asyncio.wait_for(asyncio.gather(appends(), fails()), 2.0)
    assert recording.batches == [[0]]


async def test_after_last_ones_the_rest_goes_without_lingering() -> None:
    """The end of an upload: its last appends are sent at once, not after the linger."""
    recording = Recording()
    chunks = appender(recording, linger=5.0)
    first = asyncio.ensure_future(chunks.append(ref(0)))
    await asyncio.sleep(0.01)  # waiting in the batch, lingering
    chunks.last_ones()
    last = chunks.append(ref(1))
    await asyncio.wait_for(asyncio.gather(first, last), 2.0)
    assert [n for batch in recording.batches for n in batch] == [0, 1]


async def test_an_append_alone_goes_at_once_in_a_call_of_its_own() -> None:
    """A chunk stored again after it met the GC's mark: neither lingers nor shares a batch
    another chunk's mark could fail."""
    recording = Recording()
    chunks = appender(recording, linger=5.0)
    batched = asyncio.create_task(chunks.append(ref(0)))
    await asyncio.sleep(0)
    start = time.monotonic()
    await chunks.append(ref(1), alone=True)
    assert time.monotonic() - start < 1.0
    assert recording.batches == [[1]]  # the batched one still lingers
    batched.cancel()
    chunks.close()
