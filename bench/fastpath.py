"""Each piece of ``filefleet/fastpath`` against the plain path it replaces, in one process.

    python -m bench.fastpath                 # every piece, 3 alternating rounds
    python -m bench.fastpath client allocator --rounds 5

Each figure is this process's CPU time (user + system, every thread) and minor page faults
per GiB moved, the fast piece and its plain path measured in alternating rounds (the
median is printed), so that other work on the machine weighs on both alike, with the
allocator set as every filefleet process sets it (``tune_allocator``). Pieces:

- ``client``: 4 MiB GETs from a local aiohttp server (its own process, not counted) read
  into a reused buffer by ``HttpClient.get_into`` (``fastpath/direct.py``), against
  aiohttp's ``ClientSession`` read into the same buffer; and 4 MiB POSTs sent by
  ``HttpClient.request`` against ``ClientSession.post``.
- ``buffers``: a streamed body (256 KiB pieces) cut into 4 MiB chunks, each hashed,
  into pooled buffers (``pooled_chunks``) against a fresh ``bytearray`` per chunk.
- ``allocator``: 1 GiB received over a socket in 256 KiB ``recv`` calls (a new bytes
  object each, as aiohttp's reads are) with ``tune_allocator`` against glibc's defaults,
  each in a fresh process.
- ``eventloop``: uvloop against asyncio's own loop: 1 GiB through an asyncio stream
  server on loopback (the transports and protocols aiohttp uses), then our client's GETs
  and aiohttp's POSTs of ``client``.
- ``disk``: 256 MiB of 4 MiB chunks written durably (``write_durably``: ``O_DIRECT``
  + fsync) against buffered writes + fsync, and read back cold (evicted from the page
  cache with ``posix_fadvise``) into a reused aligned buffer (``read_into``) against
  ``Path.read_bytes``; wall-clock MiB/s beside the CPU (kernel writeback threads are
  not this process's CPU: the wall clock shows what they cost).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024
GiB = 1024 * MiB
CHUNK = 4 * MiB
PIECE = 256 * 1024


@dataclass(frozen=True)
class Cost:
    cpu: float  # core-seconds per GiB
    faults: float  # minor page faults per GiB
    wall: float  # seconds per GiB


def _usage() -> tuple[float, int, float]:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime, use.ru_minflt, time.perf_counter()


def measured(work: Callable[[], int]) -> Cost:
    """Run ``work`` (it returns the bytes it moved); its cost per GiB."""
    cpu0, faults0, wall0 = _usage()
    moved = work()
    cpu1, faults1, wall1 = _usage()
    per = GiB / moved
    return Cost((cpu1 - cpu0) * per, (faults1 - faults0) * per, (wall1 - wall0) * per)


def report(name: str, runs: dict[str, list[Cost]]) -> None:
    print(f"\n{name}: per GiB, median of {len(next(iter(runs.values())))} rounds")
    for label, costs in runs.items():
        cpu = statistics.median(c.cpu for c in costs)
        faults = statistics.median(c.faults for c in costs)
        rate = GiB / MiB / statistics.median(c.wall for c in costs)
        print(f"  {label:<44} {cpu:6.2f} core-s {faults:9.0f} faults {rate:7.0f} MiB/s")


def compare(name: str, rounds: int, variants: dict[str, Callable[[], int]]) -> None:
    runs: dict[str, list[Cost]] = {label: [] for label in variants}
    for _ in range(rounds):
        for label, work in variants.items():
            runs[label].append(measured(work))
    report(name, runs)


# -- client: fastpath/direct.py against aiohttp's ClientSession ---------------------------


def serve(ready: int) -> None:
    """The server for ``client`` (run in its own process): 4 MiB bodies, and a sink."""
    from aiohttp import web

    body = os.urandom(CHUNK)

    async def chunk(_: web.Request) -> web.Response:
        return web.Response(body=body)

    async def sink(request: web.Request) -> web.Response:
        while await request.content.read(PIECE):
            pass
        return web.Response(status=204)

    async def run() -> None:
        app = web.Application(client_max_size=2 * CHUNK)
        app.router.add_get("/chunk", chunk)
        app.router.add_post("/sink", sink)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        os.write(ready, f"{port}\n".encode())
        await asyncio.Event().wait()

    from filefleet.fastpath.eventloop import install_uvloop

    install_uvloop()
    asyncio.run(run())


Step = Callable[[], Awaitable[None]]


def client_steps(base: str, count: int) -> dict[str, Step]:
    """``count`` 4 MiB GETs or POSTs each, by our client and by aiohttp's."""
    import aiohttp

    from filefleet.http.client import HttpClient

    into = bytearray(CHUNK)
    body = os.urandom(CHUNK)

    async def direct_get() -> None:
        async with HttpClient() as http:
            for _ in range(count):
                await http.get_into(f"{base}/chunk", into)

    async def aiohttp_get() -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(count):
                async with session.get(f"{base}/chunk") as resp:
                    filled = 0
                    async for piece in resp.content.iter_any():
                        into[filled : filled + len(piece)] = piece
                        filled += len(piece)

    async def direct_post() -> None:
        async with HttpClient() as http:
            for _ in range(count):
                await http.request("POST", base, "/sink", data=memoryview(body))

    async def aiohttp_post() -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(count):
                async with session.post(f"{base}/sink", data=body) as resp:
                    await resp.read()

    return {
        "GET  HttpClient.get_into (fastpath/direct.py)": direct_get,
        "GET  aiohttp ClientSession, into the buffer": aiohttp_get,
        "POST HttpClient.request (fastpath/direct.py)": direct_post,
        "POST aiohttp ClientSession.post": aiohttp_post,
    }


def on_loop(
    step: Step, count: int, factory: Callable[[], asyncio.AbstractEventLoop]
) -> Callable[[], int]:
    def work() -> int:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(_awaited(step()))
        return count * CHUNK

    return work


async def _awaited(step: Awaitable[None]) -> None:
    await step


@contextlib.contextmanager
def chunk_server() -> Iterator[str]:
    """``serve`` in its own process (its CPU is not counted): its base URL."""
    read, write = os.pipe()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.fastpath", "--serve", str(write)], pass_fds=(write,)
    )
    try:
        os.close(write)
        with os.fdopen(read) as ready:
            port = int(ready.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()


def bench_client(rounds: int) -> None:
    import uvloop

    count = 256 * MiB // CHUNK
    with chunk_server() as base:
        steps = client_steps(base, count)
        compare(
            "client (on uvloop)",
            rounds,
            {label: on_loop(step, count, uvloop.new_event_loop) for label, step in steps.items()},
        )


# -- buffers: pooled_chunks against a fresh buffer per chunk ------------------------------


async def _pieces(total: int) -> AsyncIterator[bytes]:
    piece = os.urandom(PIECE)
    for _ in range(total // PIECE):
        yield piece


async def fresh_chunks(total: int) -> None:
    """The plain path: the same copy and hashes, into a new buffer for every chunk."""
    from filefleet.fastpath.hashing import InOrderDigest

    whole = InOrderDigest()
    buffer, filled, own = bytearray(CHUNK), 0, hashlib.sha256()
    async for piece in _pieces(total):
        view = memoryview(buffer)[filled : filled + len(piece)]
        view[:] = piece
        own.update(view)
        filled += len(piece)
        if filled == CHUNK:
            own.hexdigest()
            whole.add(memoryview(buffer), lambda: None)
            buffer, filled, own = bytearray(CHUNK), 0, hashlib.sha256()
    await whole.hexdigest()


async def pooled(total: int) -> None:
    from filefleet.fastpath.buffers import BufferPool
    from filefleet.fastpath.hashing import InOrderDigest
    from filefleet.fastpath.pooled_chunks import pooled_chunks

    pool = BufferPool(CHUNK, 5)
    whole = InOrderDigest()
    async for chunk in pooled_chunks(_pieces(total), pool, whole):
        chunk.release()
    await whole.hexdigest()


def bench_buffers(rounds: int) -> None:
    total = 512 * MiB

    def run(cut: Callable[[int], Awaitable[None]]) -> Callable[[], int]:
        def work() -> int:
            asyncio.run(_awaited(cut(total)))
            return total

        return work

    compare(
        "buffers",
        rounds,
        {"pooled_chunks (fastpath)": run(pooled), "a fresh bytearray per chunk": run(fresh_chunks)},
    )


# -- allocator: tune_allocator against glibc's defaults, each in a fresh process ----------


def receive(tuned: bool) -> None:
    """(In a fresh process.) 1 GiB over a socket pair in 256 KiB reads; prints its cost."""
    if tuned:
        from filefleet.fastpath.allocator import tune_allocator

        tune_allocator()
    left, right = socket.socketpair()
    block = os.urandom(CHUNK)

    def send() -> None:
        for _ in range(GiB // CHUNK):
            left.sendall(block)
        left.close()

    def work() -> int:
        sender = threading.Thread(target=send)
        sender.start()
        got = 0
        while data := right.recv(PIECE):
            got += len(data)
        sender.join()
        return got

    cost = measured(work)
    print(cost.cpu, cost.faults, cost.wall)


def bench_allocator(rounds: int) -> None:
    runs: dict[str, list[Cost]] = {"tune_allocator (fastpath)": [], "glibc's defaults": []}
    for _ in range(rounds):
        for label, flag in (("tune_allocator (fastpath)", "1"), ("glibc's defaults", "0")):
            out = subprocess.run(
                [sys.executable, "-m", "bench.fastpath", "--receive", flag],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            runs[label].append(Cost(*(float(x) for x in out)))
    report("allocator (256 KiB recv into new bytes objects)", runs)


# -- eventloop: uvloop against asyncio's own loop -----------------------------------------


async def stream_through_loopback(total: int) -> None:
    done = asyncio.Event()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(PIECE):
            pass
        writer.close()
        done.set()

    server = await asyncio.start_server(sink, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    block = os.urandom(PIECE)
    for _ in range(total // PIECE):
        writer.write(block)
        await writer.drain()
    writer.close()
    await done.wait()
    server.close()


def bench_eventloop(rounds: int) -> None:
    import uvloop

    total = 1 * GiB
    loops: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "uvloop (fastpath/eventloop.py)": uvloop.new_event_loop,
        "asyncio": asyncio.new_event_loop,
    }

    def streams(factory: Callable[[], asyncio.AbstractEventLoop]) -> Callable[[], int]:
        def work() -> int:
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.run(stream_through_loopback(total))
            return total

        return work

    compare(
        "eventloop: asyncio streams over loopback",
        rounds,
        {name: streams(factory) for name, factory in loops.items()},
    )
    count = 256 * MiB // CHUNK
    with chunk_server() as base:
        steps = client_steps(base, count)
        for label in (
            "GET  HttpClient.get_into (fastpath/direct.py)",
            "POST aiohttp ClientSession.post",
        ):
            compare(
                f"eventloop: {label.split(' (')[0]}",
                rounds,
                {name: on_loop(steps[label], count, f) for name, f in loops.items()},
            )


# -- disk: O_DIRECT against the page cache --------------------------------------------------


def bench_disk(rounds: int, directory: Path | None) -> None:
    from filefleet.fastpath import durable
    from filefleet.fastpath.buffers import aligned_buffers
    from filefleet.fastpath.reading import hash_file, read_into

    total = 256 * MiB
    data = os.urandom(CHUNK)
    with tempfile.TemporaryDirectory(prefix="filefleet-fastpath-", dir=directory) as tmp:
        root = Path(tmp)
        paths = [root / f"c{i}" for i in range(total // CHUNK)]

        def writes(write: Callable[[Path, memoryview], None]) -> Callable[[], int]:
            def work() -> int:
                for path in paths:
                    path.unlink(missing_ok=True)
                    write(path, memoryview(data))
                return total

            return work

        buffer = aligned_buffers(CHUNK, 1).take()

        def reads(read: Callable[[Path], object]) -> Callable[[], int]:
            def work() -> int:
                for path in paths:
                    _evict(path)
                for path in paths:
                    read(path)
                return total

            return work

        compare(
            "disk",
            rounds,
            {
                "write_durably: O_DIRECT + fsync (fastpath)": writes(durable.write_durably),
                "buffered write + fsync": writes(durable._write_buffered),
                "read_into: O_DIRECT, reused buffer (fastpath)": reads(
                    lambda p: read_into(p, buffer)
                ),
                "Path.read_bytes: page cache, new bytes": reads(Path.read_bytes),
                "hash_file: O_DIRECT, 1 MiB pieces (fastpath: the scrubber)": reads(hash_file),
                "1 MiB reads through the page cache, hashed": reads(_hash_buffered),
            },
        )


def _hash_buffered(path: Path) -> str:
    """The scrubber's plain path: a file read in 1 MiB pieces, each hashed."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        while block := handle.read(MiB):
            digest.update(block)
    return digest.hexdigest()


def _evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def main() -> None:
    benches: dict[str, Callable[[argparse.Namespace], None]] = {
        "client": lambda a: bench_client(a.rounds),
        "buffers": lambda a: bench_buffers(a.rounds),
        "allocator": lambda a: bench_allocator(a.rounds),
        "eventloop": lambda a: bench_eventloop(a.rounds),
        "disk": lambda a: bench_disk(a.rounds, a.dir),
    }
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pieces", nargs="*", help=f"of {', '.join(benches)} (default: all)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where ``disk`` writes")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--receive", choices=["0", "1"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    if args.receive is not None:
        receive(args.receive == "1")
        return
    unknown = set(args.pieces) - set(benches)
    if unknown:
        parser.error(
            f"no piece named {', '.join(sorted(unknown))}; choose from {', '.join(benches)}"
        )
    from filefleet.fastpath.allocator import tune_allocator

    tune_allocator()  # as in every filefleet process (``allocator`` runs its own processes)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    for piece in args.pieces or benches:
        benches[piece](args)


if __name__ == "__main__":
    main()
