"""What the controller's routes share, kept on the aiohttp app: the store, the settings,
the queue (when given) and the node lifecycle. ``app.py`` puts them there; the route
modules (``api.py``, ``ui.py``) read them."""

from __future__ import annotations

from aiohttp import web

from filefleet.queue.base import EventQueue
from filefleet.runtime.settings import ControllerSettings
from filefleet.store.base import MetadataStore

from .lifecycle import Lifecycle

STORE = web.AppKey("store", MetadataStore)
SETTINGS = web.AppKey("settings", ControllerSettings)
# To read dead letters, and to announce the chunks of a node drained or forgotten.
QUEUE = web.AppKey("queue", EventQueue)
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
