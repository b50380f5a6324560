"""Taking a download (DESIGN §6): a GET from byte 0 takes one, atomically, when it starts.

A download may be taken from an ``active`` file that has not expired and has a download
left (or no limit). The count and the check are one transaction on the locked record, so
N concurrent requests for the last download get exactly one. Taking one touches
``updated_at``: the GC collects an exhausted file only a grace after its last download
began, so never while that download is in flight.
"""

from __future__ import annotations

from datetime import datetime

from filefleet.core.errors import Gone
from filefleet.core.models import FileInfo
from filefleet.store.base import FileRow, MetadataStore


def may_take(row: FileRow, now: datetime) -> bool:
    return (
        row.state == "active"
        and row.expires_at > now
        and (row.max_downloads is None or row.downloads < row.max_downloads)
    )


async def take_download(store: MetadataStore, file_id: str) -> FileInfo:
    """Count one download, or Gone when none is left (NotFound for an unknown file)."""
    async with store.change_file(file_id) as change:
        if not may_take(change.row, change.now):
            raise Gone(f"file {file_id} has no download left, has expired or is not active")
        await change.count_download()
    return await store.get_file(file_id)
