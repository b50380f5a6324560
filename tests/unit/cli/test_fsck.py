"""What `filefleet fsck` prints for a terminal: the counts, the failed nodes, the
unreadable files, and a verdict on the last line."""

from __future__ import annotations

from typing import Any

from filefleet.cli.fsck import render
from filefleet.core.fsck import FsckReport, NodeReport, UnreadableFile

ZERO: dict[str, Any] = {
    "clean": True,
    "replicas": 2,
    "verified": False,
    "files": 4,
    "chunks": 5,
    "good_replicas": 10,
    "under_replicated_chunks": 0,
    "lost_chunks": 0,
    "missing_replicas": 0,
    "corrupt_replicas": 0,
    "inactive_replicas": 0,
    "unchecked_replicas": 0,
    "orphan_replicas": 0,
    "unreadable_files": [],
    "nodes": [NodeReport(id="1" * 32, url="http://n1", active=True, chunks=5)],
}


def test_a_clean_fleet() -> None:
    text = render(FsckReport(**ZERO))
    assert text.splitlines()[0] == "fsck: R=2, 1/1 nodes active, presence only"
    assert "  chunks                      5  (10 good replicas)" in text
    assert "  corrupt replicas            not checked (--verify)" in text
    assert text.splitlines()[-1] == "clean: every live chunk has 2 good replicas"


def test_a_degraded_fleet_with_a_node_that_did_not_answer() -> None:
    node = NodeReport(id="2" * 32, url="http://n2", active=True, error="timed out")
    report = FsckReport(**ZERO | {"clean": False, "verified": True, "corrupt_replicas": 1,
                                  "unchecked_replicas": 3, "nodes": [node]})  # fmt: skip
    text = render(report)
    assert "replicas re-hashed on their nodes" in text.splitlines()[0]
    assert "  corrupt replicas            1" in text
    assert "  unchecked replicas          3  (their node did not answer)" in text
    assert f"  node {'2' * 12} at http://n2: timed out" in text
    assert text.splitlines()[-1].startswith("degraded: every live file can be read")


def test_unreadable_files_are_listed() -> None:
    lost = [UnreadableFile(id=f"file-{i}", name=f"n{i}.iso", size=9, chunks=3,
                           lost_chunks=["a" * 64]) for i in range(2)]  # fmt: skip
    text = render(FsckReport(**ZERO | {"clean": False, "lost_chunks": 1, "unreadable_files": lost}))
    assert "unreadable files (2):" in text
    assert "  file-1  'n1.iso'  9 bytes, 1 of 3 chunks lost" in text
    assert text.splitlines()[-1] == "UNREADABLE: 2 live files cannot be read"
