"""A protected file's wrong tries, counted with its row locked (``SqlStore``'s password
methods).

The rule is ``core/passwords.py``'s ``take_try``/``give_back``; here it is applied inside
one transaction that first locks the file's row (``SELECT ... FOR UPDATE`` on PostgreSQL,
the one writer of ``BEGIN IMMEDIATE`` on SQLite), so of concurrent tries on several
controllers each sees the count the previous one left: the limit holds fleet-wide.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from filefleet.core import passwords
from filefleet.core.errors import NotFound
from filefleet.core.passwords import TryCount, TryTaken
from filefleet.store.schema import files


async def _locked_count(conn: AsyncConnection, file_id: str) -> tuple[str | None, TryCount]:
    query = select(
        files.c.password_hash, files.c.password_tries, files.c.password_tries_since
    ).where(files.c.id == file_id)
    row = (await conn.execute(query.with_for_update())).first()
    if row is None:
        raise NotFound(f"no file {file_id}")
    return row.password_hash, TryCount(row.password_tries, row.password_tries_since)


async def _store_count(conn: AsyncConnection, file_id: str, count: TryCount) -> None:
    await conn.execute(
        update(files)
        .where(files.c.id == file_id)
        .values(password_tries=count.tries, password_tries_since=count.since)
    )


async def take_try(
    conn: AsyncConnection, file_id: str, now: datetime, limit: int, window: float
) -> tuple[str | None, TryTaken]:
    """The file's password hash and the try reserved on it (nothing is counted for a file
    without a password, nor for a refused try)."""
    stored, count = await _locked_count(conn, file_id)
    if stored is None:
        return None, TryTaken(True, count)
    taken = passwords.take_try(count, now, limit=limit, window=window)
    if taken.allowed:
        await _store_count(conn, file_id, taken.count)
    return stored, taken


async def give_back(conn: AsyncConnection, file_id: str, since: datetime) -> None:
    """A reserved try proved right: it stops counting (``core/passwords.give_back``)."""
    _, count = await _locked_count(conn, file_id)
    after = passwords.give_back(count, since)
    if after != count:
        await _store_count(conn, file_id, after)
