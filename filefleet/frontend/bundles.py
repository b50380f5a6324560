"""Bundles: several files behind one link (docs/api.md, "Bundles").

A bundle is made of files that are already finished, each uploaded the usual way (the
streaming upload for a multipart form with ``bundle=1``; the resumable API for the page
and ``filefleet share --bundle``, which then call ``POST /bundles``). Making it:

1. Read every member's record: each must be active and unexpired (its owner's token is
   checked by the controller in step 3).
2. Each member's CRC-32 (the zip's headers carry it) and the SHA-256 of all the members'
   bytes one after another (the bundle's ``sha256``, as for any file the hash of its
   bytes): taken as the bytes passed through this frontend (a multipart bundle), else read
   back from the nodes, every chunk verified against its id on the way.
3. ``POST /bundle`` on the controller: in one transaction, a new active file whose chunks
   are the members' chunks in order, its list of members, and the members made
   ``deleting`` (the GC drops their records, not their chunks, which the bundle holds).

A crash before 3 leaves the members as they were: finished files, collected when they
expire. Expiry, download limit and delete link belong to the bundle from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import PurePosixPath

from aiohttp import BodyPartReader

from filefleet.core import ids
from filefleet.core.errors import Conflict, FilefleetError, Gone, InvalidInput
from filefleet.core.filenames import clean_name
from filefleet.core.models import (
    BundleCreate,
    BundleFile,
    BundlePart,
    FileInfo,
    UploadResult,
    utcnow,
)
from filefleet.frontend.download import Downloader
from filefleet.frontend.options import UploadOptions, clean_content_type
from filefleet.frontend.upload import Uploader, new_record, upload_result
from filefleet.http.controller_api import ControllerClient

DEFAULT_NAME = "files.zip"


@dataclass
class Member:
    """A finished file to put in a bundle, with its owner's token; ``crc32`` when its
    bytes passed through this frontend."""

    id: str
    delete_token: str
    crc32: int | None = None


@dataclass
class Checksums:
    """Each member's CRC-32 and the SHA-256 of all members' bytes in order, as bytes go by."""

    whole: hashlib._Hash = field(default_factory=hashlib.sha256)
    crcs: list[int] = field(default_factory=list)

    def begin(self) -> None:
        self.crcs.append(0)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self.whole.update(data)
        self.crcs[-1] = zlib.crc32(data, self.crcs[-1])


def bundle_name(raw: str | None) -> str:
    """The zip's file name: the one given (``.zip`` added if it lacks it), else
    ``files.zip``."""
    if not raw:
        return DEFAULT_NAME
    name = clean_name(raw)
    return name if name.lower().endswith(".zip") else f"{name}.zip"


def unique_names(names: list[str]) -> list[str]:
    """The members' names in the zip, made distinct: a second ``a.txt`` is ``a (2).txt``."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        candidate, n = name, 1
        while candidate.lower() in seen:
            n += 1
            path = PurePosixPath(name)
            stem, suffix = (path.stem, path.suffix) if path.stem else (name, "")
            candidate = f"{stem} ({n}){suffix}"
        seen.add(candidate.lower())
        out.append(candidate)
    return out


class BundleMaker:
    def __init__(self, controller: ControllerClient, downloader: Downloader) -> None:
        self.controller = controller
        self.downloader = downloader

    async def make(
        self,
        members: list[Member],
        options: UploadOptions,
        public_url: str,
        *,
        sha256: str | None = None,
    ) -> UploadResult:
        """Make the bundle (steps in the module's doc); ``sha256``: the members' bytes'
        hash when they passed through this frontend (with every member's ``crc32``)."""
        infos = [await self._finished(m) for m in members]
        crcs = [m.crc32 for m in members]
        if sha256 is None or None in crcs:
            sha256, crcs = await self._read_back(infos)
        record, token = new_record(options)
        bundle = BundleCreate(
            id=record.id,
            name=options.name,
            expires_at=utcnow() + timedelta(seconds=options.expires),
            max_downloads=options.max_downloads,
            delete_token_sha256=record.delete_token_sha256,
            sha256=sha256,
            password_hash=options.password_hash,
            files=[
                BundlePart(
                    id=info.id,
                    delete_token_sha256=hashlib.sha256(m.delete_token.encode()).hexdigest(),
                    name=name,
                    crc32=crc or 0,
                )
                for info, m, name, crc in zip(
                    infos, members, unique_names([i.name for i in infos]), crcs, strict=True
                )
            ],
        )
        made = await self.controller.create_bundle(bundle)
        result = upload_result(
            public_url, made.id, token, name=made.name, size=made.size or 0,
            sha256=made.sha256 or "", expires_at=made.expires_at,
        )  # fmt: skip
        result.files = [BundleFile(name=m.name, size=m.size, sha256=m.sha256) for m in made.members]
        return result

    async def _finished(self, member: Member) -> FileInfo:
        ids.token(member.delete_token)
        info = await self.controller.get_file(ids.file_id(member.id))
        if info.state != "active":
            raise Conflict(f"file {member.id} is {info.state}: only a finished file joins a bundle")
        if info.expires_at <= utcnow():
            raise Gone(f"file {member.id} has expired")
        return info

    async def _read_back(self, infos: list[FileInfo]) -> tuple[str, list[int | None]]:
        sums = Checksums()
        for info in infos:
            sums.begin()
            # Closed at once if this stops early: its read-ahead goes back to the pool.
            chunks = self.downloader.stream(info, None, verify=True)
            async with contextlib.aclosing(chunks):
                async for data in chunks:
                    await asyncio.to_thread(sums.update, data)
        return sums.whole.hexdigest(), list(sums.crcs)


async def upload_parts(
    uploader: Uploader,
    maker: BundleMaker,
    parts: AsyncIterator[BodyPartReader],
    options: UploadOptions,
    public_url: str,
) -> UploadResult:
    """A multipart bundle: each ``file`` part uploaded as a file of its own (checksummed
    as it goes by), then the bundle made of them. If anything fails, the files already
    uploaded are deleted (they were never shown to anyone) and the error goes on."""
    sums = Checksums()
    members: list[Member] = []
    try:
        async for part in parts:
            sums.begin()
            part_options = UploadOptions(
                name=clean_name(part.filename),
                content_type=clean_content_type(part.headers.get("Content-Type")),
                expires=options.expires,
                max_downloads=None,
                password_hash=options.password_hash,
            )
            result = await uploader.upload(_summed(part, sums), part_options, public_url)
            token = result.delete_url.rsplit("/", 1)[-1]
            members.append(Member(result.id, token, sums.crcs[-1]))
        if not members:
            raise InvalidInput("file: a bundle needs at least one 'file' field")
        return await maker.make(members, options, public_url, sha256=sums.whole.hexdigest())
    except BaseException:
        await _discard(maker.controller, members)
        raise


async def _summed(part: BodyPartReader, sums: Checksums) -> AsyncIterator[bytes]:
    while piece := await part.read_chunk(1024 * 1024):
        await asyncio.to_thread(sums.update, piece)
        yield piece


async def _discard(controller: ControllerClient, members: list[Member]) -> None:
    for m in members:
        try:
            token_sha256 = hashlib.sha256(m.delete_token.encode()).hexdigest()
            await controller.mark_deleting(m.id, token_sha256)
        except FilefleetError:
            pass  # it expires like any file
