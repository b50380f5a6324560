"""`filefleet share --encrypt FILE`: the file encrypted on this machine while it is sent.

The fleet gets ciphertext only (``core/encryption.py``, docs/encryption.md), declared as
``encrypted.bin`` (``application/octet-stream``) with the ciphertext's size, which the
format fixes from the file's size before a byte is read. The link printed carries the key
in its ``#fragment``, which no browser or client sends to a server.

Per chunk of the ciphertext, in order: one worker thread reads the plaintext records the
chunk overlaps (``os.pread``), seals them, hashes the chunk and folds it into the
whole-file hash; the chunk is then sent (``INFLIGHT`` at a time) if the upload misses it.
Memory stays at a few chunks whatever the file's size.

Resuming: the state file of the upload (``transfer.ShareState``, mode 0600, removed once
complete) keeps the key, the salt and the nonce base beside the upload's id, so a resumed
run makes exactly the same ciphertext and sends only the chunks still missing. No chunk is
claimed: a claim could only match this same upload's bytes (each share has its own salt),
which the upload's ``missing`` list already accounts for.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import mimetypes
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from filefleet.cli.share import INFLIGHT, Share, ShareCounters
from filefleet.cli.transfer import ShareState
from filefleet.core.chunking import chunk_span
from filefleet.core.encryption import (
    PLACEHOLDER_NAME,
    PLACEHOLDER_TYPE,
    FileHeader,
    Sealer,
    encrypted_range,
    key_to_text,
    new_key,
)
from filefleet.core.errors import FileChanged
from filefleet.core.filenames import clean_name

_sealing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="e2e-seal")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")


class EncryptedShare(Share):
    """``Share`` for one file at a time, encrypted; same resume state, same API calls."""

    async def share(
        self, path: Path, expires: str | None, max_downloads: int | None
    ) -> dict[str, Any]:
        state = ShareState(self.server, path, variant="e2e")
        kind = mimetypes.guess_type(path.name)[0] or PLACEHOLDER_TYPE  # sealed in the header
        header = FileHeader(clean_name(path.name), state.size, kind)
        status = await self._resume(state)
        saved = state.load() if status else None
        if status is None or saved is None or "e2e" not in saved:
            sealer = Sealer(new_key(), header)
            status = await self._create_encrypted(state, sealer, expires, max_downloads)
            saved = state.load() or {}
        keys = saved["e2e"]
        key = base64.urlsafe_b64decode(keys["key"])
        sealer = Sealer(
            key, header, salt=base64.urlsafe_b64decode(keys["salt"]),
            nonce_base=base64.urlsafe_b64decode(keys["nonce_base"]),
        )  # fmt: skip
        counters = ShareCounters()
        task = self.progress.add_task(path.name[:30], total=sealer.size, note="encrypted")
        sha256 = await self._send(path, sealer, status, counters, task)
        result = (await self.http.request(
            "POST", self.server, f"/uploads/{status['id']}/complete",
            json={"delete_token": saved["delete_token"], "sha256": sha256},
            headers={"Accept": "application/json"},
        )).json()  # fmt: skip
        state.clear()
        result["url"] = f"{result['url']}#{key_to_text(key)}"
        return {"file": str(path), **result, "encrypted": True, **counters.__dict__}

    async def _create_encrypted(
        self, state: ShareState, sealer: Sealer, expires: str | None, max_downloads: int | None
    ) -> dict[str, Any]:
        body = {"name": PLACEHOLDER_NAME, "size": sealer.size, "content_type": PLACEHOLDER_TYPE}
        status = await self._open_upload(body, expires, max_downloads)
        # The key is written before a byte is sent: a run cut off after this resumes with
        # the same ciphertext; one cut off before it leaves an empty upload the GC collects.
        state.save({
            "server": self.server, "id": status["id"], "delete_token": status["delete_token"],
            "protected": self.password is not None,
            "e2e": {"key": _b64(sealer.key), "salt": _b64(sealer.salt),
                    "nonce_base": _b64(sealer.nonce_base)},
        })  # fmt: skip
        return status

    async def _send(
        self, path: Path, sealer: Sealer, status: dict[str, Any], counters: ShareCounters,
        task: Any,
    ) -> str:  # fmt: skip
        """Seal every chunk in order (the whole-file hash needs them all), send the missing
        ones; the ciphertext's SHA-256."""
        loop = asyncio.get_running_loop()
        chunk_size, count = int(status["chunk_size"]), int(status["chunk_count"])
        missing = set(status["missing"])
        whole = hashlib.sha256()
        slots = asyncio.Semaphore(INFLIGHT)
        sends: list[asyncio.Task[None]] = []
        fd = os.open(path, os.O_RDONLY)
        try:
            for index in range(count):
                await slots.acquire()  # at most INFLIGHT sealed chunks held at once
                start, length = chunk_span(index, sealer.size, chunk_size)
                piece = await loop.run_in_executor(
                    _sealing, _sealed_chunk, fd, sealer, whole, start, length
                )
                if index in missing:
                    sends.append(asyncio.create_task(
                        self._put(status["id"], index, piece, counters, task, slots)
                    ))  # fmt: skip
                else:
                    counters.skipped_chunks += 1
                    self.progress.advance(task, length)
                    slots.release()
                _raise_failed(sends)
            await asyncio.gather(*sends)
        finally:
            for pending in sends:
                pending.cancel()
            os.close(fd)
        return whole.hexdigest()

    async def _put(
        self, upload_id: str, index: int, piece: bytes, counters: ShareCounters, task: Any,
        slots: asyncio.Semaphore,
    ) -> None:  # fmt: skip
        try:
            await self.http.request(
                "PUT", self.server, f"/uploads/{upload_id}/chunks/{index}",
                params={"sha256": hashlib.sha256(piece).hexdigest()}, data=piece,
            )  # fmt: skip
            counters.sent_chunks += 1
            counters.sent_bytes += len(piece)
            self.progress.advance(task, len(piece))
        finally:
            slots.release()


def _raise_failed(sends: list[asyncio.Task[None]]) -> None:
    for sent in sends:
        if sent.done() and not sent.cancelled() and sent.exception() is not None:
            raise sent.exception()  # type: ignore[misc]


def _sealed_chunk(fd: int, sealer: Sealer, whole: hashlib._Hash, start: int, length: int) -> bytes:
    """In the sealing thread: ciphertext ``[start, start + length)`` from the file's
    plaintext, folded into the whole-file hash (chunks come here in order)."""

    def read(offset: int, size: int) -> bytes:
        data = os.pread(fd, size, offset)
        if len(data) != size:
            raise FileChanged(
                "the file became shorter while it was being shared; nothing wrong was "
                "stored, run the command again once the file is complete"
            )
        return data

    piece = encrypted_range(sealer, read, start, start + length)
    whole.update(piece)
    return piece
