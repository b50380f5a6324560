"""A PostgreSQL server of the test's own, from Debian's binaries, to restart, crash and fail
over without touching the machine's server on 5432.

``private_postgres(procs)`` runs ``initdb`` in a temp dir (as the ``postgres`` user when the
test runs as root: PostgreSQL refuses root), starts the server on a free loopback port and
creates the ``filefleet`` database. ``add_sync_standby(primary)`` copies it with
``pg_basebackup -R``, starts the copy as a streaming hot standby and makes it the primary's
synchronous standby (``synchronous_standby_names = '*'``, ``synchronous_commit`` on): from
then on the primary acknowledges a commit only once the standby has it, so no
acknowledged write is lost when the primary dies and the standby is promoted.

Everything is stopped (fast shutdown, then SIGKILL to the process group) and removed when
the ``with`` block ends, whatever happened.
"""

from __future__ import annotations

import contextlib
import glob
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from filefleet.runtime.ports import free_port
from tests.harness.processes import ProcessGroup, wait_for
from tests.harness.servers import ServerProcess, require_binary, run_as, server_dir, spawn_server

DATABASE = "filefleet"


def _bindir() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_version)
    postgres = require_binary("PostgreSQL server binaries", *(reversed(found) or ["postgres"]))
    return Path(postgres).parent


def _version(path: str) -> int:
    version = Path(path).parent.parent.name
    return int(version) if version.isdigit() else 0


def _server_user() -> str | None:
    return "postgres" if os.geteuid() == 0 else None


@dataclass
class PostgresServer:
    procs: ProcessGroup
    name: str
    data: Path
    bindir: Path
    port: int
    proc: ServerProcess | None = None

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> PostgresServer:
        args = [
            str(self.bindir / "postgres"),
            "-D", str(self.data),
            "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={self.data}",
            "-c", "max_connections=100",
        ]  # fmt: skip
        self.proc = spawn_server(
            self.procs, self.name, args, user=_server_user(), stop_signal=signal.SIGINT
        )
        self.proc.wait_ready(self.accepting)
        return self

    def accepting(self) -> bool:
        tool = str(self.bindir / "pg_isready")
        with contextlib.suppress(AssertionError):
            run_as(None, [tool, "-q", "-h", "127.0.0.1", "-p", str(self.port)], timeout=5)
            return True
        return False

    def stop(self) -> None:
        """Fast shutdown: open sessions are ended, the server stops at once."""
        if self.proc is not None:
            self.proc.stop()

    def crash(self) -> None:
        """SIGKILL to the postmaster and every backend: the machine is gone."""
        if self.proc is not None:
            self.proc.crash()

    def sql(self, statement: str, database: str = "postgres") -> str:
        psql = str(self.bindir / "psql")
        args = [psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        args += ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database]
        return run_as(None, [*args, "-c", statement], timeout=30).strip()

    def promote(self) -> None:
        """Make this standby the primary (what Patroni does after the leader's key expires)."""
        assert self.sql("SELECT pg_promote(true, 30)") == "t"


@dataclass
class PrivatePostgres:
    """The test's servers: ``primary`` first, then any standby or other server added."""

    procs: ProcessGroup
    root: Path
    bindir: Path
    servers: list[PostgresServer] = field(default_factory=list)

    @property
    def primary(self) -> PostgresServer:
        return self.servers[0]

    def _new(self, name: str) -> PostgresServer:
        server = PostgresServer(self.procs, name, self.root / name, self.bindir, free_port())
        self.servers.append(server)
        return server

    def add_server(self, name: str) -> PostgresServer:
        """A new server of its own (``initdb``), started, with the ``filefleet`` database."""
        server = self._new(name)
        initdb = [str(self.bindir / "initdb"), "-D", str(server.data), "-U", "postgres"]
        run_as(_server_user(), [*initdb, "--auth=trust", "--encoding=UTF8", "--no-sync"], 120)
        server.start()
        server.sql(f'CREATE DATABASE "{DATABASE}"')
        return server

    def multi_host_url(self, database: str = DATABASE) -> str:
        """libpq's form, every server, the one that takes writes chosen at connect time."""
        hosts = ",".join(server.host for server in self.servers)
        return f"postgresql://postgres@{hosts}/{database}?target_session_attrs=read-write"

    def add_sync_standby(self, name: str = "standby") -> PostgresServer:
        """A streaming hot standby of the primary, made its synchronous standby."""
        primary = self.primary
        standby = self._new(name)
        backup = [str(primary.bindir / "pg_basebackup"), "-D", str(standby.data), "-R"]
        backup += ["-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres", "-X", "stream"]
        run_as(_server_user(), [*backup, "-c", "fast", "--no-sync"], timeout=120)
        standby.start()
        # Set on the primary only, after the copy: the promoted standby must not wait for a
        # standby of its own it does not have.
        primary.sql("ALTER SYSTEM SET synchronous_standby_names = '*'")
        primary.sql("SELECT pg_reload_conf()")
        wait_for(
            lambda: primary.sql("SELECT sync_state FROM pg_stat_replication") == "sync",
            timeout=30,
            interval=0.1,
            what="the standby streaming as the primary's synchronous standby",
        )
        return standby


@contextlib.contextmanager
def private_postgres(procs: ProcessGroup) -> Iterator[PrivatePostgres]:
    """A primary with the ``filefleet`` database; every server stopped and removed after."""
    bindir = _bindir()
    with server_dir("filefleet-pg-", owner=_server_user()) as root:
        fleet = PrivatePostgres(procs, root, bindir)
        try:
            fleet.add_server("postgres")
            yield fleet
        finally:
            for server in fleet.servers:
                server.stop()
