"""Appending stored chunks to a file's record, several per controller call.

Each chunk task calls ``append(ref)`` once its chunk is on a node and waits for the
answer. While one append is in flight, the refs that arrive are gathered and sent together
in the next one, so the controller sees a few calls per second instead of one per chunk,
and a chunk still counts as appended only after the controller confirmed it.

A batch is all or nothing on the controller: if any chunk in it is being collected, the
controller clears the mark, appends nothing and answers 409, and every chunk task of the
batch gets the Conflict and stores its chunk again before appending again (DESIGN §8).
"""

from __future__ import annotations

import asyncio

from filefleet.core.models import ChunkRef
from filefleet.http.controller_api import ControllerClient

MAX_BATCH = 64


class ChunkAppender:
    def __init__(self, controller: ControllerClient, file_id: str) -> None:
        self.controller = controller
        self.file_id = file_id
        self._waiting: list[tuple[ChunkRef, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.calls = 0  # counter: controller calls made

    async def append(self, ref: ChunkRef) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((ref, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
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
