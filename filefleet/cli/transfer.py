"""What the client commands (share, get, delete) share: the HTTP client, the progress bar,
the resume state kept under the user's cache directory, and errors without tracebacks."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from filefleet.cli.common import fail
from filefleet.cli.reach import (
    FAILED,
    FIRST_CONTACT,
    INTERRUPTED,
    SERVER_HINT,
    UNREACHABLE,
    no_answer,
    unreachable,
)
from filefleet.core.errors import FilefleetError
from filefleet.fastpath.eventloop import install_uvloop
from filefleet.http.client import HttpClient
from filefleet.http.deadlines import CLIENT
from filefleet.http.retry import RetryPolicy

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

T = TypeVar("T")

# A client that has reached its server rides out a restart of it or a short network cut
# before giving up; run the same command again to resume after that. Until the server
# has answered once, nothing answering is said within two seconds (``reach.py``).
CLIENT_RETRY = RetryPolicy(attempts=8, base_delay=0.2, max_delay=5.0)


def client(tls_ca: Path | None = None) -> HttpClient:
    return HttpClient(
        deadlines=CLIENT, retry=CLIENT_RETRY, first_contact=FIRST_CONTACT, tls_ca=tls_ca
    )


class NoProgress:
    """What ``progress_bar(False)`` gives (``--json``): the calls a bar takes, showing
    nothing, so a command whose output is read by a script does not load Rich at all
    (~40 ms of a command's start-up)."""

    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, **fields: Any) -> TaskID:
        return cast("TaskID", 0)

    def advance(self, task: TaskID, advance: float) -> None:
        return None

    def update(self, task: TaskID, **fields: Any) -> None:
        return None


class ShownProgress(NoProgress):
    """A Rich progress bar that appears with its first task: a command that fails before
    it has anything to show (the server does not answer) prints its one error line and
    nothing else."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.started = False

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.progress.stop()

    def add_task(self, description: str, **fields: Any) -> TaskID:
        if not self.started:
            self.progress.start()
            self.started = True
        return self.progress.add_task(description, **fields)

    def advance(self, task: TaskID, advance: float) -> None:
        self.progress.advance(task, advance)

    def update(self, task: TaskID, **fields: Any) -> None:
        self.progress.update(task, **fields)


def progress_bar(enabled: bool, *, counting: bool = False) -> NoProgress:
    """A Rich progress bar on stderr (imported here: services never load Rich), or, when
    nothing is to be shown, one that shows nothing without loading Rich. It counts bytes
    (size and speed), or with ``counting`` things (``3/10``)."""
    if not enabled:
        return NoProgress()
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    amounts = (
        [MofNCompleteColumn(), TimeElapsedColumn()]
        if counting
        else [DownloadColumn(binary_units=True), TransferSpeedColumn(), TimeRemainingColumn()]
    )
    return ShownProgress(
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            *amounts,
            TextColumn("{task.fields[note]}"),
            console=Console(stderr=True),
            transient=False,
        )
    )


def run_command(work: Callable[[], Awaitable[T]], server: str) -> T:
    """Run a client command talking to ``server``: a FilefleetError or Ctrl-C ends it with
    a one-line message and its exit code (``reach.py``), no traceback."""
    install_uvloop()
    try:
        return asyncio.run(_closing(work))
    except FilefleetError as exc:
        if no_answer(exc):
            fail(unreachable(server, exc, SERVER_HINT), code=UNREACHABLE)
        fail(exc.message, code=FAILED)
    except OSError as exc:  # a local file: unreadable, not writable, disk full
        where = f"{exc.filename}: " if exc.filename else ""
        fail(f"{where}{exc.strerror or exc}", code=FAILED)
    except KeyboardInterrupt:
        fail("interrupted; run the same command again to resume", code=INTERRUPTED)


async def _closing(work: Callable[[], Awaitable[T]]) -> T:
    return await work()


def cache_dir() -> Path:
    base = os.environ.get("FILEFLEET_CACHE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "filefleet"


class ShareState:
    """Where an interrupted ``share`` of one file stands: the upload id and delete token.

    Keyed by server, absolute path, size and modification time, so a changed file starts
    a new upload instead of resuming the old one; ``variant`` keeps apart uploads of the
    same file in another form (``e2e``: encrypted, whose state also holds its key).
    """

    def __init__(self, server: str, path: Path, variant: str = "") -> None:
        stat = path.stat()
        self.size = stat.st_size
        key = f"{server}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        key += f"|{variant}" if variant else ""
        self.path = cache_dir() / "uploads" / (hashlib.sha256(key.encode()).hexdigest() + ".json")

    def load(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds the token
        with os.fdopen(fd, "w") as out:
            json.dump(state, out)
        os.replace(tmp, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
