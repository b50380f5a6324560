"""The node's heartbeat: ``POST /ping`` to the controller every ``--ping-interval``.

A ping registers the node (first time) or checks it in, with its URL and how much room it
has; the controller counts the node active while its last ping is younger than the node
TTL. The first ping goes out as soon as the node serves, so it becomes active at once.

A failed ping is logged (once when the controller becomes unreachable, once when it is
back), counted, and never stops the node: it keeps serving the chunks it holds, and the
next ping re-registers it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path

from filefleet.core.errors import FilefleetError, InvalidInput
from filefleet.core.models import PingRequest
from filefleet.http.controller_api import ControllerClient
from filefleet.node.chunkstore import ChunkStore
from filefleet.runtime.service import Service

log = logging.getLogger(__name__)

SEED_ONLY = {"name": None, "filesystem": None}  # left out of the JSON when None
FULL_PING_EVERY = 30


class Pinger(Service):
    name = "ping"
    pass_log_level = logging.DEBUG  # one line every two seconds would drown the log

    def __init__(
        self,
        store: ChunkStore,
        controller: ControllerClient,
        url: str,
        interval: float,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(interval)
        self.store = store
        self.controller = controller
        self.url = url
        self.name = (name or store.root.resolve().name or store.node_id)[:255]
        self.filesystem = filesystem_id(store.root)
        self.seed_only = False  # the controller refused the fields beyond the seed's
        self.sent = 0  # counters: pings the controller accepted / that failed
        self.failed = 0
        self._reachable: bool | None = None

    def request(self) -> PingRequest:
        """What the node tells the controller about itself (statvfs: a quick syscall)."""
        space = self.store.space()
        return PingRequest(
            id=self.store.node_id,
            url=self.url,
            capacity=space.capacity,
            free=space.free,
            chunks=self.store.usage().chunks,
            name=self.name,
            filesystem=self.filesystem,
        )

    async def run_once(self) -> dict[str, int]:
        ping = await asyncio.to_thread(self.request)
        try:
            await self._send(ping)
        except FilefleetError as exc:
            self.failed += 1
            if self._reachable is not False:
                log.warning("ping to the controller failed (will keep trying): %s", exc.message)
            self._reachable = False
            return {"sent": 0, "failed": 1}
        self.sent += 1
        if not self._reachable:
            log.info(
                "registered with the controller as node %s (%s) at %s", ping.id, self.name, ping.url
            )
        self._reachable = True
        return {"sent": 1, "failed": 0}

    async def _send(self, ping: PingRequest) -> None:
        """The ping; to a controller older than this node (a rolling upgrade), which refuses
        fields it does not know (400), the seed's fields alone, trying the whole ping again
        every ``FULL_PING_EVERY`` pings (the controller may have been upgraded since)."""
        if self.seed_only and self.sent % FULL_PING_EVERY:
            await self.controller.ping(ping.model_copy(update=SEED_ONLY))
            return
        try:
            await self.controller.ping(ping)
            self.seed_only = False
        except InvalidInput as exc:
            if not self.seed_only:
                log.warning("the controller refused the ping's name and filesystem (%s): an "
                            "older controller? Sending the seed's fields", exc.message)  # fmt: skip
            self.seed_only = True
            await self.controller.ping(ping.model_copy(update=SEED_ONLY))


def filesystem_id(path: Path) -> str:
    """Which filesystem holds ``path``, as ``<machine>/<device>``: nodes whose data dirs
    are on one disk of one machine report the same id, so the fleet's disk figures count
    that disk once (``filefleet status``). The machine is ``/etc/machine-id`` (else the
    host name), the device the directory's ``st_dev``. Two machines mounting one network
    filesystem are counted as two disks."""
    try:
        machine = Path("/etc/machine-id").read_text().strip()[:16]
    except OSError:
        machine = ""
    device = os.stat(path).st_dev
    return f"{machine or socket.gethostname()}/{device:x}"
