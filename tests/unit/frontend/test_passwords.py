"""Where the frontend finds a password: the upload's field, a download's headers."""

from __future__ import annotations

import base64

import pytest

from filefleet.core.errors import InvalidInput
from filefleet.core.passwords import verify_password
from filefleet.frontend.options import UploadOptions
from filefleet.frontend.passwords import given_password, protect

OPTIONS = UploadOptions(name="f", content_type="text/plain", expires=60, max_downloads=None)


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def test_a_download_carries_the_password_in_x_password_or_basic() -> None:
    assert given_password({"X-Password": "plain"}) == "plain"
    assert given_password(basic("anyone:sésame ✓")) == "sésame ✓"
    assert given_password(basic(":with: colons")) == "with: colons"
    assert given_password({"X-Password": "first", **basic(":second")}) == "first"
    assert given_password({}) is None
    assert given_password(basic("user-only")) is None
    assert given_password({"Authorization": "Bearer cluster-secret"}) is None
    assert given_password({"Authorization": "Basic !!!not-base64"}) is None


async def test_protect_keeps_only_the_hash() -> None:
    assert await protect(OPTIONS, None) is OPTIONS
    assert await protect(OPTIONS, "") is OPTIONS  # the page's empty field: no password
    protected = await protect(OPTIONS, "open sesame")
    assert protected.password_hash is not None and "open sesame" not in protected.password_hash
    assert verify_password(protected.password_hash, "open sesame")
    with pytest.raises(InvalidInput, match=r"^password: longer than 1024"):
        await protect(OPTIONS, "x" * 1025)
