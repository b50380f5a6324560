"""The fleet's health at a glance: what ``GET /status`` on the controller answers, what the
``/ui`` page and ``filefleet status`` show, and the one-line verdict they all print.

The verdict's number is the share of live chunks at full replication (Swift's dispersion
report): a live chunk belongs to an ``uploading`` or ``active`` file and is not being
collected; it is at full replication when at least R of its replicas are on nodes that
still count (DESIGN §7). Pure: no I/O here.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from filefleet.core.models import ChunkInfo, NodeStatus

FILE_STATES = ("uploading", "active", "deleting")


class StateTotals(BaseModel):
    files: int = 0
    bytes: int = Field(0, description="Sum of the files' sizes (declared, for uploads).")


class StoreTotals(BaseModel):
    """Counters one pass of small aggregate queries over the metadata store gives."""

    files: dict[str, StateTotals] = Field(description="By state: uploading, active, deleting.")
    chunks: int = Field(description="Chunk records.")
    replica_bytes: int = Field(description="Bytes the recorded replicas take on the nodes.")
    live_chunks: int = Field(description="Chunks of uploading or active files, not collected.")
    below: int = Field(description="Live chunks with fewer than R replicas that count.")
    single_copy: int = Field(
        0,
        description="Live chunks with exactly one replica that counts: one disk away from "
        "loss (normal for a moment after an upload, until the replicator's copy lands).",
    )
    collecting_chunks: int = Field(description="Chunks the GC has marked and is deleting.")
    collecting_bytes: int = Field(description="Replica bytes of those: space being reclaimed.")
    reclaimed_bytes: int = Field(0, description="Replica bytes the GC has deleted, ever.")


class ReplicationCounts(BaseModel):
    """The two counts of live chunks short of R that a metrics scrape reads (cheap: they
    look only at chunks with few locations or a location on a silent node)."""

    below: int = Field(description="Live chunks with fewer than R replicas that count.")
    single_copy: int = Field(description="Live chunks with exactly one replica that counts.")


class DeadLetterView(BaseModel):
    """A replicate event given up on (after at least 5 tries over at least a minute)."""

    chunk: str
    attempts: int
    failed_at: float = Field(description="Unix time of the last failure.")
    reason: str


class ClusterStatus(BaseModel):
    """``GET /status``: nodes, chunks below R (fewest replicas first), totals, verdict."""

    replicas: int
    nodes: list[NodeStatus]
    below: list[ChunkInfo] = Field(description="The first chunks below R, fewest first.")
    totals: StoreTotals
    replicated_share: float = Field(description="Share of live chunks at full replication.")
    healthy: bool
    verdict: str = Field(description="One line.")
    dead_letters: list[DeadLetterView] | None = Field(
        None, description="The newest dead letters; null when the controller has no --queue."
    )


class Disk(BaseModel):
    """One filesystem the nodes store on: several nodes whose data dirs share a disk report
    one ``filesystem`` id in their pings and are counted once. A node that reports none
    (an older node) is a disk of its own."""

    filesystem: str | None
    nodes: list[str] = Field(description="The nodes on it, by name (else id).")
    capacity: int = Field(description="Bytes offered: the largest figure its nodes report.")
    free: int = Field(description="Bytes free above the reserve: the largest figure reported.")


def disks(nodes: list[NodeStatus]) -> list[Disk]:
    """The distinct filesystems under ``nodes``, in the order their first node comes.

    Nodes on one disk each report that disk's size and free space (less their reserve),
    so the disk counts once, with the largest figures any of them reports (a node given
    ``--capacity`` reports its share instead: the disk then shows the largest share)."""
    found: dict[str, Disk] = {}
    for node in nodes:
        key = node.filesystem or f"node:{node.id}"
        disk = found.get(key)
        if disk is None:
            found[key] = Disk(filesystem=node.filesystem, nodes=[node.name or node.id],
                              capacity=node.capacity, free=node.free)  # fmt: skip
            continue
        disk.nodes.append(node.name or node.id)
        disk.capacity = max(disk.capacity, node.capacity)
        disk.free = max(disk.free, node.free)
    return list(found.values())


def replicated_share(totals: StoreTotals) -> float:
    if not totals.live_chunks:
        return 1.0
    return max(0.0, (totals.live_chunks - totals.below) / totals.live_chunks)


def is_healthy(totals: StoreTotals, nodes: list[NodeStatus], dead_letters: int | None) -> bool:
    return not totals.below and all(n.active for n in nodes) and not dead_letters


def verdict(totals: StoreTotals, nodes: list[NodeStatus], dead_letters: int | None) -> str:
    """``healthy: 100.0% of 42 chunks at full replication; ...``. ``dead_letters`` is None
    where the queue is not read (the controller): the line says where to see them."""
    active = sum(n.active for n in nodes)
    word = "healthy" if is_healthy(totals, nodes, dead_letters) else "degraded"
    letters = (
        "dead letters: not read (controller without --queue; see `filefleet status`)"
        if dead_letters is None
        else f"{dead_letters} dead letters"
    )
    return (
        f"{word}: {replicated_share(totals) * 100:.1f}% of {totals.live_chunks} chunks at full "
        f"replication; {totals.below} below R; {active}/{len(nodes)} nodes active; {letters}"
    )


def cluster_status(
    replicas: int,
    nodes: list[NodeStatus],
    below: list[ChunkInfo],
    totals: StoreTotals,
    dead_letters: list[DeadLetterView] | None = None,
) -> ClusterStatus:
    dead = None if dead_letters is None else len(dead_letters)
    return ClusterStatus(
        replicas=replicas,
        nodes=nodes,
        below=below,
        totals=totals,
        replicated_share=replicated_share(totals),
        healthy=is_healthy(totals, nodes, dead),
        verdict=verdict(totals, nodes, dead),
        dead_letters=dead_letters,
    )
