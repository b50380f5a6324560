"""End-to-end encryption on a real cluster, through the real CLI: `share --encrypt` and
`get LINK#key`. The fleet holds ciphertext only; wrong keys and changed bytes fail clearly."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from filefleet.core.encryption import PLACEHOLDER_NAME, encrypted_size, key_to_text
from tests.e2e.test_resumable import cli
from tests.harness.cluster import Cluster
from tests.harness.processes import ProcessGroup, wait_for

MiB = 1024 * 1024
MARKER = b"PLAINTEXT-MARKER-4242"
SECRET_NAME = "MARKER-holiday-plans.txt"


def marked(size: int) -> bytes:
    """Random bytes with the marker every 64 KiB, so any plaintext piece would show it."""
    data = bytearray(os.urandom(size))
    for at in range(0, size - len(MARKER), 65536):
        data[at : at + len(MARKER)] = MARKER
    return bytes(data)


@pytest.fixture
def client_dir(tmp_path: Path) -> Path:
    """Where the user's own files live (plaintext, downloads, the CLI's cache): apart from
    the cluster's data dirs, database and logs, which the tests search for plaintext."""
    path = tmp_path / "client"
    path.mkdir()
    return path


def env_for(cluster: Cluster, client_dir: Path) -> dict[str, str]:
    return {"FILEFLEET_SERVER": cluster.url, "FILEFLEET_CACHE_DIR": str(client_dir / "cache")}


def share_encrypted(path: Path, env: dict[str, str]) -> dict[str, Any]:
    shared = cli("share", "--encrypt", str(path), "--json", env=env)
    assert shared.returncode == 0, shared.stderr
    result: dict[str, Any] = json.loads(shared.stdout)
    return result


def server_files(root: Path, client_dir: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and client_dir not in p.parents]


def test_round_trip_and_the_fleet_holds_ciphertext_only(
    cluster: Cluster, tmp_path: Path, client_dir: Path
) -> None:
    data = marked(9 * MiB + 12345)  # three chunks, the last one short
    source = client_dir / SECRET_NAME
    source.write_bytes(data)
    env = env_for(cluster, client_dir)
    result = share_encrypted(source, env)
    link = result["url"]
    base, _, key = link.partition("#")
    assert len(key) == 43 and result["encrypted"] is True
    assert result["name"] == PLACEHOLDER_NAME and result["size"] == encrypted_size(len(data))
    info = cluster.file_info(result["id"])
    assert info["name"] == PLACEHOLDER_NAME and info["content_type"] == "application/octet-stream"

    out = client_dir / "out"
    out.mkdir()
    got = subprocess.run(
        [sys.executable, "-m", "filefleet", "get", link, "--json"], cwd=out,
        capture_output=True, text=True, env={**os.environ, **env}, timeout=120,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    saved = json.loads(got.stdout)
    assert saved["name"] == SECRET_NAME and saved["size"] == len(data)
    assert (out / SECRET_NAME).read_bytes() == data  # the header's name, the exact bytes
    assert sorted(p.name for p in out.iterdir()) == [SECRET_NAME]

    # Nothing the servers keep (chunks on every node, the metadata database and its WAL,
    # every service's log) holds the content, its name or the key.
    assert cluster.controller is not None
    cluster.controller.stop()  # its database, WAL included, as it was left
    files = server_files(tmp_path, client_dir)
    chunk_files = [p for p in files if "chunks" in p.parts]
    assert len(chunk_files) >= 3 and any(p.suffix == ".log" for p in files)
    assert any(p.name.startswith("meta.db") for p in files)
    for path in files:
        content = path.read_bytes()
        for secret in (MARKER, SECRET_NAME.encode(), key.encode(), b"holiday-plans"):
            assert secret not in content, f"{secret!r} found in {path}"
    assert base.endswith(result["id"])


def test_an_empty_file_round_trips(cluster: Cluster, client_dir: Path) -> None:
    source = client_dir / "empty.txt"
    source.write_bytes(b"")
    env = env_for(cluster, client_dir)
    result = share_encrypted(source, env)
    target = client_dir / "empty-again.txt"
    got = cli("get", result["url"], "-o", str(target), env=env)
    assert got.returncode == 0, got.stderr
    assert target.read_bytes() == b""


def test_wrong_or_missing_key_fails_clearly_and_saves_nothing(
    cluster: Cluster, client_dir: Path
) -> None:
    source = client_dir / "report.txt"
    source.write_bytes(marked(200_000))
    env = env_for(cluster, client_dir)
    link = share_encrypted(source, env)["url"]
    base = link.partition("#")[0]
    target = client_dir / "got.txt"

    wrong = cli("get", f"{base}#{key_to_text(bytes(32))}", "-o", str(target), env=env)
    assert wrong.returncode == 1 and "wrong key" in wrong.stderr
    malformed = cli("get", f"{base}#not-a-key", "-o", str(target), env=env)
    assert malformed.returncode == 1 and "256-bit" in malformed.stderr
    missing = cli("get", base, "-o", str(target), env=env)
    assert missing.returncode == 1 and "has no key" in missing.stderr
    for answer in (wrong, malformed, missing):
        assert "Traceback" not in answer.stderr
    assert sorted(p.name for p in client_dir.iterdir()) == ["cache", "report.txt"]


def test_a_flipped_byte_in_a_stored_chunk_fails_clearly(cluster: Cluster, client_dir: Path) -> None:
    """Every replica of the middle chunk gets one bit flipped on disk: the download fails
    with a message, and no output file is left (never wrong bytes)."""
    source = client_dir / "a.bin"
    source.write_bytes(marked(10 * MiB))
    env = env_for(cluster, client_dir)
    result = share_encrypted(source, env)
    chunk = cluster.file_info(result["id"])["chunks"][1]
    flipped = 0
    for node in cluster.nodes:
        path = node.chunk_path(chunk["id"])
        if path.exists():
            rotten = bytearray(path.read_bytes())
            rotten[1000] ^= 0x01
            path.write_bytes(bytes(rotten))
            flipped += 1
    assert flipped >= 1
    target = client_dir / "a-again.bin"
    got = cli("get", result["url"], "-o", str(target), env=env)
    assert got.returncode != 0 and "Traceback" not in got.stderr
    assert got.stderr.strip(), "a failure must say what went wrong"
    assert not target.exists() and not target.with_name(target.name + ".part").exists()


def test_an_interrupted_encrypted_share_resumes_with_the_same_ciphertext(
    procs: ProcessGroup, tmp_path: Path, client_dir: Path
) -> None:
    cluster = Cluster(procs, tmp_path, frontend_args=["--chunk-size", "1MiB"]).start(nodes=2)
    data = marked(96 * MiB + 7)
    source = client_dir / "big.bin"
    source.write_bytes(data)
    env = env_for(cluster, client_dir)
    share = subprocess.Popen(
        [sys.executable, "-m", "filefleet", "share", "--encrypt", str(source), "--json"],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for(
            lambda: cluster.frontend_stats()["resumable"]["chunks_received"] >= 10,
            interval=0.005, timeout=60, what="the first encrypted chunks to arrive",
        )  # fmt: skip
        share.send_signal(signal.SIGKILL)
    finally:
        share.wait(10)
    assert share.returncode == -signal.SIGKILL
    states = list((client_dir / "cache" / "uploads").glob("*.json"))
    assert len(states) == 1 and states[0].stat().st_mode & 0o777 == 0o600  # it holds the key

    result = share_encrypted(source, env)
    assert result["skipped_chunks"] >= 10 and 0 < result["sent_bytes"] < len(data)
    # The chunks of both runs make one ciphertext that opens with the key of the first.
    target = client_dir / "big-again.bin"
    got = cli("get", result["url"], "-o", str(target), env=env)
    assert got.returncode == 0, got.stderr
    assert target.read_bytes() == data
    assert list((client_dir / "cache" / "uploads").glob("*.json")) == []


def test_an_encrypted_link_can_also_need_a_password(cluster: Cluster, client_dir: Path) -> None:
    """``--encrypt`` with a password (FILEFLEET_PASSWORD): ``get LINK#key`` needs both."""
    source = client_dir / "both.txt"
    data = marked(300_000)
    source.write_bytes(data)
    env = {**env_for(cluster, client_dir), "FILEFLEET_PASSWORD": "correct horse"}
    link = share_encrypted(source, env)["url"]
    assert cluster.file_info(link.partition("#")[0].rsplit("/", 1)[-1]).get("protected") is True
    target = client_dir / "both-again.txt"
    without = env_for(cluster, client_dir)  # no password, and no terminal to ask on
    refused = cli("get", link, "-o", str(target), env=without)
    assert refused.returncode == 1 and "password" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr and not target.exists()
    got = cli("get", link, "-o", str(target), env=env)
    assert got.returncode == 0, got.stderr
    assert target.read_bytes() == data


def test_encrypt_and_bundle_do_not_go_together(cluster: Cluster, client_dir: Path) -> None:
    source = client_dir / "a.txt"
    source.write_bytes(b"a")
    env = env_for(cluster, client_dir)
    refused = cli("share", "--encrypt", "--bundle", str(source), str(source), env=env)
    assert refused.returncode == 2 and "--encrypt and --bundle" in refused.stderr


def test_a_server_serving_changed_ciphertext_is_caught_by_the_record_tags(
    cluster: Cluster, tmp_path: Path, client_dir: Path
) -> None:
    """A malicious fleet: one byte of a chunk changed, and the metadata rewritten to match
    (new chunk id, new whole-file sha256), so every server-side check passes. The record's
    tag still fails: `get` names the record and leaves no output file."""
    source = client_dir / "a.bin"
    data = marked(10 * MiB)
    source.write_bytes(data)
    env = env_for(cluster, client_dir)
    result = share_encrypted(source, env)
    forge_chunk(cluster, tmp_path, result["id"], 1)

    target = client_dir / "a-again.bin"
    got = cli("get", result["url"], "-o", str(target), env=env)
    assert got.returncode == 1 and "does not verify" in got.stderr, got.stderr
    assert "Traceback" not in got.stderr
    assert not target.exists() and not target.with_name(target.name + ".part").exists()


def forge_chunk(cluster: Cluster, root: Path, file_id: str, index: int) -> None:
    """What a malicious fleet can do: flip a byte of chunk ``index`` of a file, store it
    under its new hash on the nodes that held it, and rewrite the metadata to match (the
    chunk's id, the file's sha256), so that every check on the servers' side passes.
    SQLite under ``root``; the controller is stopped meanwhile."""
    chunks = cluster.file_info(file_id)["chunks"]
    assert cluster.controller is not None
    cluster.controller.stop()
    old = chunks[index]["id"]
    holders = [n for n in cluster.nodes if n.chunk_path(old).exists()]
    changed = bytearray(holders[0].chunk_path(old).read_bytes())
    changed[70_000] ^= 0x01
    new = hashlib.sha256(changed).hexdigest()
    for node in holders:
        node.chunk_path(new).parent.mkdir(parents=True, exist_ok=True)
        node.chunk_path(new).write_bytes(bytes(changed))
    whole = hashlib.sha256()
    for chunk in chunks:
        holder = next(n for n in cluster.nodes if n.chunk_path(chunk["id"]).exists())
        whole.update(
            bytes(changed) if chunk["id"] == old else holder.chunk_path(chunk["id"]).read_bytes()
        )
    with sqlite3.connect(root / "meta.db") as db:
        db.execute(
            "INSERT INTO chunks (id, size, last_referenced, collecting_since, location_count) "
            "SELECT ?, size, last_referenced, collecting_since, location_count FROM chunks "
            "WHERE id = ?", (new, old),
        )  # fmt: skip
        db.execute(
            "INSERT INTO chunk_locations (chunk_id, node_id) "
            "SELECT ?, node_id FROM chunk_locations WHERE chunk_id = ?",
            (new, old),
        )
        db.execute("UPDATE file_chunks SET chunk_id = ? WHERE chunk_id = ?", (new, old))
        db.execute("UPDATE files SET sha256 = ? WHERE id = ?", (whole.hexdigest(), file_id))
    cluster.start_controller()
