"""File records: what the routes under ``/file`` and ``/files`` do with the store."""

from __future__ import annotations

from filefleet.core.errors import Gone
from filefleet.core.file_query import FileQuery
from filefleet.core.models import FileCreate, FileInfo, FileList, FileSummary, FileUpdate, Removed
from filefleet.store.base import MetadataStore


async def create_file(store: MetadataStore, record: FileCreate) -> tuple[FileInfo, bool]:
    """Create in state ``uploading``; (existing, False) when an identical record exists."""
    return await store.create_file(record)


async def update_file(store: MetadataStore, file_id: str, update: FileUpdate) -> FileSummary:
    return await store.update_file(file_id, update)


async def get_file(store: MetadataStore, file_id: str) -> FileInfo:
    """Any state: which files may be served is the frontend's rule, not the controller's."""
    return await store.get_file(file_id)


async def get_summary(store: MetadataStore, file_id: str) -> FileSummary:
    """The record without its chunk list: what a chunk upload checks on every request."""
    return await store.get_summary(file_id)


async def list_files(store: MetadataStore, query: FileQuery) -> FileList:
    return await store.list_files(query)


async def mark_deleting(store: MetadataStore, file_id: str, token_sha256: str | None) -> FileInfo:
    return await store.mark_deleting(file_id, token_sha256)


async def delete_file(store: MetadataStore, file_id: str) -> Removed:
    return Removed(id=file_id, deleted=await store.delete_file(file_id))


async def take_download(store: MetadataStore, file_id: str) -> FileInfo:
    """Count one download (atomically) or answer Gone when none is left."""
    if not await store.take_download(file_id):
        raise Gone(f"file {file_id} has no download left, has expired or is not active")
    return await store.get_file(file_id)
