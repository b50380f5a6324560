"""What ``filefleet fsck`` finds, judged from what the controller and the nodes answered.

Pure: no I/O. The command (``cli/fsck.py``) asks the controller and the nodes, and hands
every answer to a ``FleetCheck``, which counts; ``FleetCheck.report()`` is the result, the
JSON ``filefleet fsck --json`` prints (docs/operations.md pins its shape).

The words, as the report uses them:

- A *live* file is one a download may serve: state ``active``, not expired, downloads
  left (DESIGN §3, §6). Only live files are checked; the others are the GC's.
- A *replica* of a chunk is a node its record lists. It is *good* when that node is
  active, holds the chunk (its listing, or a HEAD when the listing did not show it), and,
  with ``--verify``, its bytes still hash to the id, re-hashed on the node.
- *missing*: listed on an active node that does not hold it. *corrupt*: held, but the
  bytes no longer match (``--verify``). *inactive*: listed on a node that is not active
  now, so not looked at and not counted. *unchecked*: the node is active but did not
  answer.
- A chunk is *under-replicated* with fewer than R good replicas, and *lost* with none; a
  live file with a lost chunk is *unreadable*.
- An *orphan* is a replica on an active node that no file references (no record, or a
  record no file uses): the GC deletes those once they are older than its grace.

The fleet is *clean* when every live chunk has R good replicas and every replica and node
could be checked. Orphans and replicas on inactive nodes do not make it unclean: the
first are the GC's work, and the second only matter when they leave a chunk short, which
is then counted as under-replicated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from filefleet.core.models import ChunkInfo, ChunkRef, FileInfo, NodeStatus


class Replica(StrEnum):
    """What became of one replica (a chunk id and a node its record lists)."""

    GOOD = "good"
    MISSING = "missing"
    CORRUPT = "corrupt"
    INACTIVE = "inactive"
    UNCHECKED = "unchecked"


# What to ask a node about one replica when its listing does not settle it: have it
# re-hash the chunk (--verify), or whether it holds it after all (HEAD: the listing was
# taken before the file pages were read, so a chunk stored since is not in it).
Question = Literal["verify", "confirm"]


class NodeReport(BaseModel):
    id: str
    url: str
    active: bool
    chunks: int | None = Field(None, description="Chunks its listing gave; null: not listed.")
    error: str | None = Field(None, description="Why an active node could not be checked.")


class UnreadableFile(BaseModel):
    id: str
    name: str
    size: int | None
    chunks: int
    lost_chunks: list[str] = Field(description="Its chunks with no good replica, in order.")


class FsckReport(BaseModel):
    """``filefleet fsck --json``. Chunk counts count distinct chunks of live files;
    replica counts count (chunk, node) pairs."""

    clean: bool
    replicas: int = Field(description="R, the controller's replication factor.")
    verified: bool = Field(description="Whether replicas were re-hashed (--verify).")
    files: int = Field(description="Live files checked.")
    chunks: int = Field(description="Distinct chunks of those files.")
    good_replicas: int
    under_replicated_chunks: int = Field(description="Chunks with fewer than R good replicas.")
    lost_chunks: int = Field(description="Chunks with no good replica at all.")
    missing_replicas: int
    corrupt_replicas: int
    inactive_replicas: int
    unchecked_replicas: int
    orphan_replicas: int
    unreadable_files: list[UnreadableFile]
    nodes: list[NodeReport]


def is_live(info: FileInfo, now: datetime) -> bool:
    """Whether a download may serve the file now (DESIGN §3, §6)."""
    exhausted = info.max_downloads is not None and info.downloads >= info.max_downloads
    return info.state == "active" and info.expires_at > now and not exhausted


Key = tuple[str, str]  # one replica: (chunk id, node id)


class FleetCheck:
    """One fsck run's findings, fed in this order: node listings (``listed``, or
    ``unreachable``), then page after page of files (``page``, then its ``settle`` with the
    nodes' answers to its ``questions``), then orphans (``orphan_candidates``,
    ``found_records``)."""

    def __init__(self, replicas: int, nodes: Sequence[NodeStatus], *, verify: bool) -> None:
        self.replicas = replicas
        self.verify = verify
        self.nodes = {n.id: NodeReport(id=n.id, url=n.url.rstrip("/"), active=n.active)
                      for n in nodes}  # fmt: skip
        self.held: dict[str, set[str]] = {}  # active node id -> the chunk ids it listed
        self.good: dict[str, int] = {}  # chunk id of a live file -> its good replicas
        self.replica_counts: Counter[Replica] = Counter()
        self.files = 0
        self.under_replicated = 0
        self.orphans = 0
        self.unreadable: list[UnreadableFile] = []

    # -- nodes ----------------------------------------------------------------------------

    def active_nodes(self) -> list[NodeReport]:
        return [n for n in self.nodes.values() if n.active]

    def listed(self, node_id: str, chunk_ids: Iterable[str]) -> None:
        """One page of the node's ``GET /chunks``."""
        held = self.held.setdefault(node_id, set())
        before = len(held)
        held.update(chunk_ids)
        node = self.nodes[node_id]
        node.chunks = (node.chunks or 0) + len(held) - before

    def unreachable(self, node_id: str, error: str) -> None:
        """The node failed a listing or a question: none of its replicas not judged yet is
        checked (a hung node costs one timeout, not one per replica)."""
        self.held.pop(node_id, None)
        self.nodes[node_id].error = error

    def answering(self, node_id: str) -> bool:
        """Whether the node is still asked (active, listed, and has not failed since)."""
        return node_id in self.held

    # -- files and their chunks -----------------------------------------------------------

    def page(self, files: Sequence[FileInfo]) -> PageCheck:
        """Start on one page of live files: what the listings say of each replica of the
        chunks not judged yet (chunks are shared between files, and may repeat within one),
        and the questions left for the nodes."""
        fresh: dict[str, ChunkRef] = {}
        for info in files:
            for chunk in info.chunks:
                if chunk.id not in self.good:
                    fresh.setdefault(chunk.id, chunk)
        looks = {(c.id, n): self.look(c.id, n) for c in fresh.values() for n in c.locations}
        return PageCheck(self, files, list(fresh.values()), looks)

    def look(self, chunk_id: str, node_id: str) -> Replica | Question:
        """What the listings say of one replica, or the question to ask its node."""
        node = self.nodes.get(node_id)
        if node is None or not node.active:
            return Replica.INACTIVE
        if node_id not in self.held:
            return Replica.UNCHECKED  # active, but it failed its listing or a question
        if self.verify:
            return "verify"
        return Replica.GOOD if chunk_id in self.held[node_id] else "confirm"

    def judge_chunk(self, chunk: ChunkRef, replicas: Mapping[str, Replica]) -> None:
        """Count one chunk, given what became of each replica its record lists."""
        self.replica_counts.update(replicas.values())
        good = sum(state is Replica.GOOD for state in replicas.values())
        self.good[chunk.id] = good
        if good < self.replicas:
            self.under_replicated += 1

    def judge_file(self, info: FileInfo) -> None:
        """After its chunks were judged: readable, or which of its chunks are lost."""
        self.files += 1
        lost = [c for c in dict.fromkeys(c.id for c in info.chunks) if not self.good.get(c)]
        if lost:
            self.unreadable.append(
                UnreadableFile(
                    id=info.id,
                    name=info.name,
                    size=info.size,
                    chunks=len(info.chunks),
                    lost_chunks=lost,
                )
            )

    # -- orphans --------------------------------------------------------------------------

    def orphan_candidates(self, node_id: str) -> list[str]:
        """Chunks the node holds that no live file uses: the controller is asked about
        these (``POST /chunks/lookup``); most chunks never need asking."""
        return sorted(self.held.get(node_id, set()) - self.good.keys())

    def found_records(
        self, node_id: str, asked: Sequence[str], records: Iterable[ChunkInfo]
    ) -> None:
        """The controller's records of the candidates (unknown ids have none). A chunk a
        file still uses (uploading, deleting, expired) is not an orphan."""
        used = {r.id for r in records if r.references}
        self.orphans += sum(chunk_id not in used for chunk_id in asked)
        self.held.pop(node_id, None)  # done with this node's listing

    # -- the result -----------------------------------------------------------------------

    def report(self) -> FsckReport:
        counts = self.replica_counts
        lost = sum(not good for good in self.good.values())
        nodes_answered = all(n.error is None for n in self.nodes.values())
        clean = (
            not self.under_replicated
            and not counts[Replica.MISSING]
            and not counts[Replica.CORRUPT]
            and not counts[Replica.UNCHECKED]
            and nodes_answered
        )
        return FsckReport(
            clean=clean,
            replicas=self.replicas,
            verified=self.verify,
            files=self.files,
            chunks=len(self.good),
            good_replicas=counts[Replica.GOOD],
            under_replicated_chunks=self.under_replicated,
            lost_chunks=lost,
            missing_replicas=counts[Replica.MISSING],
            corrupt_replicas=counts[Replica.CORRUPT],
            inactive_replicas=counts[Replica.INACTIVE],
            unchecked_replicas=counts[Replica.UNCHECKED],
            orphan_replicas=self.orphans,
            unreadable_files=self.unreadable,
            nodes=sorted(self.nodes.values(), key=lambda n: (not n.active, n.url)),
        )


@dataclass
class PageCheck:
    """One page of live files between ``FleetCheck.page`` and ``settle``."""

    check: FleetCheck
    files: Sequence[FileInfo]
    chunks: list[ChunkRef]
    looks: dict[Key, Replica | Question]

    @property
    def questions(self) -> list[tuple[Key, Question]]:
        return [(key, q) for key, q in self.looks.items() if not isinstance(q, Replica)]

    def settle(self, answers: Mapping[Key, Replica]) -> None:
        """Judge the chunks, given the answer to every question, then the files."""
        for chunk in self.chunks:
            replicas = {}
            for node_id in chunk.locations:
                key = (chunk.id, node_id)
                seen = self.looks[key]
                replicas[node_id] = seen if isinstance(seen, Replica) else answers[key]
            self.check.judge_chunk(chunk, replicas)
        for info in self.files:
            self.check.judge_file(info)
