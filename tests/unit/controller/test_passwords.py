"""The controller's password rule, without a server: a SQLite store in a temp dir and a
clock the test moves by hand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from filefleet.controller.passwords import PasswordCheck
from filefleet.core.errors import NotFound, PasswordWrong, TooManyTries
from filefleet.core.models import FileCreate
from filefleet.core.passwords import hash_password
from filefleet.store.sql import SqlStore, open_store
from tests.contract.test_store import Clock

FILE = "protected-file-0123456789"
PLAIN = "unprotected-file-0123456"


@pytest.fixture
def clock() -> Clock:
    """The moment the store sees; a test moves it by hand."""
    return Clock()


@pytest.fixture
async def store(tmp_path: Path, clock: Clock) -> AsyncIterator[SqlStore]:
    opened = await open_store(f"sqlite:///{tmp_path}/meta.db", clock=clock)
    for file_id, password in ((FILE, "open sesame"), (PLAIN, None)):
        await opened.create_file(
            FileCreate(
                id=file_id, name="secret.txt", expires_at=clock() + timedelta(days=1),
                delete_token_sha256="ab" * 32,
                password_hash=hash_password(password) if password else None,
            )
        )  # fmt: skip
    try:
        yield opened
    finally:
        await opened.close()


async def test_the_right_password_opens_the_file_however_often(store: SqlStore) -> None:
    check = PasswordCheck(store)
    for _ in range(15):  # more than the limit: right tries do not count
        await check.check(FILE, "open sesame")


async def test_a_file_without_password_opens_with_anything(store: SqlStore) -> None:
    await PasswordCheck(store).check(PLAIN, "whatever")


async def test_ten_wrong_tries_then_429_until_the_minute_is_over(
    store: SqlStore, clock: Clock
) -> None:
    check = PasswordCheck(store)
    for _ in range(10):
        with pytest.raises(PasswordWrong, match="wrong password"):
            await check.check(FILE, "guess")
        clock.now += timedelta(seconds=1)
    # The 11th try within the minute is refused, the right password too: nothing is
    # checked until the window that opened with the first wrong try is over.
    with pytest.raises(TooManyTries) as refused:
        await check.check(FILE, "open sesame")
    assert refused.value.retry_after == 50 and refused.value.status == 429
    clock.now += timedelta(seconds=49.5)
    with pytest.raises(TooManyTries) as refused:
        await check.check(FILE, "guess")
    assert refused.value.retry_after == 1
    clock.now += timedelta(seconds=0.5)
    await check.check(FILE, "open sesame")


async def test_concurrent_wrong_tries_never_pass_the_limit(store: SqlStore) -> None:
    check = PasswordCheck(store)
    outcomes = await asyncio.gather(
        *(check.check(FILE, f"guess {n}") for n in range(14)), return_exceptions=True
    )
    assert sum(isinstance(o, PasswordWrong) for o in outcomes) == 10
    assert sum(isinstance(o, TooManyTries) for o in outcomes) == 4


async def test_an_unknown_file_is_not_found(store: SqlStore) -> None:
    with pytest.raises(NotFound):
        await PasswordCheck(store).check("no-such-file-00000000", "x")
