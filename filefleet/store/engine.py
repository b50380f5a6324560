"""Opening the database: URL -> async engine, SQLite pragmas and transactions, migrations.

``sqlite:///path`` becomes ``sqlite+aiosqlite``; ``postgresql://`` becomes
``postgresql+asyncpg`` (sessions with JIT off). On SQLite every connection runs in WAL
mode with a busy timeout, and the driver's own transaction handling is switched off so
that we emit ``BEGIN`` ourselves: ``BEGIN IMMEDIATE`` for writes (the write lock is taken
up front, so a read-modify-write never fails half way with SQLITE_BUSY), plain ``BEGIN``
for reads.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from filefleet.core.errors import InvalidInput
from filefleet.store.multihost import check_session_attrs, split_hosts

WRITE = "filefleet_write"  # execution option: this transaction writes
SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x66_66_6D_65  # pg_advisory_xact_lock key: "ffme"
PG_CONNECT_TIMEOUT = 5.0  # seconds, for one connection over every host of the URL
PG_COMMAND_TIMEOUT = 30.0  # seconds, for one statement
PG_POOL_TIMEOUT = 10.0  # seconds a request waits for a free pooled connection
# SQLSTATEs after which a connection is the wrong one to keep: read_only_sql_transaction
# (a standby, or a demoted primary), admin_shutdown / crash_shutdown / cannot_connect_now.
_WRONG_SERVER = frozenset({"25006", "57P01", "57P02", "57P03"})

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def async_url(url: str) -> URL:
    """The async-driver URL for ``sqlite:///path`` or ``postgresql://...``, also libpq's
    multi-host form ``postgresql://user@host1:port1,host2:port2/db?...`` (multihost.py)."""
    several = split_hosts(url)
    text, hosts = several if several is not None else (url, [])
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError) as exc:
        raise InvalidInput(f"invalid database URL {url!r}: {exc}") from exc
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise InvalidInput(
            f"unsupported database URL {parsed.drivername}://: "
            "use sqlite:///path/meta.db or postgresql://user@host/db"
        )
    if driver.startswith("sqlite") and parsed.database in (None, "", ":memory:"):
        raise InvalidInput("SQLite needs a file: sqlite:///path/meta.db")
    if driver.startswith("postgresql"):
        check_session_attrs(parsed.query.get("target_session_attrs"))
    elif hosts:
        raise InvalidInput("only a PostgreSQL URL may name several hosts")
    parsed = parsed.set(drivername=driver)
    return parsed.update_query_pairs([("host", h) for h in hosts], append=True)


def create_engine(url: str) -> AsyncEngine:
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        assert target.database is not None
        Path(target.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(target, pool_size=8, max_overflow=8, pool_timeout=60)
        _sqlite_transactions(engine)
        return engine
    # JIT off: the controller's queries are short index lookups; when the planner
    # overestimates one (repair's candidates, see queries.repair_candidates), JIT would
    # spend ~200 ms compiling what runs in 10 ms.
    # Bounded waits: a server that is down or unreachable costs a request at most the
    # connect timeout (over every host of a multi-host URL), a statement (its COMMIT too:
    # a synchronous commit waits for the standby) at most the command timeout, and a
    # request finding the pool exhausted at most the pool timeout; each then fails as
    # Unavailable (503), which the caller may retry.
    engine = create_async_engine(
        target,
        pool_size=10,
        max_overflow=10,
        pool_timeout=PG_POOL_TIMEOUT,
        pool_pre_ping=True,
        connect_args={
            "server_settings": {"jit": "off"},
            "timeout": PG_CONNECT_TIMEOUT,
            "command_timeout": PG_COMMAND_TIMEOUT,
        },
    )
    _reconnect_after_failover(engine)
    return engine


def _reconnect_after_failover(engine: AsyncEngine) -> None:
    """A pooled connection to a server that no longer takes writes is dropped, and with it
    every connection opened before it (the pool's invalidation), so the next ones go to
    the server that does (``target_session_attrs=read-write``). The old primary of a
    failover may live on as a read-only server (restarted as a standby): its sessions
    answer "cannot execute ... in a read-only transaction" rather than closing."""

    @event.listens_for(engine.sync_engine, "handle_error")
    def on_error(context: ExceptionContext) -> None:
        sqlstate = getattr(context.original_exception, "sqlstate", None)
        if sqlstate in _WRONG_SERVER:
            context.is_disconnect = True


def _sqlite_transactions(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we send BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        enter_wal(cursor, SQLITE_BUSY_TIMEOUT_MS / 1000)
        cursor.execute("PRAGMA foreign_keys=ON")
        # Every commit fsyncs the WAL: an upload's link is given only once its record is
        # on disk, as its chunks are. (NORMAL syncs only at checkpoints, so a power loss
        # or kernel crash could take back the last seconds of acknowledged uploads.)
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def enter_wal(cursor: Any, timeout: float) -> None:
    """``PRAGMA journal_mode=WAL``, waiting up to ``timeout`` seconds for the lock it needs.

    SQLite does not call the busy handler for this pragma: while another connection holds
    a write lock (a second controller starting on the same new file, creating the schema),
    it fails at once with "database is locked" whatever ``busy_timeout`` says. So it is
    tried again, every 10 ms, until the lock is free or the timeout has passed.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def alembic_config() -> Config:
    """The Alembic configuration, built in code (no alembic.ini needed at run time)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision; safe when several controllers start at once
    (SQLite: the write lock; PostgreSQL: an advisory lock held for the transaction)."""

    def upgrade(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.execution_options(**{WRITE: True}).begin() as conn:
        await conn.run_sync(upgrade)
