"""Playwright (Python) on Debian's Chromium (``/usr/bin/chromium``, installed by ``.ci/run``).

Skipped with the reason when Chromium or the playwright package is missing; under
``FILEFLEET_REQUIRE_SERVICES=1`` (CI) that is a failure instead. No browser is downloaded:
``playwright install`` is never needed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REQUIRE_SERVICES

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


# Module scope, not session: Playwright's sync API runs an event loop on the main thread
# while it is open, and asyncio.run() in the tests that follow would refuse to start.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing is not None:
        if REQUIRE_SERVICES:
            pytest.fail(f"{missing} and FILEFLEET_REQUIRE_SERVICES=1")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
