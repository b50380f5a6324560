"""The multi-row upserts of every append and every recorded copy are compiled once and
then taken from SQLAlchemy's cache, whatever the number of rows: written with the rows
inside ``.values()`` each one was compiled afresh (~0.4 ms of the controller's CPU each,
two per append, one per batch of copies)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import default

from filefleet.controller import file_states
from filefleet.core.models import ChunkRef, FileCreate, FileUpdate, utcnow
from filefleet.store.sql import open_store


async def test_the_append_upserts_come_from_the_statement_cache(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'meta.db'}")
    seen: list[tuple[str, Any]] = []

    def note(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: Any) -> None:
        for table in ("chunks", "chunk_locations"):
            if statement.startswith(f"INSERT INTO {table} "):
                seen.append((table, context.cache_hit))

    event.listen(store.engine.sync_engine, "after_cursor_execute", note)
    try:
        file_id = "file-0001-abcdefghijkl"
        await store.create_file(FileCreate(id=file_id, name="f", content_type="a/b",
                                           expires_at=utcnow() + timedelta(days=1),
                                           delete_token_sha256="ab" * 32))  # fmt: skip
        order = 0
        for count in (3, 5, 2):  # batches of different sizes
            refs = []
            for _ in range(count):
                chunk = hashlib.sha256(f"chunk-{order}".encode()).hexdigest()
                refs.append(ChunkRef(id=chunk, order=order, size=10, locations=["0" * 32]))
                order += 1
            await file_states.update_file(store, file_id, FileUpdate(chunks=refs))
    finally:
        await store.close()
    for table in ("chunks", "chunk_locations"):
        hits = [hit for name, hit in seen if name == table]
        assert len(hits) == 3, seen
        assert hits[1:] == [default.CACHE_HIT, default.CACHE_HIT], (table, hits)
