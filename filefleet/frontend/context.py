"""What the frontend's handlers share: settings, clients, the uploader and downloader."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from filefleet.fastpath.buffers import Buffers
from filefleet.frontend.bundles import BundleMaker
from filefleet.frontend.download import Downloader
from filefleet.frontend.resumable import ResumableUploads
from filefleet.frontend.upload import Uploader
from filefleet.http.client import HttpClient
from filefleet.http.controller_api import ControllerClient
from filefleet.queue.base import EventQueue
from filefleet.runtime.settings import FrontendSettings


@dataclass
class FrontendContext:
    settings: FrontendSettings
    http: HttpClient
    controller: ControllerClient
    uploader: Uploader
    downloader: Downloader
    resumable: ResumableUploads
    bundles: BundleMaker
    queue: EventQueue | None
    pages: dict[str, str]
    # Chunk bodies of the chunk API are read into these (reused, not allocated per chunk).
    chunk_bodies: Buffers[bytearray]

    def public_url(self, request: web.Request) -> str:
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        return f"{request.scheme}://{request.host}"


FRONTEND = web.AppKey("frontend", FrontendContext)
