"""Uploads running while a test breaks something, and what each of them was answered.

``UploadLoad`` runs ``workers`` threads, each uploading one random file after another
(sizes drawn from ``sizes``) to the frontend, until the test stops it or its bounds in
count and time run out. It keeps, per upload, when it started and ended and the answer:
a link (with the file's SHA-256 to compare a download against, not its bytes: a test
uploads hundreds of MiB) or an error. The invariants every fault test checks:

- every answer is a 201 with a link, or an error the client can act on: a JSON
  ``{"error": ...}`` with a status in ``allowed_errors`` (503, or 507 for a full disk).
  Never a 500, never a connection torn down without an answer, never a hang;
- every link returned downloads byte-identical once the fault is over.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import statistics
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.client import HTTPException

from tests.harness.cluster import Cluster, http
from tests.harness.processes import FILEFLEET, ProcessGroup, wait_for

MiB = 1024 * 1024
UPLOAD_TIMEOUT = 90.0  # seconds a client waits for one answer
# The frontend's --chunk-size under load: small, so each upload makes dozens of
# controller calls and publishes dozens of events.
CHUNK = 256 * 1024


@dataclass(frozen=True)
class Answer:
    started: float  # time.monotonic()
    ended: float
    size: int
    sha256: str
    status: int  # 0: no HTTP answer at all (connection error, timeout)
    file_id: str | None = None
    error: str | None = None

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def overlaps(self, start: float, end: float) -> bool:
        return self.started < end and self.ended > start


@dataclass
class UploadLoad:
    cluster: Cluster
    workers: int = 4
    sizes: tuple[int, int] = (16 * MiB, 24 * MiB)
    max_uploads: int = 200
    max_seconds: float = 90.0
    allowed_errors: frozenset[int] = frozenset({503})
    answers: list[Answer] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _started: int = 0

    def start(self) -> UploadLoad:
        deadline = time.monotonic() + self.max_seconds
        for seed in range(self.workers):
            thread = threading.Thread(target=self._work, args=(seed, deadline), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """No new upload starts; those in flight finish (each bounded by its timeout)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(UPLOAD_TIMEOUT + 10)
        assert not any(t.is_alive() for t in self._threads), "an upload never ended"

    def _take_turn(self, deadline: float) -> bool:
        with self._lock:
            if self._stop.is_set() or self._started >= self.max_uploads:
                return False
            if time.monotonic() > deadline:
                return False
            self._started += 1
            return True

    def _work(self, seed: int, deadline: float) -> None:
        rng = random.Random(seed)
        while self._take_turn(deadline):
            answer = upload_once(self.cluster, os.urandom(rng.randrange(*self.sizes)))
            with self._lock:
                self.answers.append(answer)

    # -- what happened ------------------------------------------------------------------------

    def linked(self) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.file_id is not None]

    def finished_ok_after(self, moment: float) -> int:
        """Uploads that started after ``moment`` and got a link."""
        return sum(a.started > moment for a in self.linked())

    def unacceptable(self) -> list[Answer]:
        """Answers that break the invariants: not a link, not a JSON error we allow."""
        with self._lock:
            return [
                a
                for a in self.answers
                if a.file_id is None and (a.status not in self.allowed_errors or a.error is None)
            ]


def upload_once(cluster: Cluster, data: bytes) -> Answer:
    sha256 = hashlib.sha256(data).hexdigest()
    query = urllib.parse.urlencode({"name": "load.bin"})
    started = time.monotonic()
    try:
        got = http(
            "POST",
            f"{cluster.url}/upload?{query}",
            data,
            {"Accept": "application/json"},
            timeout=UPLOAD_TIMEOUT,
        )
    except (OSError, HTTPException) as exc:  # no answer: refused, reset, timed out, cut
        return Answer(started, time.monotonic(), len(data), sha256, 0, error=repr(exc))
    ended = time.monotonic()
    body = _json(got.body)
    file_id = body.get("id")
    if got.status == 201 and body.get("sha256") == sha256 and isinstance(file_id, str):
        return Answer(started, ended, len(data), sha256, 201, file_id=file_id)
    error = body.get("error")
    return Answer(
        started, ended, len(data), sha256, got.status,
        error=error if isinstance(error, str) and got.status != 201 else None,
    )  # fmt: skip


def _json(raw: bytes) -> dict[str, object]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# What a filefleet service logs for an exception nobody translated.
MARKS = ("unexpected error", "pass failed")


def untranslated_errors(procs: ProcessGroup) -> list[str]:
    """Log lines of the filefleet services that betray an exception nobody translated: a
    500 answered ("unexpected error") or a background pass that crashed ("pass failed")."""
    found = []
    for proc in procs.processes:
        if proc.args[: len(FILEFLEET)] == FILEFLEET and proc.log_path.exists():
            lines = proc.log_path.read_text(errors="replace").splitlines()
            found += [f"{proc.name}: {line}" for line in lines if any(m in line for m in MARKS)]
    return found


def mismatched_downloads(cluster: Cluster, answers: Iterable[Answer]) -> list[str]:
    """Every linked upload downloaded and hashed: the ones that are not byte-identical."""
    bad = []
    for answer in answers:
        assert answer.file_id is not None
        got = cluster.download(answer.file_id)
        if got.status != 200 or hashlib.sha256(got.body).hexdigest() != answer.sha256:
            bad.append(f"{answer.file_id}: {got.status} {got.body[:200]!r}")
    return bad


def percentiles(seconds: list[float]) -> str:
    """``p50/p99/max`` of upload times, for the test's report line."""
    if not seconds:
        return "none"
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.2f}s p99 {p99:.2f}s max {ordered[-1]:.2f}s"


@dataclass(frozen=True)
class FaultWindow:
    """Monotonic moments of a fault: ``break_it()`` called (``down``) and returned
    (``broken``), ``mend_it()`` called (``mending``) and returned (``up``)."""

    down: float
    broken: float
    mending: float
    up: float

    def met(self, answers: Iterable[Answer]) -> list[Answer]:
        """The uploads in flight at some moment of the fault."""
        return [a for a in answers if a.overlaps(self.down, self.up)]

    def within(self, answers: Iterable[Answer]) -> list[Answer]:
        """The uploads that began and ended while the thing was surely broken."""
        return [a for a in answers if a.started >= self.broken and a.ended <= self.mending]


def run_fault(
    load: UploadLoad,
    break_it: Callable[[], object],
    mend_it: Callable[[], object],
    *,
    outage: float,
    seen: Callable[[], bool] = lambda: True,
    warm: int = 4,
    after: int = 4,
) -> FaultWindow:
    """Start ``load``; once ``warm`` uploads got a link, ``break_it()``; leave it broken for
    ``outage`` seconds and until ``seen()`` (the fleet noticed); ``mend_it()``; go on until
    ``after`` uploads started since then got a link; stop the load (always)."""
    load.start()
    try:
        wait_for(
            lambda: len(load.linked()) >= warm or load.unacceptable(),
            timeout=60,
            what=f"{warm} uploads before the fault",
        )
        down = time.monotonic()
        break_it()
        broken = time.monotonic()
        wait_for(
            lambda: time.monotonic() - down >= outage and seen(),
            timeout=outage + 30,
            interval=0.1,
            what="the fault noticed for the whole outage",
        )
        mending = time.monotonic()
        mend_it()
        up = time.monotonic()
        wait_for(
            lambda: load.finished_ok_after(up) >= after or load.unacceptable(),
            timeout=60,
            interval=0.2,
            what=f"{after} uploads started after the fault got a link",
        )
    finally:
        load.stop()
    return FaultWindow(down, broken, mending, up)


def fault_report(fault: str, answers: list[Answer], window: FaultWindow) -> str:
    """One line of figures for docs/reliability.md: uploads that met the fault and their
    times, and how soon an upload started after it got a link."""
    down, up = window.down, window.up
    met = window.met(answers)
    before = [a.seconds for a in answers if a.ended < down]
    after = [a.ended - up for a in answers if a.file_id is not None and a.started > up]
    refused = sum(a.status != 201 for a in answers)
    return (
        f"\nFAULT {fault}: {len(answers)} uploads, {refused} refused; "
        f"fault lasted {up - down:.1f}s; "
        f"{len(met)} met it ({sum(a.status == 201 for a in met)} linked): "
        f"{percentiles([a.seconds for a in met])}; before it: {percentiles(before)}; "
        f"first upload started after it linked {min(after, default=float('nan')):.1f}s after"
    )
