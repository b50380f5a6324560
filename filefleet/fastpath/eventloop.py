"""The event loop every filefleet process runs: uvloop when it is installed.

uvloop's sockets and transports cost less CPU per byte than asyncio's selector loop, which
counts on a small machine where every service and the client share the cores.
"""

from __future__ import annotations

import asyncio
import contextlib


def install_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
