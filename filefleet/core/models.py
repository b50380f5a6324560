"""The JSON shapes services exchange (DESIGN §3, §5). Field names follow the seed.

These models are the contract: golden tests pin their serialised form, and the OpenAPI
documents are generated from them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
)

from filefleet.core import passwords

ChunkId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
NodeId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
FileId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{16,64}$")]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
FileState = Literal["uploading", "active", "deleting"]
# The stored form of a link's password (``core/passwords.py``), never the password itself.
PasswordHash = Annotated[
    str,
    StringConstraints(max_length=512),
    AfterValidator(passwords.stored_form),
]


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """RFC 3339 UTC with a ``Z``: ``2026-11-25T10:00:00.123456Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChunkRef(Strict):
    """One chunk of a file: its id, its place in the file, its size and its replicas."""

    id: ChunkId
    order: int = Field(ge=0)
    size: int = Field(ge=0)
    locations: list[NodeId] = Field(default_factory=list)


class FileCreate(Strict):
    """``POST /file``: the record written before the first chunk (state ``uploading``)."""

    id: FileId
    name: str = Field(min_length=1, max_length=1024)
    content_type: str = Field(default="application/octet-stream", max_length=255)
    expires_at: datetime
    max_downloads: int | None = Field(default=None, ge=1)
    delete_token_sha256: Sha256
    size: int | None = Field(default=None, ge=0)
    password_hash: PasswordHash | None = None


class BundlePart(Strict):
    """A finished file that becomes member of a bundle, proved by its owner's token."""

    id: FileId
    delete_token_sha256: Sha256
    name: str = Field(min_length=1, max_length=1024, description="Its name in the zip.")
    crc32: int = Field(ge=0, le=0xFFFFFFFF)


class BundleCreate(Strict):
    """``POST /bundle``: one active file made of the chunks of ``files`` (active, each with
    its owner's token), in their order, in one transaction; the files themselves become
    ``deleting`` (their chunks stay: the bundle references them).

    ``sha256`` is the hash of the members' bytes one after another (the bundle's bytes)."""

    id: FileId
    name: str = Field(min_length=1, max_length=1024)
    expires_at: datetime
    max_downloads: int | None = Field(default=None, ge=1)
    delete_token_sha256: Sha256
    sha256: Sha256
    files: list[BundlePart] = Field(min_length=1, max_length=1000)
    password_hash: PasswordHash | None = None


class FileUpdate(Strict):
    """``POST /file/{id}``: append chunks (merged by order) and/or finish the upload."""

    chunks: list[ChunkRef] = Field(default_factory=list)
    state: Literal["active"] | None = None
    size: int | None = Field(default=None, ge=0)
    sha256: Sha256 | None = None
    # Set with state=active: expiry counts from the moment the upload completes.
    expires_at: datetime | None = None


class FileRecord(BaseModel):
    """A file's record without its chunk list."""

    id: str
    name: str
    size: int | None
    sha256: str | None
    content_type: str
    uploaded_at: datetime
    expires_at: datetime
    state: FileState
    max_downloads: int | None
    downloads: int
    # Only in the JSON of a file with a password (the key is absent otherwise, so an
    # unprotected file's shape stays DESIGN §3's exactly).
    protected: bool = False

    @model_serializer(mode="wrap")
    def _without_empty_extras(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if not data.get("members", True):
            data.pop("members")
        if not self.protected:
            data.pop("protected", None)
        return data


class BundleMember(BaseModel):
    """One file of a bundle: its name in the bundle's zip, and what its bytes are. The
    members' bytes are the bundle's, one after another, each starting on a chunk."""

    name: str
    size: int
    sha256: str
    crc32: int = Field(description="CRC-32 of the bytes, which the zip's headers carry.")
    content_type: str


class FileInfo(FileRecord):
    """``GET /file/{id}``: the record and its chunks in order, with their locations; for a
    bundle, its ``members`` in order. A single file's JSON has no ``members`` key, so its
    shape stays DESIGN §3's exactly."""

    chunks: list[ChunkRef]
    members: list[BundleMember] = Field(default_factory=list)


class PasswordTry(Strict):
    """``POST /file/{id}/password``: a candidate password for a protected file (checked
    against its stored hash; a wrong one counts toward the limit on wrong tries)."""

    password: str = Field(min_length=1, max_length=passwords.MAX_PASSWORD_CHARS)


class PasswordAccepted(BaseModel):
    """The answer when the candidate is the file's password (or the file has none)."""

    id: str
    ok: bool


class FileSummary(FileRecord):
    """``POST /file/{id}``: the record after the update and how many chunks it has.

    The chunk list is left out on purpose: an upload appends each chunk as it is stored,
    and answering every append with the whole growing list would make an upload of n
    chunks cost O(n²). ``GET /file/{id}`` has the list.
    """

    chunk_count: int


class PingRequest(Strict):
    """``POST /ping``: a node registers or checks in."""

    id: NodeId
    url: str = Field(min_length=1, max_length=2048)
    capacity: int = Field(ge=0)
    free: int = Field(ge=0)
    chunks: int = Field(ge=0)
    # Beyond the seed (optional, so an older node's ping stays valid): the name operators
    # see (``--name``) and an id of the filesystem holding the node's data, so nodes that
    # share one disk are counted once in the fleet's disk figures.
    name: str | None = Field(None, min_length=1, max_length=255)
    filesystem: str | None = Field(None, min_length=1, max_length=255)


class NodeInfo(BaseModel):
    """One entry of ``GET /active-nodes``.

    ``draining``: the operator is emptying the node (``filefleet nodes drain``): it still
    serves reads, but takes no new chunk, neither from an upload nor as a copy's target."""

    id: str
    url: str
    last_ping: datetime
    capacity: int
    free: int
    chunks: int
    name: str | None = None
    filesystem: str | None = None
    draining: bool = False


class BundleFile(BaseModel):
    """One file of a bundle, in the answer that made it (``files``)."""

    name: str
    size: int
    sha256: str


class UploadResult(BaseModel):
    """The answer to a finished upload. ``files`` only for a bundle (left out otherwise):
    its files in order, ``GET /download/{id}/{n}`` serving file ``n``."""

    id: str
    url: str
    delete_url: str
    name: str
    size: int
    sha256: str
    expires_at: datetime
    files: list[BundleFile] | None = None


class Health(BaseModel):
    service: str
    id: str
    version: str


class ErrorBody(BaseModel):
    error: str


# --- controller routes beyond the seed (DESIGN §3: GC, repair, status) ---


class FileList(BaseModel):
    """``GET /files``: one page, ordered by id; ``next`` is the ``after`` of the next page."""

    files: list[FileInfo]
    next: str | None


class NodeStatus(NodeInfo):
    """One entry of ``GET /nodes``: every known node, with whether it is active now."""

    active: bool


class NodeReport(NodeStatus):
    """``GET /nodes/{id}`` and the answer to ``POST /nodes/{id}/drain``: the node, and how
    far it is from being safe to remove.

    ``listed``: chunks the metadata lists on the node. ``waiting``: chunks of live files
    among them with fewer than R replicas that count (on other serving, active nodes: a
    draining node's own replicas do not count). A draining node with ``waiting == 0`` is
    drained: every chunk it holds has R replicas elsewhere."""

    listed: int
    waiting: int


class DrainRequest(Strict):
    """``POST /nodes/{id}/drain``. ``draining: false`` returns the node to service.
    ``force``: drain even when fewer than R other serving nodes are active (the drain
    then cannot finish until nodes join; placement stops at once all the same)."""

    draining: bool = True
    force: bool = False


class NodeForgotten(BaseModel):
    """``DELETE /nodes/{id}``: the node's record and its locations are gone.

    ``locations``: replica locations dropped (repair copies those chunks from their other
    replicas); ``unlocated``: chunks of live files left with no location at all (they had
    no other replica: lost, unless a copy is found)."""

    id: str
    forgotten: bool
    locations: int
    unlocated: int


class LocationAdd(Strict):
    """``POST /chunk/{id}/locations``: one more node holds the chunk."""

    node: NodeId


class MarkDeleting(Strict):
    """``POST /file/{id}/deleting``: the file's owner (token given) or the GC removes it."""

    delete_token_sha256: Sha256 | None = None


class ChunkInfo(BaseModel):
    """``GET /chunk/{id}`` and the entries of ``GET /chunks/under-replicated``.

    ``live`` counts locations on nodes whose replicas still count toward R (last ping
    younger than node TTL + repair-after); ``references`` counts file rows using the chunk.
    """

    id: str
    size: int
    locations: list[str]
    live: int
    references: int
    collecting: bool


class ChunkList(BaseModel):
    chunks: list[ChunkInfo]


class ChunkPage(BaseModel):
    """A page of chunk ids in order, ``next`` to pass as ``after`` for the next page: a
    node's ``GET /chunks`` (what it holds), and the controller's ``GET /nodes/{id}/chunks``
    (what it lists the node as holding)."""

    chunks: list[ChunkId]
    next: ChunkId | None


class ChunkLookup(Strict):
    """``POST /chunks/lookup``: the records of up to 1,000 chunks at once (unknown ids are
    left out of the answer). ``repair_after``: seconds a silent node's replicas still count
    as live beyond the node TTL (as ``GET /chunk/{id}?repair_after=``)."""

    ids: list[ChunkId] = Field(max_length=1000)
    repair_after: float = Field(0.0, ge=0)


class Location(Strict):
    chunk: ChunkId
    node: NodeId


class LocationsAdd(Strict):
    """``POST /chunks/locations``: replicas made, recorded in one transaction (the
    replicator's copies of a batch of events)."""

    add: list[Location] = Field(min_length=1, max_length=1000)


class LocationsAdded(BaseModel):
    """How many of the locations were new; a chunk no longer known is skipped."""

    added: int
    unknown: list[ChunkId]


class MarkCollecting(Strict):
    """``POST /chunk/{id}/collecting``: files touched within ``grace`` seconds count as live."""

    grace: float = Field(ge=0)


class Collecting(BaseModel):
    """Whether the chunk carries the GC's mark after the request."""

    id: str
    collecting: bool


class Removed(BaseModel):
    """``DELETE /file/{id}``, ``DELETE /chunk/{id}``: whether a record was removed now
    (``false``: it was already gone, or is still needed)."""

    id: str
    deleted: bool


# --- node routes a client reads (the rest of the node's shapes: node/models.py) ---


class ChunkVerified(BaseModel):
    """``POST /chunk/{id}/verify``: whether the chunk's bytes on disk still hash to its id.

    ``quarantined``: it did not, and the node has moved it aside and told the controller
    (as its scrubber does), so it is no longer served and repair copies a healthy one back.
    """

    id: ChunkId
    size: int = Field(ge=0)
    ok: bool
    quarantined: bool


class NodeRef(Strict):
    """A node, by id and base URL (the source of a copy)."""

    id: NodeId
    url: str = Field(pattern=r"^https?://", max_length=2000)


class ChunkCopy(Strict):
    """``POST /chunk/{id}/copy``: the node fetches the chunk from the first of ``sources``
    that gives verified bytes and stores it (the replicator's node-to-node copy)."""

    sources: list[NodeRef] = Field(min_length=1, max_length=16)


class ChunkCopied(BaseModel):
    """The outcome of ``POST /chunk/{id}/copy``.

    ``stored``: the node now holds the chunk (``created``: it did not before), read from
    ``source``. ``reported``: the ids of sources found corrupt or missing the chunk, which
    the node reported to the controller (their locations are dropped). When no source gave
    verified bytes, ``stored`` is false and nothing was written."""

    id: ChunkId
    stored: bool
    created: bool = False
    size: int = Field(0, ge=0)
    source: str | None = None
    reported: list[NodeId] = Field(default_factory=list)
