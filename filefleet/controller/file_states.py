"""A file's state machine, and the one route that moves it: ``POST /file/{id}``.

```
uploading --append--> uploading --finish--> active --(delete, expiry: the GC)--> deleting
```
- Only an ``uploading`` file takes new chunks (``appending.py`` merges them by order);
  chunks it already has may be sent again (a retry after a lost answer changes nothing).
- Finishing (``state="active"``) comes with the size and the whole-file SHA-256: the
  chunk list must be whole (orders 0..n-1, sizes adding up to ``size``), and a size
  declared at creation (the chunk API's) must match. Finishing an active file again with
  the same size and hash is a no-op; with others, a Conflict.
- A ``deleting`` file changes no more.
- ``expires_at`` may be moved only while ``uploading`` (it counts from the moment the
  upload completes, so the frontend sets it with the finish).

Every change touches ``updated_at``: an upload that keeps appending is live for the GC,
one left untouched for the grace is abandoned.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from filefleet.core.errors import Conflict, InvalidInput
from filefleet.core.models import ChunkRef, FileSummary, FileUpdate
from filefleet.store.base import FileFields, FileRow, MetadataStore

from . import appending, collecting_mark


def check_update(update: FileUpdate) -> bool:
    """InvalidInput unless size and sha256 come exactly with ``state="active"``; returns
    whether the update finishes the upload."""
    finishing = update.state == "active"
    if not finishing and (update.size is not None or update.sha256 is not None):
        raise InvalidInput('size and sha256 are set together with state "active"')
    if finishing and (update.size is None or update.sha256 is None):
        raise InvalidInput('state "active" needs the file\'s size and sha256')
    return finishing


def check_changeable(row: FileRow) -> None:
    if row.state == "deleting":
        raise Conflict(f"file {row.id} is being deleted")


def check_append(row: FileRow, new: list[ChunkRef]) -> None:
    if new and row.state != "uploading":
        raise Conflict(f"file {row.id} is {row.state}: its chunks are fixed")


def finish(row: FileRow, update: FileUpdate, chunks: appending.ChunkList) -> FileFields | None:
    """What finishing ``row`` writes (None: it is already active with this content)."""
    assert update.size is not None and update.sha256 is not None  # check_update
    if row.state == "active":
        if (row.size, row.sha256) != (update.size, update.sha256):
            raise Conflict(f"file {row.id} is already active with another size/sha256")
        return None
    if row.size is not None and row.size != update.size:
        raise InvalidInput(f"size {update.size} differs from the declared {row.size}")
    appending.check_complete(chunks, update.size)
    return FileFields(state="active", size=update.size, sha256=update.sha256)


def new_expiry(row: FileRow, update: FileUpdate) -> datetime | None:
    return update.expires_at if row.state == "uploading" else None


async def update_file(store: MetadataStore, file_id: str, update: FileUpdate) -> FileSummary:
    """Append chunks and/or finish, in one transaction on the locked record. Chunks the GC
    marked are not appended: the marks are cleared and the append refused
    (``collecting_mark.py``)."""
    finishing = check_update(update)
    async with store.change_file(file_id) as change:
        row = change.row
        check_changeable(row)
        # An append only needs the orders it names; finishing checks the whole list.
        orders = None if finishing else {c.order for c in update.chunks}
        existing = await change.chunk_list(orders)
        new = appending.merge_chunks(existing, update.chunks)
        check_append(row, new)
        marked = await change.reference_chunks(update.chunks)
        if marked:
            await change.clear_collecting(marked)  # committed with the block
        else:
            await change.append(new, update.chunks)
            existing.update({c.order: (c.id, c.size) for c in new})
            expires = FileFields(expires_at=new_expiry(row, update))
            if not finishing:
                await change.set_fields(expires)  # a touch, at least
            elif (done := finish(row, update, existing)) is not None:
                await change.set_fields(replace(done, expires_at=expires.expires_at))
            summary = await change.summary()
    if marked:
        raise collecting_mark.append_refused(marked)
    return summary
