"""A cluster whose services talk HTTPS to each other, with certificates of a private CA made
for the test (``tests/harness/certs.py``): controller, nodes, frontend, replicator and GC
each serve HTTPS only and trust that CA alone.

The story: every service announces an https:// URL; a file uploaded through the frontend
is replicated (the target node reads the chunk from its holder over HTTPS), downloads
byte-identical, and ``fsck`` finds the fleet clean; the command line shares, fetches and
reports over HTTPS given the CA; a deleted file's chunks are collected from the nodes by
the GC over HTTPS. And the refusals: a client that does not trust the CA refuses every
service (no silent fallback), and plain HTTP to an HTTPS service is told the URL it meant.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from filefleet.runtime.ports import free_port
from tests.harness import replicators
from tests.harness.certs import TestCA
from tests.harness.cluster import SECRET, Cluster, http
from tests.harness.processes import FILEFLEET, ProcessGroup, wait_for
from tests.harness.replicators import chunk_locations, wait_replicated

CHUNK = 256 * 1024


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA.create(tmp_path / "ca")


@pytest.fixture
def cluster(procs: ProcessGroup, tmp_path: Path, ca: TestCA) -> Iterator[Cluster]:
    with replicators.redis_queue() as queue:
        yield Cluster(
            procs,
            tmp_path,
            node_args=["--ping-interval", "200ms"],
            frontend_args=["--chunk-size", str(CHUNK)],
            queue=queue,
            tls=ca,
        ).start(nodes=3)


def cli(*args: str, ca: TestCA | None, cache: Path) -> subprocess.CompletedProcess[str]:
    """A ``filefleet`` command run as an operator would, with the CA only when given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEFLEET_")}
    env.update(FILEFLEET_SECRET=SECRET, FILEFLEET_CACHE_DIR=str(cache))
    if ca is not None:
        env["FILEFLEET_TLS_CA"] = str(ca.ca)
    return subprocess.run(
        [*FILEFLEET, *args], capture_output=True, text=True, timeout=120, check=False, env=env
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_cluster_whose_services_talk_https(cluster: Cluster, ca: TestCA, tmp_path: Path) -> None:
    replicator = replicators.start_replicator(cluster, "--repair-interval", "1h")
    cluster.start_gc("--gc-interval", "1s", "--gc-grace", "1s")
    assert cluster.url.startswith("https://") and cluster.controller_url.startswith("https://")
    announced = [n["url"] for n in cluster.api("GET", "/active-nodes").json()]
    assert sorted(announced) == sorted(n.url for n in cluster.nodes)
    assert all(url.startswith("https://127.0.0.1:") for url in announced)

    # Upload; the replicator's copies go from node to node over HTTPS.
    data = os.urandom(5 * CHUNK + 1234)
    result = cluster.upload(data, "over-tls.bin")
    wait_replicated(cluster, [result["id"]])
    copied = replicator.stats()["copied"]
    assert copied == len(chunk_locations(cluster, [result["id"]])) == 6

    answer = cluster.download(result["id"])
    assert answer.status == 200 and answer.body == data
    assert cluster.wait_clean()["files"] == 1

    # The command line over HTTPS, given the CA: share, get, status.
    source = tmp_path / "shared.bin"
    source.write_bytes(os.urandom(3 * CHUNK + 5))
    shared = cli("share", str(source), "--server", cluster.url, "--json", ca=ca, cache=tmp_path)
    assert shared.returncode == 0, shared.stderr
    link = json.loads(shared.stdout)["url"]
    assert link.startswith(cluster.url)
    fetched = cli("get", link, "-o", str(tmp_path / "fetched.bin"), "--json", ca=ca, cache=tmp_path)
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "fetched.bin").read_bytes() == source.read_bytes()
    status = cli("status", "--controller", cluster.controller_url, "--json", ca=ca, cache=tmp_path)
    assert status.returncode in (0, 1), status.stderr  # healthy, or replicating the share
    assert json.loads(status.stdout)["verdict"]

    # Delete the first file: the GC takes its chunks off the nodes over HTTPS.
    deleted = cluster.call("DELETE", result["delete_url"])
    assert deleted.status == 200, deleted.body
    chunk_ids = {sha256(data[i : i + CHUNK]) for i in range(0, len(data), CHUNK)}
    wait_for(
        lambda: cluster.gc_stats()["totals"]["files_collected"] == 1,
        timeout=30,
        what="the GC to collect the deleted file",
    )
    assert cluster.gc_stats()["totals"]["chunks_deleted"] == 12  # 6 chunks, 2 replicas each
    assert not any(chunk_ids & node.chunk_ids() for node in cluster.nodes)


def test_a_client_without_the_ca_refuses_and_plain_http_is_told_to_use_https(
    cluster: Cluster, tmp_path: Path
) -> None:
    controller = cluster.controller_url
    services = [cluster.url, controller, *(n.url for n in cluster.nodes)]
    for url in services:
        # urllib with the system's trust, as any client that was not given the CA
        with pytest.raises(urllib.error.URLError) as refused:
            urllib.request.urlopen(f"{url}/healthz", timeout=10)
        assert isinstance(refused.value.reason, ssl.SSLCertVerificationError), url
        plain = url.replace("https://", "http://")
        told = http("GET", f"{plain}/healthz?x=1")
        assert told.status == 400, url
        assert told.json() == {"error": f"this service speaks HTTPS only: use {url}/healthz?x=1"}

    status = cli("status", "--controller", controller, ca=None, cache=tmp_path)
    assert status.returncode == 2 and status.stdout == ""
    assert "is not trusted" in status.stderr and "--tls-ca" in status.stderr, status.stderr
    fsck = cli("fsck", "--controller", controller, ca=None, cache=tmp_path)
    assert fsck.returncode == 2 and "is not trusted" in fsck.stderr, fsck.stderr
    shared = cli("share", __file__, "--server", cluster.url, ca=None, cache=tmp_path)
    assert shared.returncode == 1 and "is not trusted" in shared.stderr, shared.stderr
    assert "Traceback" not in status.stderr + fsck.stderr + shared.stderr

    http_url = controller.replace("https://", "http://")
    told_cli = cli("status", "--controller", http_url, ca=None, cache=tmp_path)
    assert told_cli.returncode == 2, told_cli
    assert f"speaks HTTPS only: use {controller}/status" in told_cli.stderr, told_cli.stderr


def test_a_node_that_does_not_trust_the_ca_cannot_join(
    cluster: Cluster, procs: ProcessGroup, tmp_path: Path
) -> None:
    """A service's own --tls-ca is all it trusts: a node given another CA's bundle refuses
    the controller's certificate, says so, and never registers."""
    stranger = TestCA.create(tmp_path / "stranger", "another CA")
    port, data = free_port(), tmp_path / "stranger-node"
    argv = ["node", "--data", str(data), "--port", str(port), "--controller",
            cluster.controller_urls, "--tls-ca", str(stranger.ca)]  # fmt: skip
    node = procs.spawn("stranger-node", argv, url=cluster.service_url(port)).wait_healthy()
    wait_for(
        lambda: "is not trusted" in node.log_path.read_text(),
        timeout=20,
        what="the node's log to say the controller's certificate is not trusted",
    )
    node_id = (data / "node-id").read_text().strip()
    assert node_id not in {n["id"] for n in cluster.api("GET", "/nodes").json()}
