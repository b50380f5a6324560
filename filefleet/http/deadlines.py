"""Per-hop deadlines: how long one call to another service may take, phase by phase.

A call between services crosses one hop (this process to that one); what can go wrong
on a hop is different in each phase of the call, so each phase has its own bound instead
of one timeout for the whole request:

- **connect**: a TCP connection to a host that is up takes a round trip; a host that is
  gone (packets dropped) would make the kernel retry SYNs for two minutes.
- **answer**: from the request's last byte to the answer's first, and the longest pause
  while bytes move. A hung process (SIGSTOP, a deadlock) accepts connections and
  takes bytes into its kernel's buffers, then never answers: only this notices it.
- **min_rate**: a body (sent or received) must keep moving at least this fast on
  average, after ``grace`` seconds of slack at its start. A node behind a slow or lossy
  link still moves a few bytes now and then, so the pause rule alone would let it hold
  a 4 MiB chunk for minutes; the rate rule hands the chunk to another node instead.
  ``min_rate=0`` turns it off: a command-line client over someone's slow uplink may
  take as long as it needs, as long as it keeps moving.

``Watch`` applies them to one ``asyncio.Timeout`` as a call goes from phase to phase.
A deadline is pushed back as bytes move only once it has come ``SLACK`` of the pause
bound closer: moving it is a timer cancelled and made anew, and a socket that takes a
chunk in many small pieces would otherwise do that thousands of times per GiB.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

MiB = 1024 * 1024
SLACK = 1 / 8


@dataclass(frozen=True)
class Deadlines:
    connect: float = 2.0
    answer: float = 10.0
    min_rate: float = 1.0 * MiB  # bytes per second; 0: no rate rule
    grace: float = 2.0

    def body_time(self, size: int) -> float:
        """The longest a body of ``size`` bytes may take under the rate rule."""
        if self.min_rate <= 0:
            return float("inf")
        return self.grace + size / self.min_rate


# Services calling each other on a LAN: a chunk write or read that cannot keep 1 MiB/s
# goes to another node (DESIGN §5, docs/reliability.md).
SERVICE = Deadlines()
# The command-line client over the internet: bodies may take as long as they need while
# they move; five minutes without progress fails.
CLIENT = Deadlines(connect=10.0, answer=300.0, min_rate=0.0)


class Watch:
    """One call's deadline, moved as the call goes from phase to phase."""

    def __init__(self, deadlines: Deadlines, timeout: asyncio.Timeout) -> None:
        self.deadlines = deadlines
        self.timeout = timeout
        self.loop = asyncio.get_running_loop()
        self.phase = "connect"
        self._body_start = 0.0
        self._moved = 0

    def _set(self, when: float) -> None:
        self.timeout.reschedule(when)

    def connecting(self) -> None:
        self.phase = "connect"
        self._set(self.loop.time() + self.deadlines.connect)

    def sending(self) -> None:
        """The request (head and body) is going out."""
        self._start_body("send")

    def waiting(self) -> None:
        """The request is out; the answer's head is due within ``answer``."""
        self.phase = "answer"
        self._set(self.loop.time() + self.deadlines.answer)

    def receiving(self) -> None:
        """The answer's body is coming in."""
        self._start_body("receive")

    def _start_body(self, phase: str) -> None:
        self.phase = phase
        self._body_start = self.loop.time()
        self._moved = 0
        self._set(self._due(self._body_start))

    def moved(self, count: int) -> None:
        """``count`` more bytes went out or came in: push the deadline back."""
        self._moved += count
        now = self.loop.time()
        due = self._due(now)
        current = self.timeout.when() or 0.0
        if due - current > self.deadlines.answer * SLACK:
            self._set(due)

    def _due(self, now: float) -> float:
        """The pause rule, and the rate rule where it applies: whichever ends first."""
        pause = now + self.deadlines.answer
        rate = self.deadlines.min_rate
        if rate <= 0:
            return pause
        return min(pause, self._body_start + self.deadlines.grace + self._moved / rate)

    def expired(self) -> str:
        """What the call was doing when its deadline passed, for the error message."""
        d = self.deadlines
        if self.phase == "connect":
            return f"no connection within {d.connect:g}s"
        if self.phase == "answer":
            return f"no answer within {d.answer:g}s of the request"
        return (
            f"the body moved too slowly ({self._moved} bytes in "
            f"{self.loop.time() - self._body_start:.1f}s; at least {d.min_rate / MiB:g} MiB/s "
            f"after {d.grace:g}s, and no pause over {d.answer:g}s)"
            if d.min_rate > 0
            else f"the body paused for over {d.answer:g}s"
        )
