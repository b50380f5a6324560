"""Expiry, deletion and garbage collection on a real cluster (DESIGN §6, §8; invariants 3, 5).

Fast knobs: GC every 1s with a 2s grace, nodes ping every 200ms, node TTL 1s, 64 KiB
chunks so a small file has several chunks spread over the nodes. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from filefleet.core import ids
from filefleet.gc.collecting import delete_replica
from filefleet.gc.fleet import GCCounts
from filefleet.gc.worker import GarbageCollector
from filefleet.http.client import HttpClient
from filefleet.http.controller_api import ControllerClient
from filefleet.http.node_api import NodeClient
from tests.harness.cluster import FAST_NODE, SECRET, Cluster, Node, http
from tests.harness.processes import ProcessGroup, wait_for
from tests.harness.replicators import start_replicator, wait_replicated

CHUNK = 64 * 1024
GC_KNOBS = ("--gc-interval", "1s", "--gc-grace", "2s")
DEADLINE = 30.0  # expiry + GC interval + grace, with a wide margin for a loaded machine


def fast_cluster(procs: ProcessGroup, tmp_path: Path) -> Cluster:
    return Cluster(
        procs,
        tmp_path,
        controller_args=["--node-ttl", "1s"],
        node_args=FAST_NODE,
        frontend_args=["--chunk-size", str(CHUNK)],
    ).start(nodes=3)


@pytest.fixture
def gc_cluster(procs: ProcessGroup, tmp_path: Path) -> Cluster:
    cluster = fast_cluster(procs, tmp_path)
    cluster.start_gc(*GC_KNOBS)
    return cluster


def chunk_ids(info: dict[str, object]) -> set[str]:
    return {c["id"] for c in info["chunks"]}  # type: ignore[attr-defined]


def on_disk(cluster: Cluster) -> set[str]:
    return set().union(*(n.chunk_ids() for n in cluster.nodes))


def gc_total(cluster: Cluster, counter: str) -> int:
    """A GC counter's total; totals are added up at the end of each pass."""
    return int(cluster.gc_stats()["totals"][counter])


def record_gone(cluster: Cluster, file_id: str) -> bool:
    return cluster.api("GET", f"/file/{file_id}").status == 404


def chunk_record_gone(cluster: Cluster, chunk_id: str) -> bool:
    return cluster.api("GET", f"/chunk/{chunk_id}").status == 404


def test_expired_file_is_collected_but_a_live_file_sharing_its_chunks_is_not(
    gc_cluster: Cluster,
) -> None:
    cluster = gc_cluster
    unique = os.urandom(5 * CHUNK + 100)
    shared = os.urandom(4 * CHUNK)
    gone = cluster.upload(unique, expires="2s")
    twin_short = cluster.upload(shared, expires="2s")
    twin_long = cluster.upload(shared, expires="1h")
    gone_chunks = chunk_ids(cluster.file_info(gone["id"]))
    shared_chunks = chunk_ids(cluster.file_info(twin_long["id"]))
    assert len(gone_chunks) == 6 and gone_chunks <= on_disk(cluster)
    assert cluster.download(gone["id"]).body == unique  # before expiry

    wait_for(lambda: cluster.download(gone["id"]).status in (404, 410), timeout=10, what="410")
    # Invariant 5: after expiry + GC period + grace, no chunk and no metadata remain.
    wait_for(
        lambda: record_gone(cluster, gone["id"]) and record_gone(cluster, twin_short["id"]),
        timeout=DEADLINE,
        what="the expired files' records removed",
    )
    wait_for(lambda: not gone_chunks & on_disk(cluster), timeout=DEADLINE, what="chunks gone")
    # A chunk's record goes right after its last replica (the GC deletes, then tells the
    # controller): wait for it rather than look the instant the file left the disk.
    wait_for(
        lambda: all(chunk_record_gone(cluster, c) for c in gone_chunks),
        timeout=10,
        what="the chunk records removed",
    )
    assert cluster.download(gone["id"]).status == 404  # 404 once collected
    # Invariant 3: the chunks a live file references stay, on disk and in its record.
    assert shared_chunks <= on_disk(cluster)
    assert cluster.download(twin_long["id"]).body == shared
    wait_for(
        lambda: (
            gc_total(cluster, "files_collected") >= 2 and gc_total(cluster, "chunks_deleted") >= 6
        ),
        timeout=10,
        what="the GC's counters",
    )
    # The controller keeps what the GC freed, for the status view: >= the 6 unique chunks.
    totals = cluster.api("GET", "/status").json()["totals"]
    assert totals["reclaimed_bytes"] >= len(unique)


def test_a_file_out_of_downloads_is_collected_a_grace_after_its_last_download(
    gc_cluster: Cluster,
) -> None:
    cluster = gc_cluster
    data = os.urandom(3 * CHUNK)
    once = cluster.upload(data, max_downloads="1")
    chunks = chunk_ids(cluster.file_info(once["id"]))
    assert cluster.download(once["id"]).body == data
    assert cluster.download(once["id"]).status == 410
    wait_for(lambda: record_gone(cluster, once["id"]), timeout=DEADLINE, what="record removed")
    wait_for(lambda: not chunks & on_disk(cluster), timeout=DEADLINE, what="its chunks deleted")
    assert cluster.download(once["id"]).status == 404


def test_delete_link_works_once_and_a_tampered_token_is_403(gc_cluster: Cluster) -> None:
    cluster = gc_cluster
    data = os.urandom(3 * CHUNK)
    result = cluster.upload(data)
    file_id, delete_url = result["id"], result["delete_url"]
    token = delete_url.rsplit("/", 1)[1]
    tampered = delete_url[:-1] + ("A" if token[-1] != "A" else "B")

    assert http("DELETE", tampered).status == 403
    assert cluster.file_info(file_id)["state"] == "active"  # nothing changed
    assert cluster.download(file_id).body == data
    assert http("DELETE", f"{cluster.url}/delete/{'Z' * 24}/{token}").status == 404
    assert http("DELETE", f"{cluster.url}/delete/{file_id}/bad").status == 400

    answer = http("DELETE", delete_url)
    assert answer.status == 200 and answer.json() == {"id": file_id, "deleted": True}
    assert cluster.download(file_id).status == 410
    assert http("DELETE", delete_url).status in (404, 410)  # it works once
    wait_for(lambda: record_gone(cluster, file_id), timeout=DEADLINE, what="record removed")
    assert cluster.download(file_id).status == 404

    # POST from the upload page's form answers a small page.
    other = cluster.upload(b"page delete")
    page = http("POST", other["delete_url"], headers={"Accept": "text/html"})
    assert page.status == 200 and b"File deleted" in page.body
    assert cluster.download(other["id"]).status == 410


def test_a_node_down_during_collection_gets_its_chunks_deleted_when_it_returns(
    gc_cluster: Cluster,
) -> None:
    cluster = gc_cluster
    data = os.urandom(12 * CHUNK)
    result = cluster.upload(data)
    info = cluster.file_info(result["id"])
    holders = {loc for c in info["chunks"] for loc in c["locations"]}
    down = next(n for n in cluster.nodes if n.node_id in holders)
    kept = {c["id"] for c in info["chunks"] if down.node_id in c["locations"]}
    assert down.process is not None
    down.process.stop()
    wait_for(lambda: down.node_id not in cluster.active_node_ids(), timeout=10, what="inactive")

    assert http("DELETE", result["delete_url"]).status == 200
    # The record goes once every replica on an active node is deleted; the down node's
    # replicas stay pending (on its disk, and listed on the chunk records).
    wait_for(lambda: record_gone(cluster, result["id"]), timeout=DEADLINE, what="record gone")
    others = set().union(*(n.chunk_ids() for n in cluster.nodes if n is not down))
    assert not chunk_ids(info) & others
    assert kept <= down.chunk_ids()
    wait_for(lambda: gc_total(cluster, "deletes_pending") >= 1, timeout=10, what="pending")
    assert not any(chunk_record_gone(cluster, c) for c in kept)

    cluster.start_node(down)
    wait_for(lambda: not kept & down.chunk_ids(), timeout=DEADLINE, what="pending deletes done")
    wait_for(
        lambda: all(chunk_record_gone(cluster, c) for c in kept),
        timeout=DEADLINE,
        what="chunk records removed",
    )


def test_a_replica_lost_from_a_disk_is_found_and_restored(gc_cluster: Cluster) -> None:
    """A chunk file gone from a node's disk without the controller hearing of it (a wiped
    or replaced disk, a late delete): the GC's sweep finds the false location and drops
    it, and repair copies the chunk back, without any read or operator action."""
    cluster = gc_cluster
    replicator = start_replicator(cluster, "--repair-interval", "1s")
    data = os.urandom(6 * CHUNK)
    result = cluster.upload(data)
    wait_replicated(cluster, [result["id"]])
    chunk = cluster.file_info(result["id"])["chunks"][2]
    victim = next(n for n in cluster.nodes if n.node_id == chunk["locations"][0])
    victim.chunk_path(chunk["id"]).unlink()

    wait_for(lambda: gc_total(cluster, "lost_replicas") >= 1, timeout=DEADLINE, what="found")
    wait_replicated(cluster, [result["id"]], timeout=DEADLINE)
    holders = [n for n in cluster.nodes if chunk["id"] in n.chunk_ids()]
    assert len(holders) >= 2  # really on two disks again, not just listed
    assert replicator.stats()["repaired"] >= 1
    assert cluster.download(result["id"]).body == data


def test_an_interrupted_upload_is_collected_after_the_grace(gc_cluster: Cluster) -> None:
    cluster = gc_cluster
    sent = os.urandom(8 * CHUNK)
    head = (
        f"POST /upload?name=cut.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {64 * CHUNK}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", cluster.frontend_port), timeout=10) as sock:
        sock.sendall(head + sent)

        def uploading() -> list[dict[str, object]]:
            files: list[dict[str, object]] = cluster.api("GET", "/files?state=uploading").json()[
                "files"
            ]
            return [f for f in files if f["chunks"]]

        stuck = wait_for(uploading, timeout=10, what="an uploading record with chunks")[0]
    # The client is gone (killed mid-way): the record stays `uploading`, never served ...
    file_id = str(stuck["id"])
    assert cluster.download(file_id).status == 404
    stored = chunk_ids(cluster.file_info(file_id))
    assert stored and stored <= on_disk(cluster)
    # ... and once untouched for longer than the grace it is collected, chunks and record.
    wait_for(lambda: record_gone(cluster, file_id), timeout=DEADLINE, what="record removed")
    sent_chunks = {
        hashlib.sha256(sent[i : i + CHUNK]).hexdigest() for i in range(0, 8 * CHUNK, CHUNK)
    }
    wait_for(
        lambda: not sent_chunks & on_disk(cluster), timeout=DEADLINE, what="its chunks deleted"
    )


def test_orphan_chunks_are_deleted_after_the_grace(gc_cluster: Cluster) -> None:
    cluster = gc_cluster
    orphan = os.urandom(1000)
    orphan_id = hashlib.sha256(orphan).hexdigest()
    node = cluster.nodes[0]
    answer = http(
        "POST",
        f"{node.url}/chunk?hash={orphan_id}",
        orphan,
        {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/octet-stream"},
    )
    assert answer.status == 201
    live = cluster.upload(os.urandom(2 * CHUNK))
    wait_for(lambda: orphan_id not in node.chunk_ids(), timeout=DEADLINE, what="orphan deleted")
    wait_for(lambda: gc_total(cluster, "orphans_deleted") >= 1, timeout=10, what="counted")
    assert cluster.download(live["id"]).status == 200  # a live file's chunks are no orphans
    assert chunk_ids(cluster.file_info(live["id"])) <= on_disk(cluster)


# --- the upload-vs-GC race (DESIGN §8), with the GC driven pass by pass in this process ---


@contextlib.asynccontextmanager
async def in_process_gc(cluster: Cluster, grace: float) -> AsyncIterator[GarbageCollector]:
    async with HttpClient(secret=SECRET) as client:
        controller = ControllerClient(client, [cluster.controller_url])
        yield GarbageCollector(controller, NodeClient(client), interval=1.0, grace=grace)


def older_than(nodes: list[Node], chunk: str, seconds: float) -> bool:
    """Every copy of ``chunk`` on these nodes' disks is older than ``seconds``."""
    paths = [n.chunk_path(chunk) for n in nodes if n.chunk_path(chunk).exists()]
    return bool(paths) and all(time.time() - p.stat().st_mtime > seconds for p in paths)


def store_on(node: Node, data: bytes) -> int:
    """POST /chunk straight to a node, as the frontend does; 201 new, 200 already there."""
    chunk = hashlib.sha256(data).hexdigest()
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/octet-stream"}
    return http("POST", f"{node.url}/chunk?hash={chunk}", data, headers).status


def new_record(cluster: Cluster) -> str:
    """POST /file, as the frontend does before the first chunk (state ``uploading``)."""
    file_id = ids.new_file_id()
    record = {
        "id": file_id,
        "name": "race.bin",
        "expires_at": "2099-01-01T00:00:00Z",
        "delete_token_sha256": "ab" * 32,
    }
    assert cluster.api("POST", "/file", record).status == 201
    return file_id


def append(cluster: Cluster, file_id: str, chunk: str, size: int, node: Node) -> int:
    ref = {"id": chunk, "order": 0, "size": size, "locations": [node.node_id]}
    return cluster.api("POST", f"/file/{file_id}", {"chunks": [ref]}).status


async def test_gc_pass_between_an_uploads_store_and_its_append_loses_nothing(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    cluster = fast_cluster(procs, tmp_path)
    grace = 1.0
    data = os.urandom(CHUNK)
    chunk = hashlib.sha256(data).hexdigest()
    old = cluster.upload(data)
    holder = next(n for n in cluster.nodes if chunk in n.chunk_ids())
    wait_for(lambda: older_than([holder], chunk, grace), timeout=10, what="chunk past grace")
    async with in_process_gc(cluster, grace) as gc:
        controller = gc.fleet.controller
        # Step 1: the mark is refused while a live file references the chunk.
        assert not await controller.mark_collecting(chunk, grace)
        assert http("DELETE", old["delete_url"]).status == 200

        # An upload of the same bytes: record, store (the node has it: it touches it) ...
        upload = new_record(cluster)
        assert store_on(holder, data) == 200
        # ... and here, between its store and its append, a GC pass runs.
        counts = await gc.run_once()
        # Step 1 marked the chunk (no live file uses it yet); step 3: the node refused the
        # delete (touched within the grace), so the location stays and the file stays.
        assert counts["conflicts"] >= 1 and counts["chunks_deleted"] == 0, counts
        assert counts["files_collected"] == 0
        assert chunk in holder.chunk_ids()
        state = cluster.api("GET", f"/chunk/{chunk}").json()
        assert state["collecting"] and holder.node_id in state["locations"]

        # Step 2: the append of a chunk being collected is a 409 and clears the mark; the
        # uploader stores it again and appends again.
        assert append(cluster, upload, chunk, len(data), holder) == 409
        assert not cluster.api("GET", f"/chunk/{chunk}").json()["collecting"]
        assert store_on(holder, data) == 200
        assert append(cluster, upload, chunk, len(data), holder) == 200
        finish = {"state": "active", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        assert cluster.api("POST", f"/file/{upload}", finish).status == 200

        # The next pass collects the deleted file but not the chunk the upload now uses.
        wait_for(lambda: older_than([holder], chunk, grace), timeout=10, what="past grace")
        counts = await gc.run_once()
        assert counts["files_collected"] == 1 and counts["chunks_deleted"] == 0, counts
        assert chunk in holder.chunk_ids()
        assert cluster.download(upload).body == data

        # Step 3's re-check: a chunk claimed by an append after the mark is not deleted.
        other = os.urandom(CHUNK)
        other_chunk = hashlib.sha256(other).hexdigest()
        doomed = cluster.upload(other)
        other_holder = next(n for n in cluster.nodes if other_chunk in n.chunk_ids())
        assert http("DELETE", doomed["delete_url"]).status == 200
        wait_for(lambda: older_than([other_holder], other_chunk, grace), timeout=10, what="old")
        assert await controller.mark_collecting(other_chunk, grace)
        claimer = new_record(cluster)
        assert append(cluster, claimer, other_chunk, len(other), other_holder) == 409
        await gc.fleet.refresh_nodes()
        step = GCCounts()
        outcome = await delete_replica(gc.fleet, other_chunk, other_holder.node_id, step)
        assert outcome == "claimed" and step.conflicts == 1
        assert other_chunk in other_holder.chunk_ids()

        # And once nothing live uses a chunk and the grace has passed, it does go.
        assert http("DELETE", f"{cluster.url}/delete/{upload}/x").status == 400
        await controller.mark_deleting(upload)
        counts = await gc.run_once()
        assert counts["files_collected"] >= 1 and counts["chunks_deleted"] >= 1, counts
        assert chunk not in holder.chunk_ids()
        assert cluster.api("GET", f"/chunk/{chunk}").status == 404


async def test_concurrent_uploads_of_a_file_being_collected_never_lose_a_chunk(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    cluster = fast_cluster(procs, tmp_path)
    grace = 1.0
    data = os.urandom(6 * CHUNK)
    chunks = {hashlib.sha256(data[i : i + CHUNK]).hexdigest() for i in range(0, len(data), CHUNK)}
    previous = [cluster.upload(data)]
    async with in_process_gc(cluster, grace) as gc:
        # At least 3 rounds, and more (up to 8) until the GC has met the uploads at least
        # once: on a loaded machine the uploads can win every race of a round cleanly.
        rounds = 0
        while rounds < 3 or (met(gc.totals) == 0 and rounds < 8):
            rounds += 1
            # Each round: every earlier copy is deleted and old enough to collect, then
            # uploads of the same bytes race a GC running pass after pass.
            for result in previous:
                assert http("DELETE", result["delete_url"]).status == 200
            wait_for(
                lambda: all(older_than(cluster.nodes, c, grace) for c in chunks),
                timeout=10,
                what="chunks past the grace",
            )
            uploads = [
                asyncio.create_task(asyncio.to_thread(cluster.upload, data)) for _ in range(4)
            ]
            while not all(u.done() for u in uploads):
                await gc.run_once()
            previous = [await u for u in uploads]
            # Invariant 3: every file whose upload returned a link downloads identical.
            for result in previous:
                assert cluster.download(result["id"]).body == data
            assert chunks <= on_disk(cluster)
        await gc.run_once()
        for result in previous:
            assert cluster.download(result["id"]).body == data
    assert gc.totals.files_collected >= 1, gc.totals
    # The GC did meet the uploads: it deleted replicas or was refused / pre-empted.
    assert met(gc.totals) > 0, gc.totals


def met(totals: GCCounts) -> int:
    """How often the GC deleted a replica or was refused one (it met an upload)."""
    return totals.chunks_deleted + totals.conflicts
