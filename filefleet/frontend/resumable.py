"""The resumable chunk-level upload API (docs/api.md): create, send or claim chunks in any
order and in parallel, ask what is missing, complete, abandon.

All of an upload's state is the controller's ``uploading`` file record (DESIGN §3): its
declared size, its expiry and the chunks appended so far. So any frontend can continue an
upload another began, a restarted frontend loses nothing, and an upload left untouched for
longer than the GC grace is collected like an expired file.

What each step writes, and what a crash leaves:
- create: the record (``uploading``, declared size). Crash after it: an empty upload the
  client may continue, or that the GC collects after the grace.
- send chunk i: store on a node, which checks the hash first (a mismatch stores nothing),
  then append at order i (``upload.py``'s ``store_chunk``, as the streaming upload does).
  Crash between store and append: an orphan chunk (orphan sweep); the client sends it
  again.
- claim chunk i: append a chunk the fleet already holds (checked on a node) without bytes.
- complete: every chunk present, the whole-file SHA-256 (folded in as chunks arrived,
  read back from the nodes for the rest, or known from an active file with the very same
  chunks) checked against the client's, or, when the client gives none, taken as the
  file's; then ``state=active``. Crash before: still ``uploading``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import OrderedDict
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from filefleet.core import ids
from filefleet.core.chunking import chunk_count, chunk_span
from filefleet.core.errors import (
    ChunkCollecting,
    Conflict,
    FilefleetError,
    Forbidden,
    Gone,
    HashMismatch,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
)
from filefleet.core.file_query import FileQuery
from filefleet.core.models import (
    ChunkInfo,
    ChunkRef,
    FileInfo,
    FileSummary,
    UploadResult,
)
from filefleet.fastpath.running_hash import RunningHash
from filefleet.frontend.download import Downloader
from filefleet.frontend.models import UploadStatus
from filefleet.frontend.nodes import NodeDirectory
from filefleet.frontend.options import UploadOptions
from filefleet.frontend.ranges import ByteRange
from filefleet.frontend.upload import OpenUpload, UploadSteps, upload_result
from filefleet.http.controller_api import ControllerClient
from filefleet.http.node_api import NodeClient

log = logging.getLogger(__name__)

# A request body, read into a buffer when entered (not before: the append batch counts
# the request from before its body arrives).
BodyReader = AbstractAsyncContextManager[memoryview]


@dataclass
class ResumableCounters:
    created: int = 0
    completed: int = 0
    chunks_received: int = 0
    bytes_received: int = 0
    chunks_claimed: int = 0
    bytes_claimed: int = 0
    claims_refused: int = 0
    chunks_read_back: int = 0  # at completion, for the whole-file check
    known_content: int = 0  # completions whose content matched an active file: no read-back
    append_calls: int = 0  # controller calls that recorded received chunks (finished uploads)


SESSION_REFRESH = 5.0  # seconds between re-reads of an upload's record
MAX_SESSIONS = 1024
CHUNK_API_LINGER = 0.1  # the most a chunk request's append waits for its upload's others
KNOWN_PAGE = 20  # active files with the same whole-file hash compared at completion


@dataclass
class _Session:
    record: FileSummary
    loaded: float
    upload: OpenUpload
    running: RunningHash


class ResumableUploads:
    def __init__(
        self,
        steps: UploadSteps,
        nodes: NodeClient,
        directory: NodeDirectory,
        downloader: Downloader,
        *,
        chunk_size: int,
        max_upload: int,
        dedup: bool,
    ) -> None:
        self.steps = steps
        self.controller: ControllerClient = steps.controller
        self.nodes = nodes
        self.directory = directory
        self.downloader = downloader
        self.chunk_size = chunk_size
        self.max_upload = max_upload
        self.dedup = dedup
        self.counters = ResumableCounters()
        self._sessions: OrderedDict[str, _Session] = OrderedDict()

    async def create(self, options: UploadOptions, size: int) -> UploadStatus:
        if size < 0:
            raise InvalidInput("size must be zero or more bytes")
        if size > self.max_upload:
            raise PayloadTooLarge(f"size {size} exceeds the maximum upload of {self.max_upload}")
        _, record, token = await self.steps.begin(
            options, room=min(size, self.chunk_size), size=size
        )
        self.counters.created += 1
        status = self._status(await self.controller.get_file(record.id))
        return status.model_copy(update={"delete_token": token})

    async def status(self, upload_id: str) -> UploadStatus:
        await self._uploading(upload_id)
        return self._status(await self.controller.get_file(upload_id))

    async def put_chunk(self, upload_id: str, index: int, sha256: str, body: BodyReader) -> None:
        """Read chunk ``index`` by entering ``body`` (into a reused buffer), have a node verify
        and store it, record it, then fold it into the whole-file hash. Sending a chunk
        again is harmless: the node already has it and the append at the same order is a
        no-op.

        From before its body is read until its append is answered, the request takes part
        in the upload's append batch: while any of the upload's chunk requests is still
        receiving or storing, the others' appends wait for it (up to the linger), so one
        controller call records them all. Folding comes after, so a chunk waiting for its
        turn never holds a batch up."""
        chunk_id = ids.chunk_id(sha256)
        session = await self._session(upload_id)
        async with contextlib.AsyncExitStack() as held:
            upload = session.upload
            with upload.appender.taking_part():
                data = await held.enter_async_context(body)  # the buffer, until the end
                self._check_chunk(session.record.size or 0, index, len(data))
                writer = self.steps.writer
                placement = await writer.placement(fresh=False, assigned=upload.assigned)
                try:
                    # The node verifies the bytes against the hash before it keeps them or
                    # answers, so the frontend does not hash them a second time.
                    await self.steps.store_chunk(upload, placement, index, chunk_id, data)
                except HashMismatch:
                    raise HashMismatch(
                        f"chunk {index} does not hash to {chunk_id}; nothing was stored"
                    ) from None
            await session.running.add(index, data)  # recorded: fold it into the whole-file hash
        self.counters.chunks_received += 1
        self.counters.bytes_received += len(data)

    async def claim_chunk(self, upload_id: str, index: int, sha256: str) -> bool:
        """Append chunk ``index`` without its bytes if the fleet holds them (dedup)."""
        return index in await self.claim_chunks(upload_id, [(index, sha256)])

    async def claim_chunks(self, upload_id: str, wanted: list[tuple[int, str]]) -> set[int]:
        """Append, without their bytes, the chunks the fleet already holds (dedup); returns
        the indexes claimed. The client sends the others: those the fleet does not have on
        an active node (checked on the node), and those the GC is collecting.

        One controller lookup and one append for the whole batch, whatever its size.
        """
        if not self.dedup:
            raise Forbidden("deduplication is turned off on this server: send the chunk")
        session = await self._session(upload_id)
        size = session.record.size or 0
        sizes: dict[int, int] = {}
        for index, sha256 in wanted:
            ids.chunk_id(sha256)
            self._check_index(size, index)
            sizes[index] = chunk_span(index, size, self.chunk_size)[1]
        known = {c.id: c for c in await self.controller.lookup_chunks([s for _, s in wanted])}
        checks = [self._live_holders(known.get(sha), sizes[i]) for i, sha in wanted]
        refs = [
            ChunkRef(id=sha, order=index, size=sizes[index], locations=holders)
            for (index, sha), holders in zip(wanted, await asyncio.gather(*checks), strict=True)
            if holders
        ]
        claimed = await self._append_claims(upload_id, refs)
        for index in claimed:
            await session.running.absent(index)
        self.counters.claims_refused += len(wanted) - len(claimed)
        self.counters.chunks_claimed += len(claimed)
        self.counters.bytes_claimed += sum(sizes[i] for i in claimed)
        return claimed

    async def _append_claims(self, upload_id: str, refs: list[ChunkRef]) -> set[int]:
        """Append the claimable chunks: all at once, or one by one if the GC is collecting
        some (the controller then appends nothing and clears their marks; those are left
        for the client to send, so the node is touched by a real store)."""
        if not refs:
            return set()
        try:
            await self.controller.append_chunks(upload_id, refs)
            return {r.order for r in refs}
        except ChunkCollecting:
            pass
        claimed: set[int] = set()
        for ref in refs:
            with contextlib.suppress(ChunkCollecting):
                await self.controller.append_chunks(upload_id, [ref])
                claimed.add(ref.order)
        return claimed

    async def complete(
        self, upload_id: str, sha256: str | None, delete_token: str, public_url: str
    ) -> UploadResult:
        """Finish the upload: every chunk present, and its whole-file SHA-256 either checked
        against ``sha256`` or, when the client gives none, computed (and answered)."""
        ids.token(delete_token)
        if sha256 is not None:
            sha256 = ids.chunk_id(sha256)  # same format: 64 lowercase hex characters
        await self._uploading(upload_id)
        info = await self.controller.get_file(upload_id)
        size = info.size or 0
        missing = self._missing(info)
        if missing:
            raise InvalidInput(f"{len(missing)} chunk(s) missing, first: {missing[:10]}")
        session = self._sessions.get(upload_id)
        actual = await self._stored_hash(info, sha256, session.running if session else None)
        if sha256 is not None and actual != sha256:
            raise InvalidInput(f"the stored chunks hash to {actual}, not to {sha256}")
        sha256 = actual
        # Events went out as chunks were recorded; those recorded by an earlier process (a
        # resumed upload) or claimed go out now, and the answer waits for the last of them.
        expires_at = await self.steps.finish(
            session.upload if session else None, upload_id, size=size, sha256=sha256,
            lifetime=info.expires_at - info.uploaded_at, every=[c.id for c in info.chunks],
        )  # fmt: skip
        self._forget(upload_id)
        self.counters.completed += 1
        return upload_result(
            public_url, upload_id, delete_token,
            name=info.name, size=size, sha256=sha256, expires_at=expires_at,
        )  # fmt: skip

    async def abandon(self, upload_id: str, delete_token: str) -> None:
        """Give the upload up: marked deleting, its chunks freed by the GC."""
        ids.token(delete_token)
        await self._uploading(upload_id)
        token_hash = hashlib.sha256(delete_token.encode()).hexdigest()
        await self.controller.mark_deleting(upload_id, token_hash)
        self._forget(upload_id)

    # -- helpers -------------------------------------------------------------------------

    async def _uploading(self, upload_id: str) -> FileSummary:
        """The upload's record (without its chunk list: this runs on every chunk request)."""
        ids.file_id(upload_id)
        try:
            info = await self.controller.get_summary(upload_id)
        except NotFound:
            raise NotFound(f"no upload {upload_id}") from None
        if info.state != "uploading":
            raise Gone(f"upload {upload_id} is {info.state}: it takes no more chunks")
        if info.size is None:
            raise Conflict(f"file {upload_id} was not created through the chunk API")
        return info

    def _status(self, info: FileInfo) -> UploadStatus:
        size = info.size or 0
        return UploadStatus(
            id=info.id,
            name=info.name,
            size=size,
            chunk_size=self.chunk_size,
            chunk_count=chunk_count(size, self.chunk_size),
            missing=self._missing(info),
            state=info.state,
            expires_in=(info.expires_at - info.uploaded_at).total_seconds(),
        )

    def _missing(self, info: FileInfo) -> list[int]:
        present = {c.order for c in info.chunks}
        return [i for i in range(chunk_count(info.size or 0, self.chunk_size)) if i not in present]

    def _check_index(self, size: int, index: int) -> None:
        total = chunk_count(size, self.chunk_size)
        if not 0 <= index < total:
            raise InvalidInput(f"chunk index {index} is out of range: this upload has {total}")

    def _check_chunk(self, size: int, index: int, length: int) -> None:
        self._check_index(size, index)
        expected = chunk_span(index, size, self.chunk_size)[1]
        if length != expected:
            raise InvalidInput(f"chunk {index} must be {expected} bytes, got {length}")

    async def _live_holders(self, chunk: ChunkInfo | None, size: int) -> list[str]:
        """Active nodes that really hold the chunk (asked with HEAD), if its size fits."""
        if chunk is None or chunk.size != size or chunk.collecting:
            return []
        active = await self.directory.active()
        holders = []
        for node_id in chunk.locations:
            node = active.get(node_id)
            if node is None:
                continue
            try:
                if await self.nodes.has_chunk(node.url, chunk.id):
                    holders.append(node_id)
            except FilefleetError as exc:
                log.info("claim check of %s on %s failed: %s", chunk.id, node.url, exc.message)
        return holders

    async def _session(self, upload_id: str) -> _Session:
        """What chunk requests of one upload share: its record (re-read every few seconds;
        the controller refuses appends to a file that is no longer uploading anyway), the
        bytes it placed on each node (so its chunks spread) and its appender (so concurrent
        chunk requests are recorded in one controller call)."""
        now = time.monotonic()
        session = self._sessions.get(upload_id)
        if session is None or now - session.loaded > SESSION_REFRESH:
            record = await self._uploading(upload_id)
            # An upload's first requests arrive together: the first to get here made the
            # session they all share (each one its own would fold each chunk alone).
            session = self._sessions.get(upload_id)
            if session is None:
                upload = self.steps.open(upload_id, linger=CHUNK_API_LINGER)
                session = _Session(record, now, upload, RunningHash())
            session.record, session.loaded = record, now
            self._sessions[upload_id] = session
        self._sessions.move_to_end(upload_id)
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    async def _stored_hash(
        self, info: FileInfo, expected: str | None, running: RunningHash | None
    ) -> str:
        """The SHA-256 of the upload's bytes: the prefix this frontend folded in as chunks
        arrived (``fastpath/running_hash.py``), then the rest read back from the nodes in order.

        With the client's hash (``expected``) the read-back skips checking each chunk
        against its id (one hash per byte, not two); only if the result differs is the
        whole file read again with every chunk verified, so a corrupt replica is skipped
        rather than blamed on the client. Without it, what is read back is verified at
        once: nothing else would catch a corrupt replica before its hash became the
        file's.
        """
        folded, digest = running.prefix() if running else (0, hashlib.sha256())
        if folded == len(info.chunks):
            return digest.hexdigest()
        if expected is not None and await self._known_content(info, expected):
            self.counters.known_content += 1
            return expected
        self.counters.chunks_read_back += chunk_count(info.size or 0, self.chunk_size) - folded
        actual = await self._hash_chunks(info, digest, folded, verify=expected is None)
        if expected is not None and actual != expected:
            actual = await self._hash_chunks(info, hashlib.sha256(), 0, verify=True)
        return actual

    async def _known_content(self, info: FileInfo, sha256: str) -> bool:
        """Whether an active file with the same chunks in the same order has ``sha256``.

        A file's ``sha256`` is always computed by a frontend from the bytes themselves, and
        a chunk's bytes are those that hash to its id (every node checks). So the same
        sequence of chunk ids is the same content, and has the same whole-file hash: a
        re-upload whose chunks were all claimed (dedup) completes without reading the
        file back from the nodes."""
        wanted = [(c.id, c.size) for c in info.chunks]  # the controller lists them in order
        query = FileQuery(sha256=sha256, state="active", limit=KNOWN_PAGE)
        page = await self.controller.list_files(query)
        return any(
            other.id != info.id and [(c.id, c.size) for c in other.chunks] == wanted
            for other in page.files
        )

    async def _hash_chunks(
        self, info: FileInfo, digest: hashlib._Hash, first: int, *, verify: bool
    ) -> str:
        size = info.size or 0
        if first * self.chunk_size < size:
            rest = ByteRange(first * self.chunk_size, size - 1)
            # Closed at once if this stops early: its read-ahead goes back to the pool.
            chunks = self.downloader.stream(info, rest, verify=verify)
            async with contextlib.aclosing(chunks):
                async for data in chunks:
                    await asyncio.to_thread(digest.update, data)
        return digest.hexdigest()

    def _forget(self, upload_id: str) -> None:
        session = self._sessions.pop(upload_id, None)
        if session is not None:
            self.counters.append_calls += session.upload.appender.calls
