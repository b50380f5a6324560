"""Running things: an aiohttp app until a signal, and background services pass by pass.

A background service (node ping, scrubber, replicator, GC) is a ``Service``: ``run_once()``
does one pass and returns its counts; ``run_forever()`` calls it every ``interval`` seconds
until stopped. Tests drive passes; only ``run_forever`` knows about clocks.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import signal
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

from aiohttp import web

from filefleet.core.errors import FilefleetError
from filefleet.fastpath.eventloop import install_uvloop
from filefleet.runtime.https_site import HttpsSite
from filefleet.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

READ_BUFSIZE = 1024 * 1024
BACKLOG = 1024


class Service(abc.ABC):
    name: str = "service"
    pass_log_level: int = logging.INFO  # level of the "pass: counts" line (DEBUG for chatty loops)

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.passes = 0
        self.failures = 0
        self._stop = asyncio.Event()

    @abc.abstractmethod
    async def run_once(self) -> Mapping[str, int]:
        """One pass; returns what it did, e.g. ``{"copied": 3}``."""

    def stop(self) -> None:
        self._stop.set()

    async def run_forever(self) -> None:
        while not self._stop.is_set():
            await self._tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval)

    async def _tick(self) -> None:
        try:
            counts = await self.run_once()
        except asyncio.CancelledError:
            raise
        except FilefleetError as exc:  # the fleet failed it (a service down): no bug
            self.failures += 1
            log.warning("%s pass stopped: %s; next pass in %.1fs",
                        self.name, exc.message, self.interval)  # fmt: skip
            return
        except Exception:
            self.failures += 1
            log.exception("%s pass failed; next pass in %.1fs", self.name, self.interval)
            return
        self.passes += 1
        if any(counts.values()):
            log.log(
                self.pass_log_level,
                "%s pass: %s",
                self.name,
                ", ".join(f"{k}={v}" for k, v in counts.items()),
            )


Closer = Callable[[], Awaitable[None]]


def run_beside(
    app: web.Application, services: Sequence[Service], closers: Sequence[Closer] = ()
) -> None:
    """Run each service's ``run_forever`` while ``app`` serves; on shutdown stop them, wait
    for them, then call ``closers`` (HTTP clients, queues) in order."""

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(s.run_forever(), name=s.name) for s in services]
        yield
        for running in services:
            running.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for close in closers:
            await close()

    app.cleanup_ctx.append(lifecycle)


async def serve_until_signal(
    app_factory: Callable[[], Awaitable[web.Application]],
    host: str,
    port: int,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Serve the app on host:port until SIGINT/SIGTERM, then clean up; over HTTPS only
    when given a TLS context (``https_site.py``)."""
    app = await app_factory()
    # A larger read buffer lets a 4 MiB chunk body arrive in fewer pause/resume rounds of
    # the transport (aiohttp pauses reading at twice this size).
    runner = web.AppRunner(app, access_log=None, handle_signals=False, read_bufsize=READ_BUFSIZE)
    await runner.setup()
    site: web.BaseSite
    if tls is None:
        site = web.TCPSite(runner, host, port, reuse_address=True, backlog=BACKLOG)
    else:
        site = HttpsSite(runner, host, port, tls, backlog=BACKLOG)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await site.start()
        log.info("listening on %s://%s:%d", "https" if tls else "http", host, port)
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()


def run(app_factory: Callable[[], Awaitable[web.Application]], settings: ServiceSettings) -> None:
    """Serve the app as ``settings`` say (host, port, and HTTPS with ``--tls-cert`` and
    ``--tls-key``). A certificate or key that cannot be used ends the process (exit 2)
    with one line saying why, before anything is served."""
    try:
        tls = settings.server_tls()
    except FilefleetError as exc:
        log.error("cannot serve HTTPS: %s", exc.message)
        raise SystemExit(2) from None
    install_uvloop()
    asyncio.run(serve_until_signal(app_factory, settings.host, settings.port, tls))
