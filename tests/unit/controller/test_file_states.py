"""A file's states and its one update (``controller/file_states.py``), without SQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from filefleet.controller import file_states
from filefleet.core.errors import Conflict, InvalidInput
from filefleet.core.models import FileUpdate
from tests.unit.controller.held_records import FILE, NOW, A, B, finish, records, ref, store


async def test_an_upload_appends_then_finishes_and_each_step_touches_the_record() -> None:
    held = records()
    await file_states.update_file(store(held), FILE, FileUpdate(chunks=[ref(A, 0), ref(B, 1)]))
    assert held.chunks == {0: (A, 4), 1: (B, 4)} and held.writes == [{}]  # a touch
    await file_states.update_file(store(held), FILE, finish(8))
    assert (held.row.state, held.row.size) == ("active", 8)


async def test_finishing_again_alike_writes_nothing_and_otherwise_conflicts() -> None:
    held = records("active", size=8, sha256="c" * 64)
    await file_states.update_file(store(held), FILE, finish(8))
    assert held.writes == []
    with pytest.raises(Conflict, match="already active"):
        await file_states.update_file(store(held), FILE, finish(8, "d" * 64))


async def test_an_active_or_deleting_file_takes_no_new_chunk() -> None:
    with pytest.raises(Conflict, match="fixed"):
        await file_states.update_file(
            store(records("active")), FILE, FileUpdate(chunks=[ref(A, 0)])
        )
    with pytest.raises(Conflict, match="being deleted"):
        await file_states.update_file(store(records("deleting")), FILE, FileUpdate())


async def test_finishing_needs_a_whole_chunk_list_and_the_declared_size() -> None:
    held = records(size=8)
    await file_states.update_file(store(held), FILE, FileUpdate(chunks=[ref(A, 0)]))
    with pytest.raises(InvalidInput, match="sum to 4"):
        await file_states.update_file(store(held), FILE, finish(8))
    with pytest.raises(InvalidInput, match="declared"):
        await file_states.update_file(store(held), FILE, finish(5))


async def test_size_and_sha256_come_only_with_the_finish() -> None:
    with pytest.raises(InvalidInput):
        file_states.check_update(FileUpdate(size=1))
    with pytest.raises(InvalidInput):
        file_states.check_update(FileUpdate(state="active", size=1))


async def test_the_expiry_moves_only_while_uploading() -> None:
    later = NOW + timedelta(days=9)
    held = records()
    await file_states.update_file(store(held), FILE, FileUpdate(expires_at=later))
    assert held.row.expires_at == later
    active = records("active", size=0, sha256="c" * 64)
    update = FileUpdate(state="active", size=0, sha256="c" * 64, expires_at=later)
    await file_states.update_file(store(active), FILE, update)
    assert active.row.expires_at != later
