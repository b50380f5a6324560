"""The GC's collecting mark (DESIGN §8; docs/architecture.md, "Why the GC cannot eat a
live chunk"): the two rules the controller keeps.

1. **Mark** (``mark_collecting``): the GC marks a chunk before deleting it, in one
   transaction on the locked chunk record, and only while no live file names it: an
   ``active`` file, or an ``uploading`` one touched within the grace (an upload idle for
   longer is abandoned).
2. **Append** (``append_refused``): an append that names a marked chunk clears the mark,
   appends nothing and is refused with 409 (``ChunkCollecting``), so the uploader stores
   the bytes again (the node then refuses the GC's delete within the grace) and appends
   again (``file_states.update_file`` applies it; ``frontend/upload.py`` retries).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from filefleet.core.errors import ChunkCollecting
from filefleet.store.base import MetadataStore


def uploading_live_since(now: datetime, grace: float) -> datetime:
    """An ``uploading`` file touched since this moment is live (not abandoned)."""
    return now - timedelta(seconds=grace)


async def mark_collecting(store: MetadataStore, chunk_id: str, grace: float) -> bool:
    """Set the mark unless a live file names the chunk; whether the chunk is marked."""
    async with store.change_chunk(chunk_id) as chunk:
        if chunk.collecting:
            return True
        if await chunk.referenced_by_live_file(uploading_live_since(chunk.now, grace)):
            return False
        await chunk.mark_collecting()
    return True


def append_refused(marked: list[str]) -> ChunkCollecting:
    return ChunkCollecting(f"chunk(s) being collected, store them again: {', '.join(marked)}")
