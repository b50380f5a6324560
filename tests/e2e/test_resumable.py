"""Resumable, deduplicating uploads: the chunk API, `filefleet share`, `get`, `delete`."""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import random
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import typer

from filefleet.core.chunking import CHUNK_API_INFLIGHT
from filefleet.core.placement import read_order
from tests.harness.cluster import Cluster, HttpAnswer, http
from tests.harness.processes import ProcessGroup, wait_for

MiB = 1024 * 1024
CHUNK = 4 * MiB


def api(cluster: Cluster, method: str, path: str, body: Any = None, **params: str) -> HttpAnswer:
    query = "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    return http(method, f"{cluster.url}{path}{query}", data, {"Accept": "application/json"})


def create(cluster: Cluster, size: int, name: str = "f.bin") -> dict[str, Any]:
    answer = api(cluster, "POST", "/uploads", {"name": name, "size": size})
    assert answer.status == 201, answer.body
    result: dict[str, Any] = answer.json()
    return result


def cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "filefleet", *args],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=timeout,
    )  # fmt: skip


def test_chunk_api_random_order_in_parallel(cluster: Cluster) -> None:
    data = os.urandom(64 * MiB + 123)
    upload = create(cluster, len(data))
    assert upload["chunk_size"] == CHUNK and upload["chunk_count"] == 17
    assert upload["missing"] == list(range(17))
    order = list(range(17))
    random.shuffle(order)

    def send(i: int) -> int:
        piece = data[i * CHUNK : (i + 1) * CHUNK]
        sha = hashlib.sha256(piece).hexdigest()
        return api(cluster, "PUT", f"/uploads/{upload['id']}/chunks/{i}", piece, sha256=sha).status

    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(send, order)) == {201}
    assert api(cluster, "GET", f"/uploads/{upload['id']}").json()["missing"] == []
    body = {"sha256": hashlib.sha256(data).hexdigest(), "delete_token": upload["delete_token"]}
    done = api(cluster, "POST", f"/uploads/{upload['id']}/complete", body)
    assert done.status == 201, done.body
    assert done.json()["url"].endswith(upload["id"])
    assert cluster.download(upload["id"]).body == data


def test_bad_chunk_requests_change_nothing(cluster: Cluster) -> None:
    data = os.urandom(CHUNK + 10)
    upload = create(cluster, len(data))
    path = f"/uploads/{upload['id']}"
    first = data[:CHUNK]
    good = hashlib.sha256(first).hexdigest()
    wrong = api(cluster, "PUT", f"{path}/chunks/0", first, sha256="0" * 64)
    assert wrong.status == 400 and "does not hash" in wrong.json()["error"]
    out_of_range = api(cluster, "PUT", f"{path}/chunks/2", first, sha256=good)
    assert out_of_range.status == 400 and "out of range" in out_of_range.json()["error"]
    short = api(
        cluster,
        "PUT",
        f"{path}/chunks/0",
        first[:10],
        sha256=hashlib.sha256(first[:10]).hexdigest(),
    )
    assert short.status == 400 and "must be" in short.json()["error"]
    assert api(cluster, "GET", path).json()["missing"] == [0, 1]
    assert not any(good in n.chunk_ids() for n in cluster.nodes)

    assert api(cluster, "PUT", f"{path}/chunks/0", first, sha256=good).status == 201
    finish = {"sha256": hashlib.sha256(data).hexdigest(), "delete_token": upload["delete_token"]}
    missing = api(cluster, "POST", f"{path}/complete", finish)
    assert missing.status == 400 and "missing" in missing.json()["error"]
    rest = data[CHUNK:]
    assert (
        api(
            cluster, "PUT", f"{path}/chunks/1", rest, sha256=hashlib.sha256(rest).hexdigest()
        ).status
        == 201
    )
    bad_hash = api(cluster, "POST", f"{path}/complete", {**finish, "sha256": "ab" * 32})
    assert bad_hash.status == 400 and "hash to" in bad_hash.json()["error"]
    assert api(cluster, "GET", path).json()["state"] == "uploading"
    assert cluster.download(upload["id"]).status == 404
    assert api(cluster, "POST", f"{path}/complete", finish).status == 201
    assert cluster.download(upload["id"]).body == data
    assert api(cluster, "PUT", f"{path}/chunks/0", first, sha256=good).status == 410


def test_complete_without_a_hash_answers_the_one_computed_from_the_chunks(
    cluster: Cluster,
) -> None:
    """Chunks sent in order through one frontend: it folded every byte in, reads nothing
    back, and answers the whole-file hash."""
    data = os.urandom(3 * CHUNK + 5)
    upload = create(cluster, len(data))
    for i in range(4):
        piece = data[i * CHUNK : (i + 1) * CHUNK]
        sha = hashlib.sha256(piece).hexdigest()
        put = api(cluster, "PUT", f"/uploads/{upload['id']}/chunks/{i}", piece, sha256=sha)
        assert put.status == 201, put.body
    read_back = _stats(cluster)["resumable"]["chunks_read_back"]
    finish = {"delete_token": upload["delete_token"]}
    done = api(cluster, "POST", f"/uploads/{upload['id']}/complete", finish)
    assert done.status == 201, done.body
    assert done.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert _stats(cluster)["resumable"]["chunks_read_back"] == read_back
    assert cluster.download(upload["id"]).body == data


def test_complete_without_a_hash_reads_back_verified_past_a_rotten_replica(
    cluster: Cluster,
) -> None:
    """A chunk claimed by dedup never passed through the frontend: without the client's
    hash to compare with, it is read back from the nodes and checked against its id, so a
    rotten replica is skipped rather than hashed into the file's SHA-256."""
    shared = os.urandom(CHUNK)
    first = cluster.upload(shared + os.urandom(100))
    chunk = cluster.file_info(first["id"])["chunks"][0]
    holder = next(n for n in cluster.nodes if n.node_id == chunk["locations"][0])
    other = next(n for n in cluster.nodes if n is not holder)
    headers = {"Authorization": "Bearer test-cluster-secret"}
    copy = http("POST", f"{other.url}/chunk?hash={chunk['id']}", shared, headers)
    assert copy.status in (200, 201), copy.body
    added = cluster.api("POST", f"/chunk/{chunk['id']}/locations", {"node": other.node_id})
    assert added.status in (200, 201, 204), added.body

    data = shared + os.urandom(CHUNK)
    upload = create(cluster, len(data))
    path = f"/uploads/{upload['id']}"
    claim = api(cluster, "POST", f"{path}/chunks/0/claim", sha256=chunk["id"])
    assert claim.json()["claimed"] is True, claim.body
    rest = data[CHUNK:]
    put = api(cluster, "PUT", f"{path}/chunks/1", rest, sha256=hashlib.sha256(rest).hexdigest())
    assert put.status == 201, put.body
    rotten = bytearray(shared)
    rotten[777] ^= 0xFF
    tried_first = read_order(chunk["id"], [holder, other], lambda node: node.node_id)[0]
    tried_first.chunk_path(chunk["id"]).write_bytes(bytes(rotten))  # one bit flipped

    done = api(cluster, "POST", f"{path}/complete", {"delete_token": upload["delete_token"]})
    assert done.status == 201, done.body
    assert done.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert cluster.download(upload["id"]).body == data


def test_share_is_killed_then_resumes_after_a_frontend_restart(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    cluster = Cluster(procs, tmp_path, frontend_args=["--chunk-size", "1MiB"]).start(nodes=3)
    big = tmp_path / "big.bin"
    data = os.urandom(200 * MiB)
    big.write_bytes(data)
    env = {"FILEFLEET_SERVER": cluster.url, "FILEFLEET_CACHE_DIR": str(tmp_path / "cache")}
    share = subprocess.Popen(
        [sys.executable, "-m", "filefleet", "share", str(big), "--json"],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for(lambda: _stats(cluster)["resumable"]["chunks_received"] >= 30, interval=0.005,
                 timeout=60, what="the first chunks to arrive")  # fmt: skip
        share.send_signal(signal.SIGKILL)
    finally:
        share.wait(10)
    assert share.returncode == -signal.SIGKILL
    assert cluster.frontend is not None
    cluster.frontend.stop()
    cluster.start_frontend()

    again = cli("share", str(big), "--json", env=env)
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert 0 < result["sent_bytes"] < len(data)
    assert result["skipped_chunks"] >= 30
    assert result["skipped_chunks"] + result["sent_chunks"] + result["claimed_chunks"] == 200
    assert cluster.download(result["id"]).body == data
    assert list((tmp_path / "cache" / "uploads").glob("*.json")) == []


def test_second_file_sends_only_its_new_half(cluster: Cluster, tmp_path: Path) -> None:
    first, second = tmp_path / "a.bin", tmp_path / "b.bin"
    half = os.urandom(4 * CHUNK)
    first.write_bytes(half + os.urandom(4 * CHUNK))
    second.write_bytes(half + os.urandom(4 * CHUNK))
    env = {"FILEFLEET_SERVER": cluster.url, "FILEFLEET_CACHE_DIR": str(tmp_path / "cache")}
    a = cli("share", str(first), "--json", env=env)
    assert a.returncode == 0, a.stderr
    # Every chunk reached this one frontend, in order or a few early: the whole-file check
    # at completion was folded in as they arrived, nothing was read back from the nodes.
    assert _stats(cluster)["resumable"]["chunks_read_back"] == 0
    b = cli("share", str(second), "--json", "--expires", "1h", env=env)
    assert b.returncode == 0, b.stderr
    result = json.loads(b.stdout)
    assert (result["claimed_chunks"], result["sent_chunks"]) == (4, 4)
    assert result["sent_bytes"] == 4 * CHUNK
    assert cluster.download(result["id"]).body == second.read_bytes()

    # The first file again: every chunk is claimed, and its content is that of an active
    # file with the very same chunks, so completion reads nothing back from the nodes.
    read_back = _stats(cluster)["resumable"]["chunks_read_back"]
    again = cli("share", str(first), "--json", env=env)
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert (result["claimed_chunks"], result["sent_bytes"]) == (8, 0)
    stats = _stats(cluster)["resumable"]
    assert stats["known_content"] == 1 and stats["chunks_read_back"] == read_back
    assert result["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()
    assert cluster.download(result["id"]).body == first.read_bytes()


def test_no_dedup_refuses_every_claim(procs: ProcessGroup, tmp_path: Path) -> None:
    cluster = Cluster(procs, tmp_path, frontend_args=["--no-dedup"]).start(nodes=2)
    data = os.urandom(CHUNK)
    cluster.upload(data)
    upload = create(cluster, len(data))
    claim = api(cluster, "POST", f"/uploads/{upload['id']}/chunks/0/claim",
                sha256=hashlib.sha256(data).hexdigest())  # fmt: skip
    assert claim.status == 403 and "dedup" in claim.json()["error"]
    path = tmp_path / "same.bin"
    path.write_bytes(data)
    env = {"FILEFLEET_SERVER": cluster.url, "FILEFLEET_CACHE_DIR": str(tmp_path / "cache")}
    shared = cli("share", str(path), "--json", env=env)
    assert shared.returncode == 0, shared.stderr
    assert json.loads(shared.stdout)["claimed_chunks"] == 0


def test_get_resumes_and_delete_works_once(cluster: Cluster, tmp_path: Path) -> None:
    data = os.urandom(3 * CHUNK + 5)
    uploaded = cluster.upload(data, name="résumé.bin")
    link = uploaded["url"]
    env = {"FILEFLEET_SERVER": cluster.url}
    target = tmp_path / "out.bin"
    (tmp_path / "out.bin.part").write_bytes(data[: CHUNK + 7])  # a download cut off mid-way
    got = cli("get", link, "-o", str(target), env=env)
    assert got.returncode == 0, got.stderr
    assert target.read_bytes() == data
    exists = cli("get", link, "-o", str(target), env=env)
    assert exists.returncode == 1 and "exists" in exists.stderr and "Traceback" not in exists.stderr
    nowhere = cli("get", link, "-o", str(tmp_path / "no-such-dir" / "out.bin"), env=env)
    assert nowhere.returncode == 1 and "No such file" in nowhere.stderr, nowhere.stderr
    assert "Traceback" not in nowhere.stderr
    fresh = cli("get", link, "-o", str(tmp_path / "fresh.bin"), env=env)
    assert fresh.returncode == 0 and (tmp_path / "fresh.bin").read_bytes() == data
    (tmp_path / "bad.bin.part").write_bytes(b"x" * 100)  # a saved prefix that is not the file's
    bad = cli("get", link, "-o", str(tmp_path / "bad.bin"), env=env)
    assert bad.returncode == 1 and "hash to" in bad.stderr, bad.stderr
    assert not (tmp_path / "bad.bin.part").exists() and not (tmp_path / "bad.bin").exists()

    tampered = cli("delete", uploaded["delete_url"][:-3] + "AAA", env=env)
    assert tampered.returncode == 1 and "Traceback" not in tampered.stderr
    assert cluster.download(uploaded["id"]).status == 200
    deleted = cli("delete", uploaded["delete_url"], env=env)
    assert deleted.returncode == 0, deleted.stderr
    gone = cli("get", link, "-o", str(tmp_path / "again.bin"), env=env)
    assert gone.returncode == 1 and "deleted" in gone.stderr


@pytest.mark.parametrize(
    "bad", ["not a link", "http://127.0.0.1:1/download/abcdefghijklmnopqrstuvwx"]
)
def test_get_errors_are_clear(bad: str, tmp_path: Path) -> None:
    result = cli("get", bad, "-o", str(tmp_path / "x"), env={})
    assert result.returncode in (1, 2)
    assert "filefleet: error:" in result.stderr and "Traceback" not in result.stderr


def _stats(cluster: Cluster) -> dict[str, Any]:
    return cluster.frontend_stats()


def test_batch_claims_record_only_what_the_fleet_holds(cluster: Cluster) -> None:
    held = os.urandom(CHUNK)
    cluster.upload(held)
    fresh = os.urandom(CHUNK)
    upload = create(cluster, 2 * CHUNK)
    claims = {
        "chunks": [
            {"index": 0, "sha256": hashlib.sha256(held).hexdigest()},
            {"index": 1, "sha256": hashlib.sha256(fresh).hexdigest()},
        ]
    }
    answer = api(cluster, "POST", f"/uploads/{upload['id']}/claims", claims)
    assert answer.status == 200 and answer.json()["claimed"] == [0]
    assert api(cluster, "GET", f"/uploads/{upload['id']}").json()["missing"] == [1]
    bad = {"chunks": [{"index": 2, "sha256": "0" * 64}]}
    refused = api(cluster, "POST", f"/uploads/{upload['id']}/claims", bad)
    assert refused.status == 400 and "out of range" in refused.json()["error"]


def test_a_file_changed_while_it_is_shared_fails_clearly(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Chunks are read again from the file as they are sent: one overwritten after it was
    hashed no longer matches, the node refuses it, and the command says the file changed
    (no traceback), with nothing of the new bytes stored."""
    from filefleet.cli import share as share_cli

    path = tmp_path / "growing.log"
    path.write_bytes(os.urandom(3 * CHUNK))
    read_and_hashed = share_cli._read_hashed

    def then_overwrite(f: Any, buffer: mmap.mmap) -> tuple[int, str]:
        result = read_and_hashed(f, buffer)
        if f.tell() == CHUNK:  # chunk 0 is hashed: a writer changes it before it is sent
            with path.open("r+b") as writer:
                writer.write(b"changed")
        return result

    monkeypatch.setattr(share_cli, "_read_hashed", then_overwrite)
    # In-process: keep this test process's event loop policy as it is.
    monkeypatch.setattr("filefleet.cli.transfer.install_uvloop", lambda: None)
    monkeypatch.setenv("FILEFLEET_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(typer.Exit) as exited:
        share_cli.share([path], server=cluster.url, expires=None, max_downloads=None)
    assert exited.value.exit_code == 1
    err = capsys.readouterr().err
    assert "chunk 0 no longer holds the bytes it was hashed from" in err, err
    assert "Traceback" not in err
    uploads = cluster.api("GET", "/files?state=uploading").json()["files"]
    assert len(uploads) == 1, uploads
    status = api(cluster, "GET", f"/uploads/{uploads[0]['id']}").json()
    assert 0 in status["missing"]  # the changed chunk was not recorded

    # Run again: the file's new content is shared (the interrupted upload resumes).
    monkeypatch.setattr(share_cli, "_read_hashed", read_and_hashed)
    share_cli.share([path], server=cluster.url, expires=None, max_downloads=None)
    link = capsys.readouterr().out.strip()
    assert cluster.download(link.rsplit("/", 1)[-1]).body == path.read_bytes()


def test_chunks_sent_at_once_from_the_start_are_all_folded(cluster: Cluster) -> None:
    """The first requests of an upload arrive together (no claim before them): they share
    one session, so every chunk is folded into the whole-file hash and completion reads
    nothing back: as many as `filefleet share` keeps in flight."""
    data = os.urandom(CHUNK_API_INFLIGHT * CHUNK)
    upload = create(cluster, len(data))
    read_back = _stats(cluster)["resumable"]["chunks_read_back"]

    def send(i: int) -> int:
        part = data[i * CHUNK : (i + 1) * CHUNK]
        sha = hashlib.sha256(part).hexdigest()
        return api(cluster, "PUT", f"/uploads/{upload['id']}/chunks/{i}", part, sha256=sha).status

    with ThreadPoolExecutor(CHUNK_API_INFLIGHT) as pool:
        assert set(pool.map(send, range(CHUNK_API_INFLIGHT))) == {201}
    done = api(cluster, "POST", f"/uploads/{upload['id']}/complete",
               {"delete_token": upload["delete_token"]})  # fmt: skip
    assert done.status == 201, done.body
    assert done.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert _stats(cluster)["resumable"]["chunks_read_back"] == read_back
