"""Every exit code of the client commands, as a script sees them (subprocesses, real
servers): 0 done, 1 refused or failed, 2 wrong command line or no cluster to talk to;
``status`` 0 healthy, 1 degraded, 2 unreachable. Nothing listening is one line on stderr,
naming the URL and the option to use, within two seconds."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from filefleet.runtime.ports import free_port
from tests.harness.cluster import FAST_NODE, SECRET, Cluster
from tests.harness.processes import FILEFLEET, ProcessGroup, wait_for


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FILEFLEET_")}
    return subprocess.run(
        [*FILEFLEET, *args], capture_output=True, text=True, timeout=120, check=False,
        env={**clean, **env},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["share", "{file}", "--server", "{url}"], "--server"),
        (["get", "{url}/download/q0Xb4m1cJ8kZV3PzU2n7YtAa"], "--server"),
        (["delete", "{url}/delete/q0Xb4m1cJ8kZV3PzU2n7YtAa/Nx5RrDxkEAtOR-sEOymir"], "--server"),
        (["status", "--controller", "{url}"], "--controller"),
        (["fsck", "--controller", "{url}"], "--controller"),
        (["nodes", "list", "--controller", "{url}"], "--controller"),
    ],
)
def test_nothing_listening_is_one_line_within_two_seconds(
    args: list[str], hint: str, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # bound, then released: nothing listens
    payload = tmp_path / "f.bin"
    payload.write_bytes(b"x" * 1000)
    argv = [a.format(url=url, file=payload) for a in args]
    started = time.monotonic()
    done = run(*argv, FILEFLEET_SECRET="s", FILEFLEET_CACHE_DIR=str(tmp_path / "cache"))
    took = time.monotonic() - started
    assert (done.returncode, done.stdout) == (2, ""), done
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"filefleet: error: nothing answers at {url} ")
    assert hint in done.stderr and "Traceback" not in done.stderr
    assert took < 2.0, f"{argv[0]} took {took:.2f}s"


def test_share_get_delete_and_their_exit_codes(cluster: Cluster, tmp_path: Path) -> None:
    env = {"FILEFLEET_SERVER": cluster.url, "FILEFLEET_CACHE_DIR": str(tmp_path / "cache")}
    payload = tmp_path / "report.pdf"
    payload.write_bytes(os.urandom(200_000))
    shared = run("share", str(payload), "--json", **env)
    assert shared.returncode == 0, shared.stderr
    link = json.loads(shared.stdout)
    file_id, delete_url = link["id"], link["delete_url"]

    got = run("get", file_id, "-o", str(tmp_path / "copy.pdf"), "--json", **env)  # a bare id
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout) == {"path": str(tmp_path / "copy.pdf"), "name": "report.pdf",
                                      "size": 200_000, "sha256": link["sha256"]}  # fmt: skip
    again = run("get", link["url"], "-o", str(tmp_path / "copy.pdf"), **env)
    assert again.returncode == 1 and "exists (use --force" in again.stderr  # a local refusal
    unknown = run("get", "NoSuchFileIdXXXXXXXXXXXX", **env)
    assert unknown.returncode == 1 and unknown.stdout == ""  # the frontend's 404
    not_a_link = run("get", "../etc/passwd", **env)
    assert not_a_link.returncode == 2 and "not a filefleet download link" in not_a_link.stderr

    wrong = run("delete", delete_url.rsplit("/", 1)[0] + "/" + "w" * 32, **env)
    assert wrong.returncode == 1 and wrong.stdout == ""  # 403: wrong token
    deleted = run("delete", delete_url, "--json", **env)
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout) == {"id": file_id, "deleted": True}
    gone = run("get", link["url"], "-o", str(tmp_path / "late.pdf"), **env)
    assert gone.returncode == 1 and gone.stderr.startswith("filefleet: error: ")


def test_status_exit_codes(procs: ProcessGroup, tmp_path: Path) -> None:
    cluster = Cluster(
        procs,
        tmp_path,
        node_args=FAST_NODE,
        controller_args=["--node-ttl", "2s"],  # the killed node is dead within seconds
    ).start(nodes=3)
    env = {"FILEFLEET_CONTROLLER": cluster.controller_url, "FILEFLEET_SECRET": SECRET}
    healthy = run("status", "--json", **env)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    report = json.loads(healthy.stdout)
    assert report["healthy"] and {n["name"] for n in report["nodes"]} == {"node-1", "node-2",
                                                                           "node-3"}  # fmt: skip
    assert len(report["disks"]) == 1 and sorted(report["disks"][0]["nodes"]) == [
        "node-1", "node-2", "node-3"
    ]  # fmt: skip
    wrong_secret = run("status", **{**env, "FILEFLEET_SECRET": "wrong"})
    assert wrong_secret.returncode == 2 and "--secret" in wrong_secret.stderr
    no_cluster = run("status", "--data", str(tmp_path / "nothing"))
    assert no_cluster.returncode == 2 and "cluster.json" in no_cluster.stderr

    victim = cluster.nodes[0]
    assert victim.process is not None
    victim.process.kill()
    wait_for(lambda: victim.node_id not in cluster.active_node_ids(), timeout=20, what="dead")
    degraded = run("status", **env)
    assert degraded.returncode == 1, degraded.stdout
    assert degraded.stdout.rstrip().splitlines()[-1].startswith("degraded:")
    assert "node-1" in degraded.stdout and "dead" in degraded.stdout


def test_version_and_usage() -> None:
    from filefleet import __version__

    version = run("--version")
    assert (version.returncode, version.stdout) == (0, f"filefleet {__version__}\n")
    assert run("nodes", "drain").returncode == 2  # NODE missing: a usage error
