"""Appending stored chunks to a file's record, many per controller call.

A chunk task calls ``append(ref)`` once its chunk is on a node and waits for the answer;
its buffer is already free by then (the bytes are on the node). The appender gathers refs
for up to ``linger`` seconds (or until ``max_batch`` are waiting) and sends them in one
``POST /file/{id}``, so an upload costs the controller a few calls per second instead of
one per chunk. A chunk counts as appended only after the controller confirmed it, and the
upload is made active only after every append is confirmed.

A batch is all or nothing on the controller: if any chunk in it is being collected, the
controller clears the mark, appends nothing and answers 409 (``ChunkCollecting``), and
every chunk task of the batch stores its chunk again and appends again (DESIGN §8).

An upload whose body has ended says so (``last_ones``): its last chunks' appends then go
out without lingering, so the answer is not held up at the end. A file of one chunk has
nothing to batch: its append also finishes the upload (``append_finishing``).

``append`` returns once its chunk is recorded, and that is all it tells: what follows
(the chunk's replicate event) is its caller's next step (``upload.py``).

When the callers are requests that each wait for their append before they answer (the
chunk API), lingering past the moment every one of them is waiting gains nothing: no
other chunk can arrive until one of them is answered. Such callers wrap their work, from
before their body is read until their append is answered, in ``taking_part()``: the
batch goes out as soon as all of them are waiting, so a chunk that is stored while
others are still arriving waits for them (up to the linger) and one call records them all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from filefleet.core.models import ChunkRef, FileUpdate
from filefleet.http.controller_api import ControllerClient

MAX_BATCH = 32
LINGER = 0.1


class ChunkAppender:
    def __init__(
        self,
        controller: ControllerClient,
        file_id: str,
        *,
        max_batch: int = MAX_BATCH,
        linger: float = LINGER,
    ) -> None:
        self.controller = controller
        self.file_id = file_id
        self.max_batch = max_batch
        self.linger = linger
        self._waiting: list[tuple[ChunkRef, asyncio.Future[None]]] = []
        self._full = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._taking_part = 0  # callers inside taking_part(): each will append or leave
        self._last = False  # no append will follow those waiting: no reason to linger
        self.calls = 0  # counter: controller calls made

    @contextlib.contextmanager
    def taking_part(self) -> Iterator[None]:
        """Around a caller that may append and waits for it: once every such caller is
        waiting, the batch is sent without lingering."""
        self._taking_part += 1
        try:
            yield
        finally:
            self._taking_part -= 1
            self._check_full()

    def last_ones(self) -> None:
        """No chunk is left to append beyond those on their way: the rest go out as soon
        as they are waiting (the end of an upload does not wait out a linger)."""
        self._last = True
        self._check_full()

    def _check_full(self) -> None:
        waiting = len(self._waiting)
        if waiting >= self.max_batch or (
            waiting and (self._last or waiting >= self._taking_part > 0)
        ):
            self._full.set()

    async def append(self, ref: ChunkRef, *, alone: bool = False) -> None:
        """Record ``ref``, batched with others; ``alone``: in a call of its own, at once
        (a chunk stored again after it met the GC's mark: no linger for the GC to mark it
        again in, and no other chunk's mark to fail its batch)."""
        if alone:
            self.calls += 1
            await self.controller.append_chunks(self.file_id, [ref])
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((ref, done))
        self._check_full()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def append_finishing(self, ref: ChunkRef, finish: FileUpdate) -> None:
        """Record ``ref``, the file's one chunk, and finish the upload (``finish``: its
        state, size, SHA-256 and expiry) in the same call: one transaction on the
        controller. A ``ChunkCollecting`` refusal appended and finished nothing."""
        self.calls += 1
        await self.controller.update_file(self.file_id, finish.model_copy(update={"chunks": [ref]}))

    async def _flush(self) -> None:
        while self._waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self.linger)
            batch = self._waiting[: self.max_batch]
            self._waiting = self._waiting[self.max_batch :]
            self._full.clear()
            self._check_full()
            await self._send(batch)

    async def _send(self, batch: list[tuple[ChunkRef, asyncio.Future[None]]]) -> None:
        self.calls += 1
        try:
            await self.controller.append_chunks(self.file_id, [ref for ref, _ in batch])
        except Exception as exc:
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
        else:
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
