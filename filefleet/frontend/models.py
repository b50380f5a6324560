"""JSON shapes of the frontend's resumable upload API (docs/api.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class UploadCreate(BaseModel):
    """``POST /uploads``: start a resumable upload of ``size`` bytes."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=1024)
    size: int = Field(ge=0)
    content_type: str | None = Field(default=None, max_length=255)
    expires: str | None = Field(default=None, description="Duration, e.g. 90s, 12h, 7d.")
    max_downloads: int | None = Field(default=None, ge=1)
    password: str | None = Field(
        default=None, max_length=1024, description="Protects the link (only its hash is kept)."
    )


class UploadStatus(BaseModel):
    """An upload's state: what it is and which chunks are still missing."""

    id: str
    name: str
    size: int
    chunk_size: int
    chunk_count: int
    missing: list[int]
    state: str
    expires_in: float = Field(description="Seconds the file lives once completed.")
    delete_token: str | None = Field(
        default=None, description="Only in the answer to create; keep it to complete."
    )


class ChunkAnswer(BaseModel):
    """``PUT /uploads/{id}/chunks/{index}`` and ``.../claim``."""

    index: int
    id: str
    stored: bool = Field(description="Bytes were received and stored now.")
    claimed: bool = Field(description="The fleet already held the chunk: no bytes needed.")


class UploadComplete(BaseModel):
    """``POST /uploads/{id}/complete``."""

    model_config = ConfigDict(extra="forbid")

    sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="The whole file's SHA-256, checked against the stored chunks. Left "
        "out, the frontend computes it from the chunks (each checked against its id).",
    )
    delete_token: str = Field(min_length=16, max_length=128)


class ChunkClaim(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ClaimRequest(BaseModel):
    """``POST /uploads/{id}/claims``: claim many chunks by hash at once (dedup)."""

    model_config = ConfigDict(extra="forbid")

    chunks: list[ChunkClaim] = Field(max_length=1000)


class ClaimAnswer(BaseModel):
    claimed: list[int] = Field(description="Indexes recorded without bytes; send the others.")


class BundleMemberRef(BaseModel):
    """A finished file to put in a bundle, and its owner's delete token."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=16, max_length=64)
    delete_token: str = Field(min_length=16, max_length=128)


class BundleRequest(BaseModel):
    """``POST /bundles``: one link for several finished files (uploaded first, e.g. through
    the resumable API). The files become the bundle's: their own links stop working."""

    model_config = ConfigDict(extra="forbid")

    files: list[BundleMemberRef] = Field(min_length=1, max_length=1000)
    name: str | None = Field(default=None, max_length=255, description="The zip's name.")
    expires: str | None = Field(default=None, description="Duration, e.g. 90s, 12h, 7d.")
    max_downloads: int | None = Field(default=None, ge=1)
    password: str | None = Field(
        default=None, max_length=1024, description="Protects the link (only its hash is kept)."
    )
