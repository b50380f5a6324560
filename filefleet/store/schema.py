"""The metadata tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

    files ──< file_chunks >── chunks ──< chunk_locations >── (nodes)

- ``file_chunks`` is a file's chunk list: one row per (file, order), so appending a chunk is
  an insert and two appends never rewrite each other's list.
- ``chunk_locations`` is one row per (chunk, node): adding or removing a replica is a
  single-row insert or delete, never a rewritten array.
- ``chunks.collecting_since`` is the GC's mark (DESIGN §8): set only while no live file
  references the chunk; an append that meets it answers 409 and clears it.
- ``nodes.state`` is the operator's word on a node (``serving`` or ``draining``); whether
  it is alive is judged from ``last_ping``. A draining node's replicas do not count toward
  R (``queries.counts_toward_r``), so repair copies them elsewhere; forgetting a node
  deletes its row and its locations.
- ``file_members`` lists a bundle's files (several files behind one link): the bundle is
  one file, so expiry, downloads, deletion, replication and collection treat it as one;
  each member's bytes are a run of its chunks.
- ``files.password_hash`` protects a link (null: none); ``password_tries`` and
  ``password_tries_since`` count its wrong passwords, changed only with the row locked
  (``controller/passwords.py`` through ``change_file``), so the limit holds across
  controllers.
- ``counters`` holds fleet-wide totals that outlive the rows they count: ``reclaimed_bytes``
  (replica bytes the GC deleted from nodes), added to in the transaction that drops the
  location.
- ``chunks.location_count`` is the number of ``chunk_locations`` rows of the chunk, kept by
  the same transaction that inserts or deletes one (an increment, never a recount, so two
  controllers adding locations at once both count). It lets repair find the chunks below R
  without counting the replicas of every chunk (``SqlStore.chunks_below``).

Indexes, each for a question a service asks (``bench/metadata.py`` times them at 1 million
chunks): ``files (state, expires_at)`` and ``(state, id)`` for the GC's pages of expired
and deleting files, ``(state, updated_at)`` for abandoned uploads; ``chunks
(location_count)`` and ``chunk_locations (node_id, chunk_id)`` for repair (chunks with too
few locations, and those with a location on a silent node) and for the GC's comparison of
what a node holds with what it is listed as holding, in id order; ``file_chunks (chunk_id)`` for
"does a live file reference this chunk" (GC mark); ``nodes (last_ping)`` for /active-nodes;
``files (sha256)`` for "is this content already a verified file" (the chunk API's
completion of a re-upload).

The Alembic revisions in ``migrations/versions`` create exactly these tables; a test
compares the migrated database with this module.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    TypeDecorator,
)

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so the value is stored as
    naive UTC (SQLAlchemy's fixed-width ISO text, which sorts like the moment it names).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


files = Table(
    "files",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(1024), nullable=False),
    Column("size", BigInteger, nullable=True),
    Column("sha256", String(64), nullable=True),
    Column("content_type", String(255), nullable=False),
    Column("uploaded_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("max_downloads", Integer, nullable=True),
    Column("downloads", Integer, nullable=False),
    Column("delete_token_sha256", String(64), nullable=False),
    # A protected link: the password's scrypt hash (``core/passwords.py``), and its wrong
    # tries counted in a window that opens at ``password_tries_since``.
    Column("password_hash", String(512), nullable=True),
    Column("password_tries", Integer, nullable=False, server_default="0"),
    Column("password_tries_since", UtcDateTime, nullable=True),
    Index("ix_files_expires_at", "expires_at"),
    Index("ix_files_state_updated_at", "state", "updated_at"),
    Index("ix_files_state_expires_at", "state", "expires_at"),
    Index("ix_files_state_id", "state", "id"),
    Index("ix_files_sha256", "sha256"),
)

chunks = Table(
    "chunks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("last_referenced", UtcDateTime, nullable=False),
    Column("collecting_since", UtcDateTime, nullable=True),
    Column("location_count", Integer, nullable=False, server_default="0"),
    Index("ix_chunks_location_count", "location_count"),
)

file_chunks = Table(
    "file_chunks",
    metadata,
    Column("file_id", String(64), ForeignKey("files.id", ondelete="CASCADE"), primary_key=True),
    Column("order", Integer, primary_key=True),
    Column("chunk_id", String(64), ForeignKey("chunks.id"), nullable=False),
    Column("size", BigInteger, nullable=False),
    Index("ix_file_chunks_chunk_id", "chunk_id"),
)

chunk_locations = Table(
    "chunk_locations",
    metadata,
    Column("chunk_id", String(64), ForeignKey("chunks.id", ondelete="CASCADE"), primary_key=True),
    Column("node_id", String(32), primary_key=True),
    Index("ix_chunk_locations_node_id_chunk_id", "node_id", "chunk_id"),
)

nodes = Table(
    "nodes",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("url", String(2048), nullable=False),
    Column("last_ping", UtcDateTime, nullable=False),
    Column("capacity", BigInteger, nullable=False),
    Column("free", BigInteger, nullable=False),
    Column("chunks", BigInteger, nullable=False),
    # "serving", or "draining": no new chunks, replicas no longer count toward R.
    Column("state", String(16), nullable=False, server_default="serving"),
    Column("name", String(255), nullable=True),  # as the node reports it (--name)
    Column("filesystem", String(255), nullable=True),  # id of the node's disk, reported
    Index("ix_nodes_last_ping", "last_ping"),
)

# A bundle's files, in order (``position`` 0, 1, ...): the bundle is one file whose chunks
# are its members' chunks one after another, each member starting on a chunk of its own.
file_members = Table(
    "file_members",
    metadata,
    Column("file_id", String(64), ForeignKey("files.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("name", String(1024), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("crc32", BigInteger, nullable=False),
    Column("content_type", String(255), nullable=False),
)

# Fleet-wide counters that outlive the rows they count (e.g. bytes the GC reclaimed).
counters = Table(
    "counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)
