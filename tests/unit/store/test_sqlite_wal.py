"""Switching a SQLite file to WAL while another connection holds its write lock (two
controllers starting at once on a new file): SQLite fails the pragma at once, without
its busy handler, so ``enter_wal`` waits for the lock itself."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from filefleet.store.engine import create_engine, enter_wal


@contextlib.contextmanager
def locked_for(path: Path, seconds: float) -> Iterator[sqlite3.Connection]:
    """A new connection to ``path`` while another holds its write lock for ``seconds``."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE IF NOT EXISTS t (x)")
    holder.execute("BEGIN IMMEDIATE")

    def release() -> None:
        holder.execute("ROLLBACK")
        holder.close()

    timer = threading.Timer(seconds, release)
    timer.start()
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        yield connection
    finally:
        timer.join()
        connection.close()


def test_the_switch_to_wal_waits_for_the_write_lock(tmp_path: Path) -> None:
    with locked_for(tmp_path / "meta.db", 0.3) as connection:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            connection.execute("PRAGMA journal_mode=WAL")  # what SQLite alone does
        enter_wal(connection.cursor(), timeout=10)
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_lock_held_past_the_timeout_is_still_an_error(tmp_path: Path) -> None:
    locked = locked_for(tmp_path / "meta.db", 1.0)
    with locked as connection, pytest.raises(sqlite3.OperationalError, match="locked"):
        enter_wal(connection.cursor(), timeout=0.1)


async def test_every_commit_is_on_disk_before_it_is_acknowledged(tmp_path: Path) -> None:
    """WAL with ``synchronous=FULL`` (2): each commit fsyncs the log. With NORMAL (1) a
    power loss could take back committed records: links already given out."""
    engine = create_engine(f"sqlite:///{tmp_path / 'meta.db'}")
    try:
        async with engine.connect() as conn:
            synchronous = (await conn.exec_driver_sql("PRAGMA synchronous")).scalar()
            journal = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
    finally:
        await engine.dispose()
    assert (synchronous, journal) == (2, "wal")
