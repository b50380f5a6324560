"""`filefleet status`: the fleet at a glance, as tables.

Nodes (active or dead, free space, chunks, last ping), chunks below R, dead letters of the
replicate queue, files by state, and a one-line verdict with the share of chunks of live
files at full replication (the "dispersion" number an operator looks at first).

With no ``--controller`` it reads ``<data>/cluster.json`` (written by ``filefleet up``)
for the controller's URL, the secret and the queue.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from filefleet.cli.common import fail
from filefleet.core.errors import FilefleetError
from filefleet.core.models import ChunkInfo, NodeStatus
from filefleet.http.client import HttpClient, RetryPolicy
from filefleet.http.controller_api import ControllerClient
from filefleet.queue.base import DeadLetter
from filefleet.queue.factory import open_queue
from filefleet.runtime.settings import default_data_dir

BELOW_LIMIT = 1000
MAX_FILE_PAGES = 100  # x 1000 files
QUICK = RetryPolicy(attempts=2, base_delay=0.1, max_delay=0.3)


@dataclass
class Snapshot:
    nodes: list[NodeStatus]
    below: list[ChunkInfo]
    states: Counter[str]
    live_chunks: int
    dead_letters: list[DeadLetter] = field(default_factory=list)
    queue_error: str | None = None

    def replicated_share(self) -> float:
        if not self.live_chunks:
            return 1.0
        return max(0.0, (self.live_chunks - len(self.below)) / self.live_chunks)


def cluster_target(data: Path | None) -> dict[str, Any]:
    path = (data or default_data_dir()) / "cluster.json"
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        fail(f"no {path}: is `filefleet up` running there? Or pass --controller URL")
    except ValueError as exc:
        fail(f"{path} is not valid JSON: {exc}")
    return manifest


async def take_snapshot(controller: ControllerClient, queue_url: str | None) -> Snapshot:
    nodes = await controller.all_nodes()
    below = await controller.under_replicated(limit=BELOW_LIMIT)
    states: Counter[str] = Counter()
    live: set[str] = set()
    after = None
    for _ in range(MAX_FILE_PAGES):
        page = await controller.list_files(after=after, limit=1000)
        for info in page.files:
            states[info.state] += 1
            if info.state != "deleting":
                live.update(c.id for c in info.chunks)
        after = page.next
        if after is None:
            break
    snapshot = Snapshot(nodes, below, states, len(live))
    if queue_url:
        await read_dead_letters(snapshot, queue_url)
    return snapshot


async def read_dead_letters(snapshot: Snapshot, queue_url: str) -> None:
    try:
        queue = open_queue(queue_url)
        try:
            snapshot.dead_letters = await asyncio.wait_for(queue.dead_letters(20), timeout=5)
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
    nodes = Table(title="Nodes")
    for column in ("node", "url", "state", "free", "capacity", "chunks", "last ping"):
        nodes.add_column(column)
    for n in snapshot.nodes:
        state = "[green]active[/]" if n.active else "[red]dead[/]"
        nodes.add_row(n.id[:12], n.url, state, _mib(n.free), _mib(n.capacity), str(n.chunks),
                      _age(n.last_ping))  # fmt: skip
    console.print(nodes)

    below = Table(title=f"Chunks below R ({len(snapshot.below)})")
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
    files.add_column("state")
    files.add_column("files")
    for state in ("uploading", "active", "deleting"):
        files.add_row(state, str(snapshot.states.get(state, 0)))
    console.print(files)
    console.print(verdict(snapshot))


def verdict(snapshot: Snapshot) -> str:
    active = sum(n.active for n in snapshot.nodes)
    share = snapshot.replicated_share() * 100
    more = "+" if len(snapshot.below) >= BELOW_LIMIT else ""
    healthy = not snapshot.below and not snapshot.dead_letters and active == len(snapshot.nodes)
    word = "healthy" if healthy else "degraded"
    return (
        f"{word}: {share:.1f}% of {snapshot.live_chunks} chunks at full replication; "
        f"{len(snapshot.below)}{more} below R; {active}/{len(snapshot.nodes)} nodes active; "
        f"{len(snapshot.dead_letters)} dead letters"
    )


def status(
    controller: Annotated[
        str | None, typer.Option(help="Controller URL (default: from <data>/cluster.json).")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Cluster data dir holding cluster.json.")
    ] = None,
    queue: Annotated[
        str | None, typer.Option(help="Queue URL for dead letters (default: cluster.json's).")
    ] = None,
    secret: Annotated[
        str | None, typer.Option(envvar="FILEFLEET_SECRET", help="Cluster secret.")
    ] = None,
) -> None:
    """Show nodes, chunks below R, dead letters and files, with a one-line verdict."""
    if controller is None:
        manifest = cluster_target(data)
        controller = manifest.get("services", {}).get("controller", {}).get("url")
        if not controller:
            fail("cluster.json names no controller")
        secret = secret or manifest.get("secret")
        queue = queue or manifest.get("queue")
    urls = [u.strip().rstrip("/") for u in controller.split(",") if u.strip()]

    async def snapshot() -> Snapshot:
        async with HttpClient(secret=secret, timeout=10.0, connect_timeout=2.0) as http:
            return await take_snapshot(ControllerClient(http, urls, retry=QUICK), queue)

    try:
        result = asyncio.run(snapshot())
    except FilefleetError as exc:
        fail(f"cannot read the cluster at {controller}: {exc.message}", code=1)
    render(result, Console())


def register(app: typer.Typer) -> None:
    app.command("status")(status)
