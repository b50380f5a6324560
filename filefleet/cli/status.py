"""`filefleet status`: the fleet at a glance, as tables.

Nodes (active or dead, free space, chunks, last ping), chunks below R, dead letters of the
replicate queue, files by state, and a one-line verdict with the share of chunks of live
files at full replication (the "dispersion" number an operator looks at first).

Everything but the dead letters is the controller's ``GET /status`` (the same numbers and
verdict as its ``/ui`` page, ``core/health.py``); the dead letters are read from the queue.

With no ``--controller`` it reads ``<data>/cluster.json`` (written by ``filefleet up``)
for the controller's URL, the secret and the queue (``target.py``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from filefleet.cli.common import fail
from filefleet.cli.target import ControllerOption, DataOption, SecretOption, find_cluster
from filefleet.core import health
from filefleet.core.errors import FilefleetError
from filefleet.core.health import FILE_STATES, ClusterStatus
from filefleet.core.models import ChunkInfo, NodeStatus
from filefleet.http.client import HttpClient, RetryPolicy
from filefleet.http.controller_api import ControllerClient
from filefleet.http.deadlines import Deadlines
from filefleet.queue.base import DeadLetter
from filefleet.queue.factory import open_queue

if TYPE_CHECKING:
    from rich.console import Console

QUICK = RetryPolicy(attempts=2, base_delay=0.1, max_delay=0.3)
QUICK_DEADLINES = Deadlines(connect=2.0, answer=10.0, min_rate=0.0)


@dataclass
class Snapshot:
    report: ClusterStatus
    dead_letters: list[DeadLetter] = field(default_factory=list)
    queue_read: bool = False
    queue_error: str | None = None

    @property
    def nodes(self) -> list[NodeStatus]:
        return self.report.nodes

    @property
    def below(self) -> list[ChunkInfo]:
        return self.report.below


async def take_snapshot(controller: ControllerClient, queue_url: str | None) -> Snapshot:
    snapshot = Snapshot(await controller.status())
    if queue_url:
        await read_dead_letters(snapshot, queue_url)
    return snapshot


async def read_dead_letters(snapshot: Snapshot, queue_url: str) -> None:
    try:
        queue = open_queue(queue_url)
        try:
            snapshot.dead_letters = await asyncio.wait_for(queue.dead_letters(20), timeout=5)
            snapshot.queue_read = True
        finally:
            await queue.close()
    except (FilefleetError, TimeoutError) as exc:
        snapshot.queue_error = getattr(exc, "message", None) or "timed out"


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:,.0f} MiB"


def _age(moment: datetime) -> str:
    seconds = (datetime.now(UTC) - moment).total_seconds()
    return f"{seconds:.1f}s ago" if seconds < 120 else f"{seconds / 60:.0f}m ago"


def render(snapshot: Snapshot, console: Console) -> None:
    from rich.table import Table  # Rich is loaded only by the commands that print tables

    nodes = Table(title="Nodes")
    for column in ("node", "url", "state", "free", "capacity", "chunks", "last ping"):
        nodes.add_column(column)
    for n in snapshot.nodes:
        state = "[green]active[/]" if n.active else "[red]dead[/]"
        nodes.add_row(n.id[:12], n.url, state, _mib(n.free), _mib(n.capacity), str(n.chunks),
                      _age(n.last_ping))  # fmt: skip
    console.print(nodes)

    totals = snapshot.report.totals
    below = Table(title=f"Chunks below R ({totals.below})")
    for column in ("chunk", "size", "live replicas", "locations"):
        below.add_column(column)
    for c in snapshot.below[:20]:
        below.add_row(c.id[:16], str(c.size), str(c.live), str(len(c.locations)))
    console.print(below)

    dead = Table(title=f"Dead letters ({len(snapshot.dead_letters)})")
    for column in ("chunk", "attempts", "failed", "reason"):
        dead.add_column(column)
    for d in snapshot.dead_letters:
        failed = datetime.fromtimestamp(d.failed_at, UTC) if d.failed_at else None
        dead.add_row(d.event.chunk[:16], str(d.attempts), _age(failed) if failed else "?",
                     d.reason)  # fmt: skip
    console.print(dead)
    if snapshot.queue_error:
        console.print(f"[yellow]queue unreadable: {snapshot.queue_error}[/]")

    files = Table(title="Files by state")
    for column in ("state", "files", "bytes"):
        files.add_column(column)
    for state in FILE_STATES:
        counted = totals.files.get(state)
        files.add_row(state, str(counted.files if counted else 0),
                      _mib(counted.bytes if counted else 0))  # fmt: skip
    console.print(files)
    console.print(
        f"stored: {_mib(totals.replica_bytes)} in replicas of {totals.chunks} chunks; "
        f"being reclaimed: {_mib(totals.collecting_bytes)} in {totals.collecting_chunks} chunks; "
        f"reclaimed: {_mib(totals.reclaimed_bytes)}"
    )
    console.print(verdict(snapshot))


def verdict(snapshot: Snapshot) -> str:
    """The controller's verdict (``core/health.py``), with the dead letters counted in."""
    dead = len(snapshot.dead_letters) if snapshot.queue_read else None
    return health.verdict(snapshot.report.totals, snapshot.nodes, dead)


def status(
    controller: ControllerOption = None,
    data: DataOption = None,
    queue: Annotated[
        str | None, typer.Option(help="Queue URL for dead letters (default: cluster.json's).")
    ] = None,
    secret: SecretOption = None,
) -> None:
    """Show nodes, chunks below R, dead letters and files, with a one-line verdict."""
    target = find_cluster(controller, data, secret)
    queue = queue or target.queue

    async def snapshot() -> Snapshot:
        async with HttpClient(secret=target.secret, deadlines=QUICK_DEADLINES) as http:
            return await take_snapshot(ControllerClient(http, target.urls, retry=QUICK), queue)

    try:
        result = asyncio.run(snapshot())
    except FilefleetError as exc:
        fail(f"cannot read the cluster at {target.where}: {exc.message}", code=1)
    from rich.console import Console

    render(result, Console())


def register(app: typer.Typer) -> None:
    app.command("status")(status)
