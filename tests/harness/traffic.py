"""Clients that upload and download while a fault happens, recording what each request saw.

``Traffic(url, clients=4)`` runs that many threads; each, until ``stop()`` (or its count
of rounds), uploads fresh random bytes with ``POST /upload``, then downloads a file some
client uploaded (its own or another's, and the files given at start) and compares every
byte. With ``downloadable`` only files it approves are downloaded: a fault test that
checks reads are hedged to another replica reads files that have one. Every request is
timed the way a user feels it:

- an upload's ``seconds`` run from its body's last byte to the answer (what a client
  waits for once it has sent everything);
- a download's ``stall`` is the longest pause between two pieces of its body, and
  ``seconds`` the whole transfer.

A request that gets no answer within ``give_up`` seconds is recorded as ``hung``. Nothing
is retried: the records are the evidence the fault tests assert on (no 500, no hang, no
wrong byte, bounded times) and print when they fail.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import statistics
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

PIECE = 64 * 1024


@dataclass
class Op:
    kind: str  # upload | download
    status: int  # HTTP status; 0: no answer (connection failed, or hung)
    seconds: float
    stall: float = 0.0
    ok: bool = False  # upload: 201 with the right sha256; download: identical bytes
    hung: bool = False
    wrong: bool = False  # a download that answered 200 and delivered other bytes
    detail: str = ""
    file_id: str = ""
    started: float = 0.0  # seconds since the traffic began
    finished: float = 0.0
    size: int = 0  # bytes uploaded or downloaded

    def line(self) -> str:
        what = "hung" if self.hung else self.status
        return (
            f"{self.kind:8} {what!s:5} ok={self.ok!s:5} {self.seconds:6.2f}s "
            f"stall={self.stall:5.2f}s {self.file_id[:10]} {self.detail[:120]}"
        )


@dataclass
class Traffic:
    url: str
    clients: int = 4
    size: int = 4 * 1024 * 1024
    give_up: float = 120.0
    rounds: int = 1000  # per client; the stop() call usually ends it first
    files: dict[str, bytes] = field(default_factory=dict)  # acknowledged uploads
    downloadable: Callable[[str], bool] = lambda _: True
    ops: list[Op] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        self._host = parts.hostname or ""
        self._port = parts.port or 80
        self._t0 = time.monotonic()

    # -- running ----------------------------------------------------------------------------

    def start(self) -> Traffic:
        for index in range(self.clients):
            thread = threading.Thread(target=self._client, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Ask every client to finish its current request, and wait for them."""
        self._stop.set()
        deadline = time.monotonic() + (timeout if timeout is not None else self.give_up * 2)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t for t in self._threads if t.is_alive()]
        assert not alive, f"{len(alive)} client(s) still inside a request\n{self.report()}"

    def count(self, kind: str) -> int:
        with self._lock:
            return sum(1 for op in self.ops if op.kind == kind and op.ok)

    def _client(self, index: int) -> None:
        rng = random.Random(index)
        for _ in range(self.rounds):
            if self._stop.is_set():
                return
            self._record(self.upload(os.urandom(self.size), f"c{index}.bin"))
            if self._stop.is_set():
                return
            with self._lock:
                choices = list(self.files.items())
            rng.shuffle(choices)
            choices = [c for c in choices[:8] if self.downloadable(c[0])][:1]
            if choices:
                file_id, data = rng.choice(choices)
                self._record(self.download(file_id, data))

    def _record(self, op: Op) -> None:
        op.finished = time.monotonic() - self._t0
        with self._lock:
            self.ops.append(op)

    # -- one request each -------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self._host, self._port, timeout=self.give_up)

    def upload(self, data: bytes, name: str) -> Op:
        started = time.monotonic() - self._t0
        conn = self._connection()
        query = urllib.parse.urlencode({"name": name})
        headers = {"Accept": "application/json", "Content-Type": "application/octet-stream"}
        sent = time.monotonic()
        try:
            conn.request("POST", f"/upload?{query}", body=data, headers=headers)
            sent = time.monotonic()  # the body's last byte is with the kernel
            resp = conn.getresponse()
            body = resp.read()
        except TimeoutError as exc:
            return Op("upload", 0, time.monotonic() - sent, hung=True, detail=repr(exc),
                      started=started)  # fmt: skip
        except OSError as exc:
            return Op("upload", 0, time.monotonic() - sent, detail=repr(exc), started=started)
        finally:
            conn.close()
        seconds = time.monotonic() - sent
        op = Op("upload", resp.status, seconds, detail=body[:300].decode(errors="replace"),
                started=started)  # fmt: skip
        if resp.status == 201:
            answer = json.loads(body)
            op.file_id = answer["id"]
            op.size = len(data)
            op.ok = answer["sha256"] == hashlib.sha256(data).hexdigest()
            if op.ok:
                with self._lock:
                    self.files[op.file_id] = data
        return op

    def download(self, file_id: str, data: bytes) -> Op:
        """GET the file, reading it piece by piece to measure the longest stall."""
        started = time.monotonic() - self._t0
        begin = time.monotonic()
        conn = self._connection()
        got = bytearray()
        stall = 0.0
        status = 0
        announced = -1
        try:
            conn.request("GET", f"/download/{file_id}")
            resp = conn.getresponse()
            status = resp.status
            announced = int(resp.getheader("Content-Length") or -1)
            last = time.monotonic()
            stall = last - begin
            while piece := resp.read(PIECE):
                now = time.monotonic()
                stall = max(stall, now - last)
                last = now
                got += piece
        except TimeoutError as exc:
            return Op("download", status, time.monotonic() - begin, stall, hung=True,
                      detail=repr(exc), file_id=file_id, started=started)  # fmt: skip
        except (OSError, http.client.HTTPException) as exc:
            detail = f"{exc!r} after {len(got)} bytes"
            return Op("download", status, time.monotonic() - begin, stall, detail=detail,
                      file_id=file_id, started=started)  # fmt: skip
        finally:
            conn.close()
        seconds = time.monotonic() - begin
        ok = status == 200 and bytes(got) == data
        # A body shorter than its Content-Length is a loud failure (the frontend cut the
        # connection); one of the full length with other bytes would be a wrong byte served.
        wrong = status == 200 and not ok and len(got) == announced
        shown = bytes(got[:200]).decode(errors="replace")
        detail = "" if ok else f"{len(got)} of {announced} bytes; {shown}"
        return Op("download", status, seconds, stall, ok=ok, wrong=wrong, detail=detail,
                  file_id=file_id, started=started)  # fmt: skip

    # -- what was seen ----------------------------------------------------------------------

    def uploads(self) -> list[Op]:
        return [op for op in self.ops if op.kind == "upload"]

    def downloads(self) -> list[Op]:
        return [op for op in self.ops if op.kind == "download"]

    def report(self) -> str:
        with self._lock:
            lines = [op.line() for op in self.ops]
        return "\n".join(["---- traffic ----", *lines, self.summary()])

    def summary(self) -> str:
        ups = [op.seconds for op in self.uploads() if op.ok]
        downs = [op.stall for op in self.downloads()]
        done = [op for op in self.uploads() if op.ok]
        span = max((op.finished for op in done), default=0.0) - min(
            (op.started for op in done), default=0.0
        )
        rate = sum(op.size for op in done) / span / 1024**2 if span > 0 else 0.0
        return (
            f"uploads ok {len(ups)}/{len(self.uploads())} ({rate:.0f} MiB/s in all), "
            f"answered p50 {percentile(ups, 50):.2f}s p99 {percentile(ups, 99):.2f}s "
            "after the last byte; "
            f"downloads ok {sum(op.ok for op in self.downloads())}/{len(self.downloads())} "
            f"longest stall {max(downs, default=0.0):.2f}s"
        )

    def check(
        self, *, answer_within: float, stall_within: float, fail_within: float = 15.0
    ) -> None:
        """The invariants every fault scenario holds the traffic to: every request ended
        with an answer (never hung) that is a success or a clear 503/507, never a 500;
        every download that answered 200 is identical or was cut short loudly; uploads
        answered within ``answer_within`` of their last byte; downloads that succeeded
        never paused longer than ``stall_within``, and those that failed (every replica of
        a chunk out of reach: a file not yet replicated whose one copy is on the faulty
        node) failed within ``fail_within``."""
        problems: list[str] = []
        for op in self.ops:
            if op.hung:
                problems.append(f"hung: {op.line()}")
            elif op.status >= 500 and op.status not in (503, 507):
                problems.append(f"status {op.status}: {op.line()}")
            elif op.status in (503, 507) and '"error"' not in op.detail:
                problems.append(f"error without JSON: {op.line()}")
            elif op.kind == "upload" and op.status == 201 and not op.ok:
                problems.append(f"wrong hash: {op.line()}")
            elif op.kind == "upload" and op.seconds > answer_within:
                problems.append(f"slow answer: {op.line()}")
            elif op.wrong:
                problems.append(f"wrong bytes: {op.line()}")
            elif op.kind == "download" and op.ok and op.stall > stall_within:
                problems.append(f"stalled: {op.line()}")
            elif op.kind == "download" and not op.ok and op.seconds > fail_within:
                problems.append(f"slow to fail: {op.line()}")
        assert not problems, "\n".join(problems) + "\n" + self.report()


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[min(98, int(pct) - 1)]
