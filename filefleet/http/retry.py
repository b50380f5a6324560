"""Retry and failover: how the one HTTP client (``client.py``) keeps calling when a call
fails, and when it gives up.

- What is retried: connection errors, timeouts and 5xx answers (the fleet may recover);
  never a 4xx (the request is wrong: repeating it gives the same answer), and not an error
  of the policy's ``final`` classes (a caller that can go elsewhere, such as the next
  node, does not wait for a hung or full one).
- How: ``RetryPolicy``, a typed, bounded signal: up to ``attempts`` tries, the wait
  doubling from ``base_delay`` up to ``max_delay``, jittered.
- Failover (``Failover``): of several base URLs (``--controller URL1,URL2``) each attempt
  tries them in turn, the one that answered last first, so once a controller is down
  later calls do not wait for it (a dead host can cost a whole connect timeout).
- Giving up: after the last attempt the caller gets the last error (``Unavailable``, or
  the 5xx's own) and decides: the next node (``frontend/writer.py``), a 503, a retried
  event (``queue/dead_letters.py``).
- First contact (``FirstContact``): until a server has answered a command-line client
  once, its own short policy; a client that reached its server rides out a restart of it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from filefleet.core.errors import ConnectTimedOut, FilefleetError, Unavailable, Unreachable
from filefleet.http.deadlines import Deadlines

log = logging.getLogger(__name__)

R = TypeVar("R")


@dataclass(frozen=True)
class RetryPolicy:
    """Up to ``attempts`` tries, waiting ``base_delay * 2**n`` (capped, jittered) between.

    Errors of the ``final`` classes are not tried again even though they are retryable:
    for a caller that has somewhere else to go (another node), a node that passed a
    deadline (``TimedOut``: hung, cut off or too slow) or is full will not do better a
    moment later."""

    attempts: int = 4
    base_delay: float = 0.05
    max_delay: float = 2.0
    final: tuple[type[FilefleetError], ...] = ()

    def delay(self, attempt: int) -> float:
        capped: float = min(self.max_delay, self.base_delay * 2.0**attempt)
        return capped * random.uniform(0.5, 1.0)


NO_RETRY = RetryPolicy(attempts=1)
# What "nothing answers at that address" is: no connection could be made at all.
NO_ANSWER = (Unreachable, ConnectTimedOut)


@dataclass(frozen=True)
class FirstContact:
    """How a client's requests go until a server has answered it once: a command-line
    client whose server is not running says so within two seconds, while one that has
    reached its server rides out a restart of it with its usual, patient policy.

    ``retry`` replaces the caller's policy; ``connect`` bounds the connect phase."""

    retry: RetryPolicy
    connect: float

    def deadlines(self, usual: Deadlines) -> Deadlines:
        return replace(usual, connect=min(usual.connect, self.connect))


@dataclass
class Failover:
    """Sticky failover: per list of base URLs, the one that answered last."""

    preferred: dict[tuple[str, ...], str] = field(default_factory=dict)

    def ordered(self, bases: Sequence[str]) -> list[str]:
        """``bases`` with the one that answered last put first."""
        if len(bases) < 2:
            return list(bases)
        good = self.preferred.get(tuple(sorted(bases)))
        if good is None or good == bases[0]:
            return list(bases)
        return [good, *(b for b in bases if b != good)]

    def answered(self, bases: Sequence[str], url: str) -> None:
        if len(bases) > 1:
            self.preferred[tuple(sorted(bases))] = url


@dataclass
class Calls:
    """A client's calls: retries made (a counter), and whether any server answered yet."""

    retries: int = 0
    answered: bool = False


async def call_with_retry(
    policy: RetryPolicy,
    failover: Failover,
    bases: Sequence[str],
    once: Callable[[str], Awaitable[R]],
    calls: Calls,
    what: str,
) -> R:
    """``once(url)`` over ``bases`` (in failover order) until one answers, for up to
    ``policy.attempts`` rounds; the last error after the last round."""
    ordered = failover.ordered(bases)
    last: FilefleetError = Unavailable(f"{what}: no URL to call")
    for attempt in range(policy.attempts):
        if attempt:
            calls.retries += 1
            await asyncio.sleep(policy.delay(attempt - 1))
        for url in ordered:
            try:
                answer = await once(url)
            except FilefleetError as exc:
                calls.answered = calls.answered or not isinstance(exc, NO_ANSWER)
                if not exc.retryable or isinstance(exc, policy.final):
                    raise
                last = exc
                log.debug("%s on %s failed: %s", what, url, exc.message)
                continue
            calls.answered = True
            failover.answered(bases, url)
            return answer
    raise last
