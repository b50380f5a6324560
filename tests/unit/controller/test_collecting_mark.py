"""The GC's collecting mark (``controller/collecting_mark.py``), without SQL."""

from __future__ import annotations

import pytest

from filefleet.controller import collecting_mark, file_states
from filefleet.core.errors import ChunkCollecting
from filefleet.core.models import FileUpdate
from tests.unit.controller.held_records import FILE, A, B, records, ref, store


async def test_an_append_meeting_the_mark_clears_it_appends_nothing_and_is_refused() -> None:
    held = records()
    held.marked.add(B)
    with pytest.raises(ChunkCollecting, match=B):
        await file_states.update_file(store(held), FILE, FileUpdate(chunks=[ref(A, 0), ref(B, 1)]))
    assert held.chunks == {} and held.marked == set()
    await file_states.update_file(store(held), FILE, FileUpdate(chunks=[ref(A, 0), ref(B, 1)]))
    assert held.chunks == {0: (A, 4), 1: (B, 4)}


async def test_the_gc_marks_only_a_chunk_no_live_file_names() -> None:
    held = records()
    held.live_users.add(A)
    assert not await collecting_mark.mark_collecting(store(held), A, grace=60)
    assert await collecting_mark.mark_collecting(store(held), B, grace=60)
    assert held.marked == {B}
    held.live_users.add(B)  # already marked: the mark stands (the append clears it)
    assert await collecting_mark.mark_collecting(store(held), B, grace=60)
