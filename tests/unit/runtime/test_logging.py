"""The one logging setup: values given with ``fields`` are JSON keys under --log-json."""

from __future__ import annotations

import json
import logging

from filefleet.runtime.logging import JsonFormatter, fields


def test_fields_become_keys_and_never_hide_the_lines_own() -> None:
    record = logging.getLogger("filefleet.test").makeRecord(
        "filefleet.test", logging.INFO, __file__, 1, "sent %d bytes", (5,), None,
        extra=fields(bytes=5, client="10.0.0.7", msg="not this", level="nope"),
    )  # fmt: skip
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["bytes"], entry["client"]) == (5, "10.0.0.7")
    assert (entry["msg"], entry["level"]) == ("sent 5 bytes", "info")
