"""Taking a download (``controller/downloads.py``), without SQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from filefleet.controller import downloads
from filefleet.core.errors import Gone, NotFound
from tests.unit.controller.held_records import FILE, NOW, records, store


async def test_downloads_are_taken_up_to_the_limit_from_a_live_active_file() -> None:
    held = records("active", max_downloads=2)
    await downloads.take_download(store(held), FILE)
    await downloads.take_download(store(held), FILE)
    with pytest.raises(Gone):
        await downloads.take_download(store(held), FILE)
    assert held.row.downloads == 2
    with pytest.raises(NotFound):
        await downloads.take_download(store(held), "g" * 24)


@pytest.mark.parametrize(
    ("state", "expires_in"), [("uploading", 60), ("deleting", 60), ("active", 0)]
)
def test_no_download_from_a_file_not_active_or_expired(state: str, expires_in: int) -> None:
    row = records(state, expires_at=NOW + timedelta(seconds=expires_in)).row
    assert not downloads.may_take(row, NOW)
