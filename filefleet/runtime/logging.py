"""The one logging setup: one line per event, human-readable or JSON (``--log-json``).

The request id of the request being served (``X-Request-Id``) is kept in a context variable,
added to every log line, and passed on by the HTTP client to the next service.

A line may carry values of its own (``log.info(..., extra=fields(id=..., bytes=...))``, as
the access lines do): a terminal sees them in the message, ``--log-json`` makes each one a
key of the line's object, so a log pipeline filters on them without parsing the message.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def fields(**values: object) -> dict[str, Any]:
    """``extra=`` for a log call whose values become JSON keys under ``--log-json``."""
    return {"fields": values}


class ContextFilter(logging.Filter):
    """Adds the service's name and the request id being served to every record."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.request_id = request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": getattr(record, "service", "-"),
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "msg": record.getMessage(),
        }
        for key, value in getattr(record, "fields", {}).items():
            entry.setdefault(key, value)  # never hides one of the keys above
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(service: str, *, json_lines: bool = False, level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter(service))
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)-7s %(service)s [%(request_id)s] %(name)s: %(message)s"
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
