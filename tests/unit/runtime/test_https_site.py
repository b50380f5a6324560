"""Serving HTTPS: what a service is given (a certificate and its key, or neither), how it
refuses what it cannot use, and what its site does with connections that are not TLS."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import ValidationError

from filefleet.core.errors import InvalidInput
from filefleet.http.tls import server_context
from filefleet.runtime import https_site
from filefleet.runtime.https_site import plain_refusal
from filefleet.runtime.settings import GCSettings, NodeSettings
from tests.harness.certs import TestCA
from tests.unit.http.serving import served_https


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.create(tmp_path_factory.mktemp("ca"))


@pytest.mark.parametrize(
    ("head", "told"),
    [
        (
            b"GET /healthz HTTP/1.1\r\nHost: 10.0.0.5:8100\r\n\r\n",
            "use https://10.0.0.5:8100/healthz",
        ),
        (
            b"POST /chunk?hash=ab HTTP/1.1\r\nhost: n1:8201\r\n\r\n",
            "use https://n1:8201/chunk?hash=ab",
        ),
        (b"GET / HTTP/1.0\r\n\r\n", "use an https:// URL (port 8100)"),  # no Host
        (b"GET http://evil/ HTTP/1.1\r\nHost: a\r\n\r\n", "use an https:// URL (port 8100)"),
        (b"GET / HTTP/1.1\r\nHost: a b@c\r\n\r\n", "use an https:// URL (port 8100)"),
        (b"\x00\x01garbage", "use an https:// URL (port 8100)"),
    ],
)
def test_a_plain_request_is_told_the_https_url_it_meant(head: bytes, told: str) -> None:
    assert plain_refusal(head, 8100) == f"this service speaks HTTPS only: {told}"


def test_a_certificate_comes_with_its_key(ca: TestCA) -> None:
    files = ca.sign("node")
    with pytest.raises(ValidationError, match="--tls-cert and --tls-key go together"):
        NodeSettings(secret="s", data=Path("/tmp/d"), tls_cert=files.cert)
    plain = NodeSettings(secret="s", data=Path("/tmp/d"))
    assert plain.scheme == "http" and plain.server_tls() is None
    served = NodeSettings(secret="s", data=Path("/tmp/d"), tls_cert=files.cert, tls_key=files.key)
    assert served.scheme == "https" and served.server_tls() is not None


def test_a_certificate_or_key_that_cannot_be_used_is_said_as_such(
    ca: TestCA, tmp_path: Path
) -> None:
    one, other = ca.sign("one"), ca.sign("other")
    with pytest.raises(InvalidInput, match=r"cannot use the certificate .* no such file"):
        server_context(tmp_path / "missing.pem", one.key)
    with pytest.raises(InvalidInput, match="key values mismatch"):
        server_context(one.cert, other.key)


def test_a_service_given_an_unusable_certificate_exits_with_one_line(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.pem")
    settings = GCSettings(secret="s", tls_cert=Path(missing), tls_key=Path(missing))
    assert settings.scheme == "https"
    done = subprocess.run(
        [sys.executable, "-m", "filefleet", "gc", "--secret", "s", "--port", "0",
         "--tls-cert", missing, "--tls-key", missing],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done
    assert f"cannot serve HTTPS: cannot use the certificate {missing}" in done.stderr
    assert "Traceback" not in done.stderr


async def test_a_connection_that_sends_nothing_is_closed(
    ca: TestCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(https_site, "FIRST_BYTE_WAIT", 0.2)
    async with served_https(web.Application(), ca.sign("quiet")) as url:
        port = int(url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(5):
            assert await reader.read() == b""  # closed by the site, nothing sent
        writer.close()
