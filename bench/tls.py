"""What HTTPS costs on one hop: 4 MiB chunks written to a node, copied node to node, and
read back, over plain HTTP and over HTTPS, on loopback.

    python -m bench.tls                     # 256 MiB each way, 4 chunks in flight
    python -m bench.tls --size 1GiB --inflight 16

Two file nodes per scheme (``filefleet node``, each its own process), the second given a
certificate of a throwaway CA made with the ``openssl`` commands of docs/deployment.md.
The client is this process, with the services' HTTP client: writes are ``POST /chunk``
(the frontend's store), copies ``POST /chunk/{id}/copy`` (the replicator's: the target
node reads the chunk from the holder), reads ``GET /chunk/{id}`` hashed as it arrives (the
frontend's download). Prints MiB/s and the core-seconds per GiB of the client and of each
node (from /proc, user + system), so the cost of TLS is the difference of two lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.cluster import wait_healthy
from filefleet.core.hashing import sha256_hex
from filefleet.core.models import NodeRef
from filefleet.core.units import parse_size
from filefleet.fastpath.eventloop import install_uvloop
from filefleet.http.client import HttpClient
from filefleet.http.node_api import NodeClient
from filefleet.runtime.ports import free_port

MiB = 1024 * 1024
CHUNK = 4 * MiB
SECRET = "bench-secret"
_TICKS = os.sysconf("SC_CLK_TCK")


def make_ca(root: Path) -> tuple[Path, Path, Path]:
    """A CA and one certificate for 127.0.0.1, by docs/deployment.md's commands:
    (CA bundle, certificate, key)."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=root, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
            "-subj", "/CN=filefleet bench CA")  # fmt: skip
    openssl("req", "-new", *ec, "-keyout", "node.key", "-out", "node.csr", "-subj", "/CN=node")
    (root / "node.ext").write_text(
        "subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\n"
    )
    signing = ["-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "30"]
    openssl("x509", "-req", "-in", "node.csr", *signing, "-out", "node.pem", "-extfile", "node.ext")
    return root / "ca.pem", root / "node.pem", root / "node.key"


@dataclass
class Node:
    url: str
    data: Path
    process: subprocess.Popen[bytes]

    @property
    def ref(self) -> NodeRef:
        return NodeRef(id=(self.data / "node-id").read_text().strip(), url=self.url)

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS


@contextlib.contextmanager
def nodes(root: Path, tls: tuple[Path, Path, Path] | None) -> Iterator[list[Node]]:
    """Two nodes on loopback, over HTTPS with ``tls`` (CA, certificate, key)."""
    started: list[Node] = []
    scheme = "https" if tls else "http"
    extra = []
    if tls is not None:
        extra = ["--tls-cert", str(tls[1]), "--tls-key", str(tls[2]), "--tls-ca", str(tls[0])]
    try:
        for index in (1, 2):
            port, data = free_port(), root / f"{scheme}-node-{index}"
            argv = [sys.executable, "-m", "filefleet", "node", "--data", str(data),
                    "--port", str(port), "--controller", f"http://127.0.0.1:{free_port()}",
                    "--ping-interval", "1h", "--scrub-rate", "0", *extra]  # fmt: skip
            env = {**os.environ, "FILEFLEET_SECRET": SECRET}
            log = (root / f"{scheme}-node-{index}.log").open("wb")
            process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
            started.append(Node(f"{scheme}://127.0.0.1:{port}", data, process))
        for node in started:
            wait_listening(node, tls[0] if tls else None)
        yield started
    finally:
        for node in started:
            node.process.terminate()
            node.process.wait(30)


def wait_listening(node: Node, ca: Path | None) -> None:
    import ssl

    context = ssl.create_default_context(cafile=str(ca)) if ca else None
    wait_healthy(node.url, context=context)


@dataclass
class Phase:
    name: str
    mib_s: float
    client: float  # core-seconds per GiB
    nodes: list[float]


async def timed(
    name: str, size: int, group: list[Node], work: Callable[[], Awaitable[None]]
) -> Phase:
    before = [n.cpu() for n in group]
    client, start = time.process_time(), time.perf_counter()
    await work()
    seconds, client = time.perf_counter() - start, time.process_time() - client
    gib = size / 1024**3
    spent = [(n.cpu() - b) / gib for n, b in zip(group, before, strict=True)]
    return Phase(name, size / MiB / seconds, client / gib, spent)


async def measure(group: list[Node], ca: Path | None, size: int, inflight: int) -> list[Phase]:
    chunks = [os.urandom(CHUNK) for _ in range(min(16, size // CHUNK))]
    count = size // CHUNK
    gate = asyncio.Semaphore(inflight)
    first, second = group
    async with HttpClient(secret=SECRET, tls_ca=ca) as http:
        api = NodeClient(http)
        ids: list[str] = []

        async def each(step: Callable[[int], Awaitable[None]]) -> None:
            async def one(index: int) -> None:
                async with gate:
                    await step(index)

            await asyncio.gather(*(one(i) for i in range(count)))

        async def write(index: int) -> None:  # a distinct chunk each time: 8 bytes differ
            data = bytearray(chunks[index % len(chunks)])
            data[:8] = index.to_bytes(8, "big")
            ids.append(sha256_hex(data))
            await api.put_chunk(first.url, ids[-1], data)

        async def copy(index: int) -> None:
            await api.copy_chunk(second.url, ids[index], [first.ref])

        buffers = [bytearray(CHUNK) for _ in range(inflight)]

        async def read(index: int) -> None:
            buffer = buffers.pop()
            try:
                await api.get_chunk(second.url, ids[index], into=buffer)
            finally:
                buffers.append(buffer)

        return [
            await timed("write (POST /chunk)", size, group, lambda: each(write)),
            await timed("copy node to node", size, group, lambda: each(copy)),
            await timed("read, hashed (GET /chunk)", size, group, lambda: each(read)),
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="256MiB")
    parser.add_argument("--inflight", type=int, default=4)
    args = parser.parse_args()
    size = parse_size(args.size) // CHUNK * CHUNK
    install_uvloop()
    with tempfile.TemporaryDirectory(prefix="filefleet-bench-tls-") as tmp:
        root = Path(tmp)
        tls = make_ca(root)
        for label, given in (("http ", None), ("https", tls)):
            with nodes(root, given) as group:
                phases = asyncio.run(measure(group, tls[0] if given else None, size, args.inflight))
            for p in phases:
                node_cpu = " + ".join(f"{c:.2f}" for c in p.nodes)
                print(
                    f"{label} {p.name:<26} {p.mib_s:6.0f} MiB/s  core-s/GiB: client "
                    f"{p.client:.2f}, nodes {node_cpu}"
                )


if __name__ == "__main__":
    main()
