"""The HTTP client over ``https://``: the same kept connections, per-hop deadlines and
reads into the caller's buffer as over plain HTTP, against a real server with a
certificate of a throwaway CA; and every way trust can fail, refused."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import uvloop
from aiohttp import web

from filefleet.core.errors import ConnectTimedOut, FileChanged, InvalidInput, TimedOut, Unavailable
from filefleet.fastpath.channel import SEND_SLICE
from filefleet.fastpath.file_range import FileRange
from filefleet.fastpath.sending import released, wait_for_kernel
from filefleet.http.client import HttpClient
from filefleet.http.deadlines import Deadlines
from filefleet.http.retry import NO_RETRY
from tests.harness.certs import ServerFiles, TestCA
from tests.unit.http.serving import served, served_https

BODY = os.urandom(3 * 1024 * 1024 + 17)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def server(ca: TestCA) -> ServerFiles:
    return ca.sign("server")


class Site:
    def __init__(self) -> None:
        self.connections: set[int] = set()
        self.transports: list[asyncio.BaseTransport] = []
        self.released: list[bool] = []

    async def body(self, request: web.Request) -> web.StreamResponse:
        assert request.transport is not None and request.secure
        self.connections.add(id(request.transport))
        self.transports.append(request.transport)
        response = web.StreamResponse(headers={"Content-Length": str(len(BODY))})
        await response.prepare(request)
        await response.write(BODY)
        return response

    async def digest(self, request: web.Request) -> web.Response:
        data = await request.read()
        return web.json_response({"sha256": hashlib.sha256(data).hexdigest(), "n": len(data)})

    async def reused(self, request: web.Request) -> web.StreamResponse:
        """A body written piece after piece from one buffer, as the frontend streams a
        download: each write returns once the buffer may be refilled (``fastpath/sending.py``)."""
        response = web.StreamResponse(headers={"Content-Length": str(len(BODY))})
        wait_for_kernel(request)
        await response.prepare(request)
        buffer = bytearray(256 * 1024)
        for start in range(0, len(BODY), len(buffer)):
            piece = BODY[start : start + len(buffer)]
            buffer[: len(piece)] = piece
            await response.write(memoryview(buffer)[: len(piece)])
            self.released.append(released(request))
        await response.write_eof()
        return response

    async def slow(self, _: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(body=b"late")

    async def trickle(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(1024 * 1024)})
        await response.prepare(request)
        for _ in range(64):
            await response.write(b"t" * 16 * 1024)
            await asyncio.sleep(0.1)
        return response

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/body", self.body)
        app.router.add_put("/digest", self.digest)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/reused", self.reused)
        app.router.add_get("/trickle", self.trickle)
        return app


@pytest.fixture
async def site(server: ServerFiles) -> AsyncIterator[tuple[Site, str]]:
    s = Site()
    async with served_https(s.app(), server) as url:
        yield s, url


async def read_twice_into_a_buffer(url: str, ca: TestCA) -> None:
    buffer = bytearray(4 * 1024 * 1024)
    seen: list[int] = []
    async with HttpClient(tls_ca=ca.ca) as http:
        for _ in range(2):
            seen.clear()
            got = await http.get_into(url + "/body", buffer, arrived=lambda _, n: seen.append(n))
            assert isinstance(got, memoryview) and got.obj is buffer  # the caller's buffer
            assert bytes(got) == BODY
            assert seen == sorted(seen) and seen[-1] == len(BODY) and len(seen) > 1


async def test_a_body_lands_in_the_buffer_as_it_arrives_over_one_kept_connection(
    site: tuple[Site, str], ca: TestCA
) -> None:
    s, url = site
    await read_twice_into_a_buffer(url, ca)
    assert len(s.connections) == 1


def test_the_same_on_uvloop(server: ServerFiles, ca: TestCA) -> None:
    """The services and the command line run on uvloop, whose sockets and TLS transports
    are its own: the server's side and the client's, once there."""

    async def story() -> int:
        s = Site()
        async with served_https(s.app(), server) as url:
            await read_twice_into_a_buffer(url, ca)
        return len(s.connections)

    assert uvloop.run(story()) == 1


async def test_a_body_sent_from_a_reused_buffer_arrives_whole(
    site: tuple[Site, str], ca: TestCA
) -> None:
    """TLS copies what it is written as it encrypts it: each write returns with the
    buffer free (and a writer told to wait for the kernel is not paused for ever)."""
    s, url = site
    async with HttpClient(tls_ca=ca.ca) as http:
        got = await http.get_into(url + "/reused", None, deadlines=Deadlines(answer=5.0))
    assert bytes(got) == BODY
    assert s.released and all(s.released)


async def test_bodies_and_file_ranges_go_out_whole(
    site: tuple[Site, str], ca: TestCA, tmp_path: Path
) -> None:
    _, url = site
    content = os.urandom(5 * SEND_SLICE + 99)
    (tmp_path / "file").write_bytes(content)
    fd = os.open(tmp_path / "file", os.O_RDONLY)
    try:
        async with HttpClient(tls_ca=ca.ca, retry=NO_RETRY) as http:
            start, length = SEND_SLICE - 3, 3 * SEND_SLICE + 10
            answer = await http.request("PUT", url, "/digest", data=FileRange(fd, start, length))
            part = content[start : start + length]
            assert answer.json() == {"sha256": hashlib.sha256(part).hexdigest(), "n": length}
            answer = await http.request("PUT", url, "/digest", data=memoryview(content))
            assert answer.json()["sha256"] == hashlib.sha256(content).hexdigest()
            with pytest.raises(FileChanged):  # a file that shrank since it was hashed
                await http.request(
                    "PUT", url, "/digest", data=FileRange(fd, len(content) - 5, SEND_SLICE)
                )
    finally:
        os.close(fd)


async def test_a_connection_the_server_closed_is_replaced(
    site: tuple[Site, str], ca: TestCA
) -> None:
    s, url = site
    async with HttpClient(tls_ca=ca.ca) as http:
        assert bytes(await http.get_into(url + "/body", None)) == BODY
        s.transports[0].close()  # the server drops the idle connection
        await asyncio.sleep(0)
        assert bytes(await http.get_into(url + "/body", None)) == BODY
    assert len(s.connections) == 2


async def test_the_deadlines_hold_over_tls(site: tuple[Site, str], ca: TestCA) -> None:
    _, url = site
    async with HttpClient(tls_ca=ca.ca, retry=NO_RETRY) as http:
        with pytest.raises(TimedOut, match=r"no answer within 0\.3s"):
            await http.get_into(url + "/slow", None, deadlines=Deadlines(answer=0.3))
        slow_body = Deadlines(answer=5.0, min_rate=1024 * 1024, grace=0.3)
        with pytest.raises(TimedOut, match="the body moved too slowly"):
            await http.get_into(url + "/trickle", None, deadlines=slow_body)


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A port whose kernel accepts connections for a process that never reads them: a
    TLS handshake there gets no answer."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


async def test_a_handshake_that_gets_no_answer_is_a_connect_timeout(ca: TestCA) -> None:
    with silent_listener() as port:
        async with HttpClient(tls_ca=ca.ca, retry=NO_RETRY) as http:
            with pytest.raises(ConnectTimedOut, match=r"no connection within 0\.3s"):
                await http.request(
                    "GET", f"https://127.0.0.1:{port}", "/", deadlines=Deadlines(connect=0.3)
                )


async def test_a_server_whose_ca_is_not_trusted_is_refused(
    site: tuple[Site, str], ca: TestCA, tmp_path: Path
) -> None:
    _, url = site
    other = TestCA.create(tmp_path / "other", "someone else's CA")
    for trust in (None, other.ca):  # the system's store; another CA
        async with HttpClient(tls_ca=trust, retry=NO_RETRY) as http:
            with pytest.raises(Unavailable, match="is not trusted") as refused:
                await http.get_into(url + "/body", None)
            assert "--tls-ca" in refused.value.message
            with pytest.raises(Unavailable, match="is not trusted"):
                async with http.stream("GET", url + "/body"):  # aiohttp, for `filefleet get`
                    pass


async def test_a_certificate_for_another_host_is_refused(ca: TestCA) -> None:
    elsewhere = ca.sign("elsewhere", hosts=("files.example.org",))
    async with (
        served_https(Site().app(), elsewhere) as url,
        HttpClient(tls_ca=ca.ca, retry=NO_RETRY) as http,
    ):
        with pytest.raises(
            Unavailable, match=r"not valid for the name in the URL \(IP address mismatch"
        ):
            await http.request("GET", url, "/body")


async def test_streamed_answers_trust_the_same_ca(site: tuple[Site, str], ca: TestCA) -> None:
    _, url = site
    async with HttpClient(tls_ca=ca.ca) as http, http.stream("GET", url + "/body") as resp:
        assert await resp.read() == BODY


async def test_https_to_a_plain_http_server_says_it_does_not_speak_tls(ca: TestCA) -> None:
    async with served(Site().app()) as url, HttpClient(tls_ca=ca.ca, retry=NO_RETRY) as http:
        https = url.replace("http://", "https://")
        with pytest.raises(Unavailable, match="does not speak TLS"):
            await http.request("GET", https, "/body")


async def test_plain_http_to_an_https_service_is_told_the_https_url(
    site: tuple[Site, str], ca: TestCA
) -> None:
    _, url = site
    plain = url.replace("https://", "http://")
    async with HttpClient(tls_ca=ca.ca, retry=NO_RETRY) as http:
        with pytest.raises(InvalidInput) as told:
            await http.request("PUT", plain, "/digest?x=1", data=os.urandom(SEND_SLICE))
        assert told.value.message == f"this service speaks HTTPS only: use {url}/digest?x=1"
        assert bytes(await http.get_into(url + "/body", None)) == BODY  # TLS still served


async def test_an_unreadable_ca_bundle_is_said_as_such(
    site: tuple[Site, str], tmp_path: Path
) -> None:
    _, url = site
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    for bundle in (tmp_path / "missing.pem", tmp_path / "junk.pem"):
        async with HttpClient(tls_ca=bundle, retry=NO_RETRY) as http:
            with pytest.raises(InvalidInput, match=f"cannot read the CA bundle {bundle}"):
                await http.request("GET", url, "/body")
