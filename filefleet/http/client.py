"""The one HTTP client every service uses to call another: timeouts, bounded retry with
backoff, failover over several base URLs (e.g. ``--controller URL1,URL2``), the cluster
secret, the request id, and aiohttp's exceptions translated into filefleet's error tree.

Retry and failover are ``retry.py``'s: what is retried (connection errors, timeouts, 5xx;
never a 4xx), how long to wait between tries, and which base URL to try first.

Requests go over the client's own kept connections (``fastpath/direct.py``), ``http://`` and
``https://`` alike: a chunk read's body goes from the socket (or, over TLS, from its
decryption) straight into the caller's buffer, a chunk write's from the caller's buffer
(or the page cache) to the socket, and every phase of a call has its own deadline.
``https://`` servers are checked against ``tls_ca`` (a CA bundle: ``--tls-ca``), or the
system's store without one; never unverified. Only streamed answers (``stream``, the
command-line ``get``) go through an aiohttp session, with the same headers, trust, error
translation and, as far as aiohttp offers them, the same deadlines (connect, and the
longest pause between reads). aiohttp is imported only when a session is first needed,
so a command that never needs one does not pay the third of a second it takes to load.

Deadlines (``deadlines.py``) are per hop and per phase, not one timeout for the whole
request: the connection, the wait for the answer, and the pace of each body. Services use
``SERVICE`` (a hung or slow node is given up within seconds, and the caller goes
elsewhere); the command-line client uses ``CLIENT`` (a chunk over someone's slow uplink
may take as long as it needs, as long as it moves).
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from filefleet.core.errors import (
    ConnectTimedOut,
    FilefleetError,
    TooManyTries,
    Unavailable,
    Unreachable,
    UpstreamError,
    error_for_status,
)
from filefleet.fastpath.direct import Arrived, Body, DirectHttp, Into
from filefleet.http.deadlines import SERVICE, Deadlines
from filefleet.http.retry import Calls, Failover, FirstContact, RetryPolicy, call_with_retry
from filefleet.runtime.logging import request_id

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.body)


def _error(body: bytes, status: int) -> FilefleetError:
    """The FilefleetError for an error answer: its JSON message (and code) when it has one."""
    try:
        value = jsonlib.loads(body)
        if isinstance(value, dict) and isinstance(value.get("error"), str):
            code = value.get("code")
            error = error_for_status(
                status, str(value["error"]), code if isinstance(code, str) else None
            )
            if isinstance(error, TooManyTries) and isinstance(value.get("retry_after"), int):
                error.retry_after = value["retry_after"]
            return error
    except ValueError:
        pass
    text = body[:200].decode("utf-8", "replace").strip()
    return error_for_status(status, text or f"HTTP {status}")


class HttpClient:
    """The client everything in a process calls others with: kept connections per server,
    one aiohttp session for streamed answers. ``tls_ca``: the CA bundle ``https://``
    servers must be signed by (default: the system's store)."""

    def __init__(
        self,
        *,
        secret: str | None = None,
        deadlines: Deadlines = SERVICE,
        retry: RetryPolicy | None = None,
        limit: int = 100,
        first_contact: FirstContact | None = None,
        tls_ca: str | Path | None = None,
    ) -> None:
        self.secret = secret
        self.deadlines = deadlines
        self.retry = retry or RetryPolicy()
        self.first_contact = first_contact
        self.calls = Calls()  # retries made, and whether any server has answered yet
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None
        self.failover = Failover()  # of several base URLs, the one that answered last first
        self._direct = DirectHttp(tls_ca)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            import aiohttp

            # The same trust as the kept connections'; the context is made only now, for
            # a session's first use (building it reads the CA bundle).
            connector = aiohttp.TCPConnector(
                limit=self._limit, limit_per_host=0, ssl=self._direct.tls_context()
            )
            timeout = _aiohttp_timeout(self.deadlines)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=timeout, auto_decompress=False
            )
        return self._session

    async def close(self) -> None:
        self._direct.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.secret:
            headers["Authorization"] = f"Bearer {self.secret}"
        rid = request_id.get()
        if rid:
            headers["X-Request-Id"] = rid
        if extra:
            headers.update(extra)
        return headers

    async def request(
        self,
        method: str,
        base: str | Sequence[str],
        path: str = "",
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        data: Body | None = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        deadlines: Deadlines | None = None,
    ) -> Response:
        """Send a request, failing over between base URLs and retrying per the policy.

        Returns any 2xx/3xx answer; raises the matching FilefleetError for a 4xx at once,
        and after the last attempt for a 5xx or a connection failure.
        """
        bases = [base] if isinstance(base, str) else list(base)
        policy = retry or self.retry
        if self.first_contact is not None and not self.calls.answered:
            policy = self.first_contact.retry
            deadlines = self.first_contact.deadlines(deadlines or self.deadlines)
        body = data if json is None else jsonlib.dumps(json).encode()
        all_headers = self.headers(headers)
        if json is not None:
            all_headers["Content-Type"] = "application/json"
        deadlines = deadlines or self.deadlines

        async def once(url: str) -> Response:
            return await self._once(method, url + path, params, body, all_headers, deadlines)

        return await call_with_retry(
            policy, self.failover, bases, once, self.calls, method + " " + path
        )

    async def _once(
        self,
        method: str,
        url: str,
        params: Mapping[str, str | int] | None,
        body: Body | None,
        headers: Mapping[str, str],
        deadlines: Deadlines,
    ) -> Response:
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        answer = await self._direct.request(method, url, headers, body, deadlines)
        raw = bytes(answer.body)
        if answer.status >= 400:
            raise _error(raw, answer.status)
        return Response(answer.status, answer.headers, raw)

    async def get_json(self, base: str | Sequence[str], path: str, **kw: Any) -> Any:
        return (await self.request("GET", base, path, **kw)).json()

    async def post_json(self, base: str | Sequence[str], path: str, body: Any, **kw: Any) -> Any:
        return (await self.request("POST", base, path, json=body, **kw)).json()

    async def get_into(
        self,
        url: str,
        into: Into | None,
        *,
        deadlines: Deadlines | None = None,
        arrived: Arrived | None = None,
    ) -> bytearray | memoryview:
        """One GET whose body goes straight from the socket into ``into`` (a view of it is
        returned) or, when it does not fit, into a new buffer; ``arrived(view, n)`` is
        called as the body's first ``n`` bytes land (``fastpath/direct.py``). One attempt: an error
        answer raises its FilefleetError, anything else Unavailable."""
        answer = await self._direct.get(
            url, self.headers(), into, deadlines or self.deadlines, arrived
        )
        if answer.status >= 400:
            raise _error(bytes(answer.body), answer.status)
        if not 200 <= answer.status < 300:
            raise Unavailable(f"GET {url}: unexpected status {answer.status}")
        return answer.body

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        deadlines: Deadlines | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """One attempt, the body left to the caller to read (downloads, large bodies).

        The deadlines (the client's by default) bound the connection, the wait for the
        answer and each read of the body, not the whole transfer: a large download over a
        slow link may take hours, but one that stalls fails. Failures of the request and of
        reading its body are Unavailable; an error of the caller's own (say, a full disk
        while saving the body) passes through unchanged."""
        import aiohttp

        per_request = _aiohttp_timeout(deadlines or self.deadlines)
        in_callers_block = False
        try:
            async with self.session.request(
                method, url, params=params, headers=self.headers(headers), timeout=per_request
            ) as resp:
                if resp.status >= 400:
                    raise _error(await resp.read(), resp.status)
                in_callers_block = True
                yield resp
        except (aiohttp.ClientError, TimeoutError) as exc:  # body reads raise these too
            raise _translated(method, url, exc) from exc
        except OSError as exc:
            if in_callers_block:
                raise
            raise Unavailable(f"{method} {url}: {type(exc).__name__}: {exc}") from exc


def _translated(method: str, url: str, exc: BaseException) -> Unavailable:
    """An aiohttp failure as our error: no connection at all (refused, unknown host; a TLS
    failure is not that: something answered, and it says why) is Unreachable, no
    connection in time ConnectTimedOut, anything else Unavailable."""
    import aiohttp

    message = f"{method} {url}: {type(exc).__name__}: {exc}"
    if isinstance(exc, aiohttp.ClientSSLError):  # said as for the kept connections
        import ssl

        from filefleet.http.tls import handshake_failure

        cause = (
            exc.certificate_error
            if isinstance(exc, aiohttp.ClientConnectorCertificateError)
            else exc.os_error
        )
        if isinstance(cause, ssl.SSLError):
            where = f"{exc.host}:{exc.port}"
            return Unavailable(f"{method} {url}: {handshake_failure(cause, where)}")
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ConnectTimedOut(message)
    if isinstance(exc, aiohttp.ClientConnectorError) and not isinstance(
        exc, aiohttp.ClientSSLError
    ):
        return Unreachable(message)
    return Unavailable(message)


def _aiohttp_timeout(deadlines: Deadlines) -> aiohttp.ClientTimeout:
    """What aiohttp can apply of the deadlines: connect, and the longest pause between
    reads (it has no bound on a body's pace, and none on sending)."""
    import aiohttp

    return aiohttp.ClientTimeout(
        total=None, sock_connect=deadlines.connect, sock_read=deadlines.answer
    )


__all__ = ["HttpClient", "Response", "UpstreamError"]
