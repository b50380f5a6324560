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
"""

from __future__ import annotations

import asyncio
import contextlib

from filefleet.core.models import ChunkRef
from filefleet.http.controller_api import ControllerClient

MAX_BATCH = 32
LINGER = 0.05


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
        self.calls = 0  # counter: controller calls made

    async def append(self, ref: ChunkRef) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((ref, done))
        if len(self._waiting) >= self.max_batch:
            self._full.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self.linger)
            batch = self._waiting[: self.max_batch]
            self._waiting = self._waiting[self.max_batch :]
            if len(self._waiting) < self.max_batch:
                self._full.clear()
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
