"""A request body that is a stretch of an open file, read only as it is sent.

``filefleet share`` hashes a file and then sends its chunks. Holding every hashed chunk in
its own buffer until it is sent means cycling through tens of megabytes: each buffer has
left the CPU's cache by the time it is filled again, and on a small machine that costs
more than reading the bytes twice. So a chunk is read once to be hashed (through one hot
buffer), and is then handed from the page cache, which still holds the file, to the
socket by the kernel (``sendfile``, in ``direct.py``): it never passes through the
client's memory a second time.

A file that changed after it was hashed shows up as a range that ends early
(``FileChanged``) or as a hash mismatch the server reports; either way nothing wrong is
stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from filefleet.core.errors import FileChanged


@dataclass(frozen=True)
class FileRange:
    """``length`` bytes of the open file ``fd`` from ``offset``."""

    fd: int
    offset: int
    length: int

    def __len__(self) -> int:
        return self.length

    def changed(self, done: int) -> FileChanged:
        """The error for a file that ended ``done`` bytes into the range."""
        return FileChanged(
            f"the file ended {self.offset + done} bytes in, before the "
            f"{self.offset + self.length} it had when it was read: it changed"
        )
