"""`filefleet status [--json]`: the fleet at a glance, as tables, and an exit code.

Nodes by name (active, draining, drained or dead; problems first), the disks under them
(each filesystem once, however many nodes share it), chunks below R, dead letters of the
replicate queue, files by state, and a one-line verdict with the share of chunks of live
files at full replication (the "dispersion" number an operator looks at first). A table
longer than it shows says "first N of M".

Everything but the dead letters is the controller's ``GET /status`` (the same numbers and
verdict as its ``/ui`` page, ``core/health.py``); the dead letters are read from the queue.
With no ``--controller`` it reads ``<data>/cluster.json`` (written by ``filefleet up``)
for the controller's URL, the secret and the queue (``target.py``).

Exit status: 0 healthy; 1 degraded (a chunk below R, a known node dead and not
forgotten, or a dead letter); 2 the cluster cannot be reached (``reach.py``).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from filefleet.cli.common import fail
from filefleet.cli.node_table import (
    STATUS_COLUMNS,
    disk_rows,
    disk_summary,
    node_rows,
    table,
    title,
)
from filefleet.cli.reach import (
    CONTROLLER_HINT,
    UNREACHABLE,
    controller_http,
    unreachable,
)
from filefleet.cli.target import (
    ControllerOption,
    DataOption,
    SecretOption,
    TlsCaOption,
    find_cluster,
)
from filefleet.core import health
from filefleet.core.errors import FilefleetError
from filefleet.core.health import FILE_STATES, ClusterStatus, DeadLetterView, Disk
from filefleet.core.units import format_age, format_size
from filefleet.http.controller_api import ControllerClient
from filefleet.http.deadlines import Deadlines
from filefleet.http.retry import RetryPolicy
from filefleet.queue.factory import open_queue

if TYPE_CHECKING:
    from rich.console import Console

QUICK = RetryPolicy(attempts=2, base_delay=0.1, max_delay=0.3)
QUICK_DEADLINES = Deadlines(connect=2.0, answer=10.0, min_rate=0.0)
BELOW_SHOWN = 20  # the controller sends the first 20 chunks below R
DEAD_SHOWN = 20
DEAD_READ = 1000  # dead letters read from the queue, to count them
DEGRADED = 1


@dataclass
class Snapshot:
    report: ClusterStatus
    dead_letters: list[DeadLetterView] = field(default_factory=list)
    queue_read: bool = False
    queue_error: str | None = None

    @property
    def disks(self) -> list[Disk]:
        return health.disks(self.report.nodes)

    @property
    def dead_count(self) -> int | None:
        return len(self.dead_letters) if self.queue_read else None

    @property
    def healthy(self) -> bool:
        return health.is_healthy(self.report.totals, self.report.nodes, self.dead_count)

    @property
    def verdict(self) -> str:
        """The controller's verdict (``core/health.py``), with the dead letters counted in."""
        return health.verdict(self.report.totals, self.report.nodes, self.dead_count)

    def as_json(self) -> dict[str, Any]:
        """``GET /status``'s object with the dead letters read here, the disks, and the
        verdict counting both."""
        shown: dict[str, Any] = self.report.model_dump(mode="json")
        shown.update(
            dead_letters=[d.model_dump() for d in self.dead_letters] if self.queue_read else None,
            disks=[d.model_dump() for d in self.disks],
            healthy=self.healthy,
            verdict=self.verdict,
        )
        return shown


async def take_snapshot(controller: ControllerClient, queue_url: str | None) -> Snapshot:
    snapshot = Snapshot(await controller.status())
    if queue_url:
        await read_dead_letters(snapshot, queue_url)
    elif snapshot.report.dead_letters is not None:  # the controller read them
        snapshot.dead_letters, snapshot.queue_read = snapshot.report.dead_letters, True
    return snapshot


async def read_dead_letters(snapshot: Snapshot, queue_url: str) -> None:
    try:
        queue = open_queue(queue_url)
        try:
            letters = await asyncio.wait_for(queue.dead_letters(DEAD_READ), timeout=5)
        finally:
            await queue.close()
    except (FilefleetError, TimeoutError) as exc:
        snapshot.queue_error = getattr(exc, "message", None) or "timed out"
        return
    snapshot.dead_letters = [
        DeadLetterView(
            chunk=d.event.chunk, attempts=d.attempts, failed_at=d.failed_at, reason=d.reason
        )
        for d in letters
    ]
    snapshot.queue_read = True


def render(snapshot: Snapshot, console: Console, now: datetime) -> None:
    nodes = snapshot.report.nodes
    rows = node_rows(nodes, now, STATUS_COLUMNS)
    console.print(table(title("Nodes", len(rows), len(nodes)), STATUS_COLUMNS, rows))
    disks = snapshot.disks
    disk_columns = ("nodes", "free", "capacity", "filesystem")
    console.print(table(f"Disks ({disk_summary(disks)})", disk_columns, disk_rows(disks)))

    totals = snapshot.report.totals
    below = [
        [c.id[:16], format_size(c.size), str(c.live), str(len(c.locations))]
        for c in snapshot.report.below[:BELOW_SHOWN]
    ]
    below_columns = ("chunk", "size", "live replicas", "locations")
    # A chunk on one copy is one disk away from loss: normal for a moment after an upload,
    # until its copy lands; a count that stays up says the replicator is behind.
    heading = f"{title('Chunks below R', len(below), totals.below)}; on a single copy: "
    heading += str(totals.single_copy)
    console.print(table(heading, below_columns, below))

    console.print(table(dead_title(snapshot), ("chunk", "attempts", "failed", "reason"),
                        dead_rows(snapshot.dead_letters, now)))  # fmt: skip
    if snapshot.queue_error:
        console.print(f"[yellow]queue unreadable: {snapshot.queue_error}[/]")

    files = [
        [state, str(totals.files[state].files), format_size(totals.files[state].bytes)]
        for state in FILE_STATES
        if state in totals.files
    ]
    console.print(table("Files by state", ("state", "files", "bytes"), files))
    console.print(
        f"stored: {format_size(totals.replica_bytes)} in replicas of {totals.chunks} chunks; "
        f"being reclaimed: {format_size(totals.collecting_bytes)} in "
        f"{totals.collecting_chunks} chunks; reclaimed: {format_size(totals.reclaimed_bytes)}",
        soft_wrap=True,
    )
    console.print(snapshot.verdict, markup=False, soft_wrap=True)  # one line, for scripts


def dead_title(snapshot: Snapshot) -> str:
    letters = snapshot.dead_letters
    shown = min(len(letters), DEAD_SHOWN)
    if not snapshot.queue_read:
        return "Dead letters (not read)"
    if len(letters) >= DEAD_READ:
        return f"Dead letters (newest {shown} of {DEAD_READ} or more)"
    return title("Dead letters", shown, len(letters))


def dead_rows(letters: list[DeadLetterView], now: datetime) -> list[list[str]]:
    return [
        [d.chunk[:16], str(d.attempts), format_age(datetime.fromtimestamp(d.failed_at, UTC), now),
         d.reason]
        for d in letters[:DEAD_SHOWN]
    ]  # fmt: skip


def status(
    controller: ControllerOption = None,
    data: DataOption = None,
    queue: Annotated[
        str | None,
        typer.Option(
            envvar="FILEFLEET_QUEUE", help="Queue URL for dead letters (default: cluster.json's)."
        ),
    ] = None,
    secret: SecretOption = None,
    tls_ca: TlsCaOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", envvar="FILEFLEET_JSON", help="Print one JSON object.")
    ] = False,
) -> None:
    """Show nodes, disks, chunks below R, dead letters and files, with a one-line verdict.

    Exit status: 0 healthy, 1 degraded, 2 unreachable."""
    target = find_cluster(controller, data, secret, tls_ca)
    queue = queue or target.queue

    async def snapshot() -> Snapshot:
        async with controller_http(target, QUICK_DEADLINES) as http:
            return await take_snapshot(ControllerClient(http, target.urls, retry=QUICK), queue)

    try:
        result = asyncio.run(snapshot())
    except FilefleetError as exc:
        fail(unreachable(target.where, exc, CONTROLLER_HINT), code=UNREACHABLE)
    if as_json:
        typer.echo(json.dumps(result.as_json(), indent=2))
    else:
        from rich.console import Console

        render(result, Console(), datetime.now(UTC))
    raise typer.Exit(0 if result.healthy else DEGRADED)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
