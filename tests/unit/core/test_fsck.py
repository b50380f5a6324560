"""fsck's judgement (``core/fsck.py``) from given answers of the controller and the nodes:
which replicas are good, what is counted, which files cannot be read, and the JSON shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from filefleet.core.fsck import FleetCheck, Replica, UnreadableFile, is_live
from filefleet.core.models import ChunkInfo, ChunkRef, FileInfo, NodeStatus

Answers = dict[tuple[str, str], Replica]
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
N1, N2, N3, DEAD = "1" * 32, "2" * 32, "3" * 32, "d" * 32
C1, C2, C3, C4 = "a" * 64, "b" * 64, "c" * 64, "e" * 64


def node(node_id: str, active: bool = True) -> NodeStatus:
    return NodeStatus(id=node_id, url=f"http://{node_id[:4]}:1/", last_ping=NOW, capacity=10,
                      free=5, chunks=0, active=active)  # fmt: skip


def file(file_id: str, *chunks: tuple[str, list[str]], **fields: object) -> FileInfo:
    refs = [ChunkRef(id=c, order=i, size=10, locations=locs) for i, (c, locs) in enumerate(chunks)]
    record: dict[str, object] = {
        "id": file_id,
        "name": f"{file_id}.bin",
        "size": 10 * len(chunks),
        "sha256": "f" * 64,
        "content_type": "application/octet-stream",
        "uploaded_at": NOW - timedelta(hours=1),
        "expires_at": NOW + timedelta(days=1),
        "state": "active",
        "max_downloads": None,
        "downloads": 0,
        "chunks": refs,
    }
    return FileInfo.model_validate(record | fields)


def record(chunk_id: str, references: int) -> ChunkInfo:
    return ChunkInfo(id=chunk_id, size=10, locations=[], live=0, references=references,
                     collecting=False)  # fmt: skip


def fleet(*, verify: bool = False) -> FleetCheck:
    check = FleetCheck(2, [node(N1), node(N2), node(N3), node(DEAD, active=False)], verify=verify)
    check.listed(N1, [C1, C2])
    check.listed(N2, [C1, C2, C3])
    check.listed(N3, [C3])
    return check


def judge(check: FleetCheck, files: list[FileInfo], answers: Answers) -> None:
    """One page, as ``cli/fsck.py`` runs it, the nodes' answers given: every question
    asked must be answered, and none other."""
    page = check.page(files)
    assert {key for key, _ in page.questions} == set(answers)
    page.settle(answers)


def test_a_whole_fleet_is_clean_and_needs_no_question() -> None:
    check = fleet()
    files = [
        file("one-file-00000001", (C1, [N1, N2]), (C2, [N1, N2])),
        file("two-file-00000002", (C1, [N1, N2]), (C3, [N2, N3])),  # shares C1
        file("empty-file-000003"),
    ]
    judge(check, files, {})  # every replica in its node's listing
    report = check.report()
    assert report.clean and (report.files, report.chunks, report.good_replicas) == (3, 3, 6)
    assert report.under_replicated_chunks == report.missing_replicas == 0
    assert report.unreadable_files == []
    assert [(n.id, n.chunks) for n in report.nodes if n.active] == [(N1, 2), (N2, 3), (N3, 1)]


def test_a_replica_the_listing_lacks_is_confirmed_and_counted_missing() -> None:
    check = fleet()
    f = file("one-file-00000001", (C1, [N1, N3]))  # N3 did not list C1
    assert check.page([f]).questions == [((C1, N3), "confirm")]
    judge(check, [f], {(C1, N3): Replica.MISSING})
    report = check.report()
    assert (report.missing_replicas, report.good_replicas) == (1, 1)
    assert report.under_replicated_chunks == 1 and report.lost_chunks == 0
    assert not report.clean and report.unreadable_files == []


def test_a_chunk_stored_after_the_listing_is_good_once_confirmed() -> None:
    check = fleet()
    judge(check, [file("one-file-00000001", (C4, [N1, N2]))],
          {(C4, N1): Replica.GOOD, (C4, N2): Replica.GOOD})  # fmt: skip
    assert check.report().clean


def test_verify_asks_every_replica_on_an_active_listed_node() -> None:
    check = fleet(verify=True)
    f = file("one-file-00000001", (C1, [N1, N2, DEAD]))
    assert check.page([f]).questions == [((C1, N1), "verify"), ((C1, N2), "verify")]
    judge(check, [f], {(C1, N1): Replica.GOOD, (C1, N2): Replica.CORRUPT})
    report = check.report()
    assert report.verified and report.corrupt_replicas == 1 and report.inactive_replicas == 1
    assert report.good_replicas == 1 and report.under_replicated_chunks == 1
    assert not report.clean and report.unreadable_files == []


def test_replicas_on_inactive_nodes_do_not_count_toward_r() -> None:
    check = fleet()
    judge(check, [file("one-file-00000001", (C1, [N1, DEAD]))], {})
    report = check.report()
    assert (report.good_replicas, report.inactive_replicas) == (1, 1)
    assert report.under_replicated_chunks == 1 and not report.clean


def test_a_node_that_does_not_answer_leaves_its_replicas_unchecked() -> None:
    check = fleet()
    check.unreachable(N2, "timed out")
    assert not check.answering(N2) and check.look(C1, N2) is Replica.UNCHECKED
    judge(check, [file("one-file-00000001", (C1, [N1, N2]))], {})
    report = check.report()
    assert report.unchecked_replicas == 1 and not report.clean
    assert [n.error for n in report.nodes if n.id == N2] == ["timed out"]


def test_a_file_with_a_chunk_without_good_replica_is_unreadable() -> None:
    check = fleet()
    lost = file("lost-file-0000001", (C1, [N1, N2]), (C4, [N3]), (C4, [N3]))
    sharing = file("sharing-file-0002", (C4, [N3]))
    fine = file("fine-file-0000003", (C2, [N1, N2]))
    judge(check, [lost, sharing, fine], {(C4, N3): Replica.MISSING})  # asked once
    judge(check, [file("later-file-000004", (C4, [N3]))], {})  # a later page: not asked again
    report = check.report()
    assert report.lost_chunks == 1 and report.chunks == 3
    assert [(f.id, f.chunks, f.lost_chunks) for f in report.unreadable_files] == [
        ("lost-file-0000001", 3, [C4]),
        ("sharing-file-0002", 1, [C4]),
        ("later-file-000004", 1, [C4]),
    ]


def test_orphans_are_chunks_no_file_uses() -> None:
    check = fleet()
    judge(check, [file("one-file-00000001", (C1, [N1, N2]))], {})
    # N2 holds C1 (a live file's: never asked about), C2 and C3.
    assert check.orphan_candidates(N2) == [C2, C3]
    # C2 has no record at all; C3's record is used by a file that is not live.
    check.found_records(N2, [C2, C3], [record(C3, references=1)])
    assert check.orphan_candidates(N1) == [C2]
    check.found_records(N1, [C2], [record(C2, references=0)])  # a record nothing uses
    report = check.report()
    assert report.orphan_replicas == 2 and report.clean  # the GC's work, not damage


@pytest.mark.parametrize(
    ("fields", "live"),
    [
        ({}, True),
        ({"state": "uploading"}, False),
        ({"state": "deleting"}, False),
        ({"expires_at": NOW}, False),
        ({"max_downloads": 3, "downloads": 2}, True),
        ({"max_downloads": 3, "downloads": 3}, False),
    ],
)
def test_only_files_a_download_may_serve_are_live(fields: dict[str, object], live: bool) -> None:
    assert is_live(file("one-file-00000001", **fields), NOW) is live


def test_the_json_shape_is_pinned() -> None:
    """docs/operations.md documents these names; scripts read them."""
    report = fleet().report()
    assert list(report.model_dump()) == [
        "clean",
        "replicas",
        "verified",
        "files",
        "chunks",
        "good_replicas",
        "under_replicated_chunks",
        "lost_chunks",
        "missing_replicas",
        "corrupt_replicas",
        "inactive_replicas",
        "unchecked_replicas",
        "orphan_replicas",
        "unreadable_files",
        "nodes",
    ]
    assert list(report.nodes[0].model_dump()) == ["id", "url", "active", "chunks", "error"]
    unreadable = UnreadableFile(id="x", name="x", size=1, chunks=1, lost_chunks=[C1])
    assert list(unreadable.model_dump()) == ["id", "name", "size", "chunks", "lost_chunks"]
    assert report.nodes[-1].id == DEAD and report.nodes[-1].chunks is None  # inactive last
