"""The rule of password links, on the controller: is this the file's password?

One check, in order, and what each step leaves behind:
1. reserve a try on the file (``core/passwords.take_try``, under ``change_file``'s lock):
   within a window of a minute at most ten are let through; the eleventh is refused
   (``TooManyTries``, 429 with the seconds left) without looking at the candidate;
2. hash the candidate with the stored hash's salt and compare (scrypt: ~40 ms of CPU, in a
   worker thread, so the event loop keeps serving);
3. right: the reserved try is given back (a right password never uses up the limit);
   wrong: it stays counted (``PasswordWrong``, 401).
A crash between 1 and 3 leaves one try counted that may have been right: it lapses with
the window. The candidate is never stored nor logged.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from filefleet.core.errors import PasswordWrong, TooManyTries
from filefleet.core.models import PasswordAccepted
from filefleet.core.passwords import (
    MAX_WRONG_TRIES,
    TRY_WINDOW,
    TryTaken,
    give_back,
    take_try,
    verify_password,
)
from filefleet.store.base import MetadataStore


class PasswordCheck:
    """Checks candidates against the files of ``store`` (whose clock times the windows)."""

    def __init__(
        self, store: MetadataStore, *, limit: int = MAX_WRONG_TRIES, window: float = TRY_WINDOW
    ) -> None:
        self.store = store
        self.limit = limit
        self.window = window

    async def check(self, file_id: str, candidate: str) -> PasswordAccepted:
        """Accepted if ``candidate`` opens the file (or it has no password); else raise
        PasswordWrong, or TooManyTries once the wrong tries of the window are used up.
        NotFound for an unknown file."""
        stored, taken = await self.reserve(file_id)
        if stored is None:
            return PasswordAccepted(id=file_id, ok=True)
        if not taken.allowed:
            raise TooManyTries(
                f"too many wrong passwords for file {file_id}: try again in {taken.retry_after} s",
                taken.retry_after,
            )
        if await asyncio.to_thread(verify_password, stored, candidate):
            assert taken.count.since is not None
            await self.give_back(file_id, taken.count.since)
            return PasswordAccepted(id=file_id, ok=True)
        raise PasswordWrong(f"wrong password for file {file_id}")

    async def reserve(self, file_id: str) -> tuple[str | None, TryTaken]:
        """The file's password hash (None: it has none) and one try reserved on it, counted
        with the row locked so the limit holds across controllers. A refused try, or a
        try on a file without a password, counts nothing. NotFound if unknown."""
        async with self.store.change_file(file_id) as change:
            stored, count = change.row.password_hash, change.row.password_tries
            if stored is None:
                return None, TryTaken(True, count)
            taken = take_try(count, change.now, limit=self.limit, window=self.window)
            if taken.allowed:
                await change.count_password_tries(taken.count)
            return stored, taken

    async def give_back(self, file_id: str, since: datetime) -> None:
        """A try reserved in the window opened at ``since`` was right: it stops counting."""
        async with self.store.change_file(file_id) as change:
            after = give_back(change.row.password_tries, since)
            if after != change.row.password_tries:
                await change.count_password_tries(after)
