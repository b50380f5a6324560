"""The metadata store's interface: what the controller asks of files, chunks and nodes.

Every method is one transaction. Implementations must keep these promises on every
backend, and ``tests/contract/test_store.py`` checks them on each:

- ``create_file`` is idempotent: the same id with the same content returns the stored
  record; the same id with different content is a ``Conflict``.
- ``change_file`` and ``change_chunk`` lock one record for one transaction: what the
  caller reads and writes through them commits together when its block ends (and not at
  all if it raises), and no other change of that record runs in between. The controller's
  rules (``controller/file_states.py``, ``appending.py``, ``downloads.py``,
  ``collecting_mark.py``) decide; the store only reads and writes.
- Locations are single rows: concurrent ``add_location`` calls never lose each other.

Unknown ids raise ``NotFound``; a database that cannot be reached raises ``Unavailable``.
"""

from __future__ import annotations

import abc
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime

from filefleet.core.file_query import FileQuery
from filefleet.core.health import ReplicationCounts, StoreTotals
from filefleet.core.models import (
    BundleCreate,
    ChunkInfo,
    ChunkRef,
    FileCreate,
    FileInfo,
    FileList,
    FileSummary,
    NodeInfo,
    NodeReport,
    NodeStatus,
    PingRequest,
)
from filefleet.core.passwords import TryCount

ChunkOrders = dict[int, tuple[str, int]]  # a file's chunk list: order -> (chunk id, size)


NO_TRIES = TryCount(0, None)


@dataclass(frozen=True)
class FileRow:
    """A file's record as the controller's rules read it."""

    id: str
    state: str
    size: int | None
    sha256: str | None
    expires_at: datetime
    max_downloads: int | None
    downloads: int
    password_hash: str | None = None
    password_tries: TryCount = NO_TRIES  # wrong tries of a password link


@dataclass(frozen=True)
class FileFields:
    """Fields of a file's record to write (None: left as it is)."""

    state: str | None = None
    size: int | None = None
    sha256: str | None = None
    expires_at: datetime | None = None


class FileChange(abc.ABC):
    """One file's record, locked: ``row`` as it stands, ``now`` by the store's clock."""

    row: FileRow
    now: datetime

    @abc.abstractmethod
    async def chunk_list(self, orders: set[int] | None = None) -> ChunkOrders:
        """The file's chunks (only ``orders`` when given)."""

    @abc.abstractmethod
    async def reference_chunks(self, refs: list[ChunkRef]) -> list[str]:
        """Create or touch (``last_referenced``) the chunk records ``refs`` name, locking
        them; returns the ids of those the GC marked ``collecting``. InvalidInput for one
        id with two sizes, Conflict for a size that differs from the stored one."""

    @abc.abstractmethod
    async def clear_collecting(self, chunk_ids: list[str]) -> None:
        """Remove the GC's mark from these chunks."""

    @abc.abstractmethod
    async def append(self, new: list[ChunkRef], given: list[ChunkRef]) -> None:
        """Insert ``new`` into the chunk list, and every location ``given`` names (a set:
        one already listed is not added twice)."""

    @abc.abstractmethod
    async def count_password_tries(self, count: TryCount) -> None:
        """Store a password link's wrong tries (``controller/passwords.py``)."""

    @abc.abstractmethod
    async def set_fields(self, fields: FileFields) -> None:
        """Write the fields given, and ``updated_at`` = now (a touch, when none is)."""

    @abc.abstractmethod
    async def count_download(self) -> None:
        """One more download."""

    @abc.abstractmethod
    async def summary(self) -> FileSummary:
        """The record as this change leaves it, with its chunk count: read inside the
        change, so an append's answer costs no second transaction."""


class ChunkChange(abc.ABC):
    """One chunk's record, locked: whether the GC marked it, ``now`` by the store's clock."""

    collecting: bool
    now: datetime

    @abc.abstractmethod
    async def referenced_by_live_file(self, uploading_since: datetime) -> bool:
        """Whether an ``active`` file, or an ``uploading`` one touched since
        ``uploading_since``, names the chunk (``controller/collecting_mark.py``)."""

    @abc.abstractmethod
    async def mark_collecting(self) -> None:
        """Set the GC's mark (``collecting_since`` = now)."""


class MetadataStore(abc.ABC):
    # --- files ---

    @abc.abstractmethod
    async def create_file(self, record: FileCreate) -> tuple[FileInfo, bool]:
        """Create the record in state ``uploading``; returns (record, created)."""

    @abc.abstractmethod
    async def get_summary(self, file_id: str) -> FileSummary:
        """The record and its chunk count (NotFound if unknown)."""

    @abc.abstractmethod
    def change_file(self, file_id: str) -> AbstractAsyncContextManager[FileChange]:
        """The file's record locked for one transaction (NotFound if unknown)."""

    @abc.abstractmethod
    async def get_file(self, file_id: str) -> FileInfo:
        """The record with its chunks in order and each chunk's locations."""

    @abc.abstractmethod
    async def list_files(self, query: FileQuery) -> FileList:
        """One page of the files ``query`` asks for, ordered by id (``core/file_query.py``)."""

    @abc.abstractmethod
    async def mark_deleting(self, file_id: str, token_sha256: str | None = None) -> FileInfo:
        """State -> ``deleting``; when ``token_sha256`` is given it must match (else Forbidden)."""

    @abc.abstractmethod
    async def delete_file(self, file_id: str) -> bool:
        """Remove the record and its chunk list (not the chunks); False if it was absent."""

    @abc.abstractmethod
    async def create_bundle(self, bundle: BundleCreate) -> tuple[FileInfo, bool]:
        """One active file made of the finished files ``bundle.files`` (each with its
        owner's token), which become ``deleting``; all or nothing. Returns (record,
        created): the same bundle again is (record, False)."""

    # --- nodes ---

    @abc.abstractmethod
    async def ping(self, node: PingRequest) -> NodeInfo:
        """Register the node or record its check-in (last ping = now)."""

    @abc.abstractmethod
    async def active_nodes(self, ttl: float) -> list[NodeInfo]:
        """Nodes whose last ping is younger than ``ttl`` seconds."""

    @abc.abstractmethod
    async def all_nodes(self, ttl: float) -> list[NodeStatus]:
        """Every known node, with ``active`` judged by ``ttl``."""

    @abc.abstractmethod
    async def set_draining(self, node_id: str, draining: bool) -> None:
        """Drain the node (its replicas stop counting toward R; ``draining`` in its entry)
        or return it to service. A ping never changes this. NotFound if unknown."""

    @abc.abstractmethod
    async def node_report(self, node_id: str, replicas: int, ttl: float) -> NodeReport:
        """The node, the chunks listed on it, and how many of them are chunks of live
        files with fewer than ``replicas`` replicas that count (nodes pinged within
        ``ttl``, not draining). NotFound if unknown."""

    @abc.abstractmethod
    async def drop_node_locations(self, node_id: str, limit: int) -> list[str]:
        """Forget the node, one page: delete up to ``limit`` of its locations (lowest
        chunk ids first), keeping every chunk's location count. Returns their chunk ids."""

    @abc.abstractmethod
    async def delete_node(self, node_id: str) -> int:
        """Remove the node's record, and any location still naming it (how many are
        returned). NotFound if unknown. A node that pings again registers anew."""

    # --- chunks ---

    @abc.abstractmethod
    async def add_location(self, chunk_id: str, node_id: str) -> bool:
        """One more node holds the chunk; False if it was already listed."""

    @abc.abstractmethod
    async def add_locations(self, pairs: list[tuple[str, str]]) -> tuple[int, list[str]]:
        """Many (chunk, node) locations in one transaction: how many were new, and the
        chunks that are not known (skipped)."""

    @abc.abstractmethod
    async def remove_location(
        self, chunk_id: str, node_id: str, *, reclaimed: bool = False
    ) -> bool:
        """The node no longer holds the chunk; False if it was not listed. ``reclaimed``:
        the GC deleted it, so its size is added to the ``reclaimed_bytes`` counter."""

    @abc.abstractmethod
    async def chunks_on_node(
        self, node_id: str, after: str | None, until: str | None, limit: int
    ) -> list[str]:
        """Ids of the chunks listed on the node, in order: after ``after``, up to and with
        ``until`` (None: no bound), at most ``limit``."""

    @abc.abstractmethod
    async def get_chunks(self, chunk_ids: list[str], live_ttl: float) -> list[ChunkInfo]:
        """The records of the known ones among ``chunk_ids``."""

    @abc.abstractmethod
    async def get_chunk(self, chunk_id: str, live_ttl: float) -> ChunkInfo:
        """The chunk, its locations, live replica count (nodes pinged within ``live_ttl``)."""

    @abc.abstractmethod
    async def chunks_below(self, replicas: int, live_ttl: float, limit: int) -> list[ChunkInfo]:
        """Chunks of live files with fewer than ``replicas`` live replicas, fewest first."""

    @abc.abstractmethod
    def change_chunk(self, chunk_id: str) -> AbstractAsyncContextManager[ChunkChange]:
        """The chunk's record locked for one transaction (NotFound if unknown)."""

    @abc.abstractmethod
    async def delete_chunk(self, chunk_id: str) -> bool:
        """Remove a marked chunk with no references and no locations left; else False."""

    # --- the fleet at a glance ---

    @abc.abstractmethod
    async def totals(self, replicas: int, live_ttl: float) -> StoreTotals:
        """Files by state, chunk and replica counts and bytes, live chunks and how many of
        them are below ``replicas`` (as ``chunks_below`` judges them): ``GET /status``."""

    @abc.abstractmethod
    async def replication_counts(self, replicas: int, live_ttl: float) -> ReplicationCounts:
        """Live chunks below ``replicas``, and those with a single live replica: the part of
        ``totals`` a metrics scrape reads, without its whole-table counts."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""
