"""Making a bundle (several files behind one link) out of finished files, in one
transaction (``SqlStore.create_bundle``).

The bundle is one ``active`` file: its chunk list is its members' chunk lists one after
another (each member starts on a chunk of its own, so no chunk is shared by two members),
and ``file_members`` says which member each run of chunks is. In the same transaction the
member files become ``deleting``: their records go on the GC's next pass, but not their
chunks, which the bundle (a live file) now references, so the GC's mark is refused for
them (DESIGN §8). Either all of it is written or nothing is: a wrong token, a member that
is not active or has expired changes nothing.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from filefleet.core.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from filefleet.core.models import BundleCreate
from filefleet.store import queries
from filefleet.store.schema import file_chunks, file_members, files

ZIP = "application/zip"


async def existing_bundle(conn: AsyncConnection, bundle: BundleCreate) -> bool:
    """Whether this very bundle was made already (a retry after a lost answer); a
    different file with its id is a Conflict."""
    row = (await conn.execute(select(files).where(files.c.id == bundle.id))).first()
    if row is None:
        return False
    same = (row.state, row.sha256, row.name, row.delete_token_sha256) == (
        "active", bundle.sha256, bundle.name, bundle.delete_token_sha256,
    )  # fmt: skip
    if not same:
        raise Conflict(f"file {bundle.id} already exists with different content")
    return True


async def insert_bundle(conn: AsyncConnection, bundle: BundleCreate, now: datetime) -> None:
    member_ids = [part.id for part in bundle.files]
    if len(set(member_ids)) != len(member_ids):
        raise InvalidInput("a file is named twice in the bundle")
    # Member rows locked in id order (as appends lock theirs), so two bundles never deadlock.
    locked = select(files).where(files.c.id.in_(sorted(member_ids))).order_by(files.c.id)
    rows = {row.id: row for row in await conn.execute(locked.with_for_update())}
    for part in bundle.files:
        _check_member(rows.get(part.id), part.id, part.delete_token_sha256, now)
    chunk_rows: list[dict[str, Any]] = []
    member_rows: list[dict[str, Any]] = []
    for position, part in enumerate(bundle.files):
        row = rows[part.id]
        chunk_list = await queries.chunk_list(conn, part.id)
        for order in sorted(chunk_list):
            chunk_id, size = chunk_list[order]
            chunk_rows.append(
                {"file_id": bundle.id, "order": len(chunk_rows), "chunk_id": chunk_id, "size": size}
            )
        member_rows.append(
            {"file_id": bundle.id, "position": position, "name": part.name, "size": row.size,
             "sha256": row.sha256, "crc32": part.crc32, "content_type": row.content_type}
        )  # fmt: skip
    await conn.execute(
        insert(files).values(
            id=bundle.id, name=bundle.name, size=sum(r["size"] for r in member_rows),
            sha256=bundle.sha256, content_type=ZIP, uploaded_at=now, updated_at=now,
            expires_at=bundle.expires_at, state="active", max_downloads=bundle.max_downloads,
            downloads=0, delete_token_sha256=bundle.delete_token_sha256,
            password_hash=bundle.password_hash,
        )
    )  # fmt: skip
    if chunk_rows:
        await conn.execute(insert(file_chunks), chunk_rows)
    await conn.execute(insert(file_members), member_rows)
    await conn.execute(
        update(files).where(files.c.id.in_(member_ids)).values(state="deleting", updated_at=now)
    )


def _check_member(row: Any, file_id: str, token_sha256: str, now: datetime) -> None:
    if row is None:
        raise NotFound(f"no file {file_id}")
    if not hmac.compare_digest(token_sha256, row.delete_token_sha256):
        raise Forbidden(f"wrong delete token for file {file_id}")
    if row.state != "active":
        raise Conflict(f"file {file_id} is {row.state}: only a finished file joins a bundle")
    if row.expires_at <= now:
        raise Gone(f"file {file_id} has expired")
