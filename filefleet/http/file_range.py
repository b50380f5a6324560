"""A request body that is a stretch of an open file, read only as it is sent.

``filefleet share`` hashes a file and then sends its chunks. Holding every hashed chunk in
its own buffer until it is sent means cycling through tens of megabytes: each buffer has
left the CPU's cache by the time it is filled again, and on a small machine that costs
more than reading the bytes twice. So a chunk is read once to be hashed (through one hot
buffer), and again, slice by slice, just before each slice goes to the socket: the page
cache still holds the file, and the slice buffer is the one the last slice used.

A file that changed after it was hashed shows up as a slice shorter than promised
(``FileChanged``) or as a hash mismatch the server reports; either way nothing wrong is
stored.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from filefleet.core.errors import InvalidInput


class FileChanged(InvalidInput):
    """The file is shorter than when it was read: its bytes cannot be sent as hashed."""


@dataclass(frozen=True)
class FileRange:
    """``length`` bytes of the open file ``fd`` from ``offset``."""

    fd: int
    offset: int
    length: int

    def __len__(self) -> int:
        return self.length

    def slices(self, buffer: bytearray) -> Iterator[memoryview]:
        """The range, one ``len(buffer)`` slice at a time, each read into ``buffer`` (so a
        slice is valid until the next one is asked for)."""
        view = memoryview(buffer)
        done = 0
        while done < self.length:
            want = min(len(view), self.length - done)
            got = os.preadv(self.fd, [view[:want]], self.offset + done)
            if got <= 0:
                raise FileChanged(
                    f"the file ended {self.offset + done} bytes in, before the "
                    f"{self.offset + self.length} it had when it was read: it changed"
                )
            done += got
            yield view[:got]

    def read(self) -> bytes:
        """The whole range in one new bytes object (for senders that need one)."""
        return b"".join(bytes(piece) for piece in self.slices(bytearray(min(self.length, 1 << 20))))
