"""Which files to list: one model from the HTTP client to the store.

``GET /files`` takes it as its query string (``as_params``; the controller parses it back
with ``controller/params.py``), the controller hands it to the store as it is, and the
store turns it into SQL. A new condition is added here once, and every layer has it.
"""

from __future__ import annotations

from dataclasses import dataclass

from filefleet.core.models import FileState

DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class FileQuery:
    """One page of files, ordered by id.

    ``expired`` keeps those past ``expires_at``; ``exhausted`` those out of downloads;
    ``idle`` those untouched for that many seconds; ``sha256`` those with that whole-file
    hash; ``after`` is the last id of the previous page; ``with_chunks`` adds each file's
    chunk list (its locations included)."""

    state: FileState | None = None
    expired: bool = False
    exhausted: bool = False
    idle: float | None = None
    sha256: str | None = None
    after: str | None = None
    limit: int = DEFAULT_LIMIT
    with_chunks: bool = True

    def as_params(self) -> dict[str, str | int]:
        """The query string of ``GET /files`` (only what differs from the defaults)."""
        params: dict[str, str | int] = {"limit": self.limit}
        if not self.with_chunks:
            params["chunks"] = "false"
        if self.state is not None:
            params["state"] = self.state
        if self.expired:
            params["expired"] = "true"
        if self.exhausted:
            params["exhausted"] = "true"
        if self.idle is not None:
            params["idle"] = f"{self.idle}s"
        if self.sha256 is not None:
            params["sha256"] = self.sha256
        if self.after is not None:
            params["after"] = self.after
        return params
