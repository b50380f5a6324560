"""The one error tree of filefleet.

Every failure a caller can act on is one of these; each maps to exactly one HTTP status
(``status``), which the server turns into ``{"error": message}`` and the client turns back
into the same class. ``retryable`` tells a caller whether trying again can help.

    FilefleetError
    ├── RequestError                (not retryable: the request itself is wrong)
    │   ├── InvalidInput          400
    │   │   ├── HashMismatch      400  (code "hash_mismatch": bytes differ from their hash)
    │   │   └── FileChanged       400  (a file being shared shrank after it was hashed)
    │   ├── Unauthorized          401
    │   │   ├── PasswordNeeded    401  (code "password_needed": the link has a password)
    │   │   └── PasswordWrong     401  (code "password_wrong")
    │   ├── Forbidden             403
    │   ├── NotFound              404
    │   ├── Conflict              409
    │   │   └── ChunkCollecting   409  (code "collecting": store the chunk again)
    │   ├── Gone                  410
    │   ├── PayloadTooLarge       413
    │   └── RangeNotSatisfiable   416
    ├── ServiceError                (retryable: the fleet may do better in a moment)
    │   ├── InsufficientStorage   507
    │   ├── Unavailable           503  (no node, controller down, every replica gone)
    │   │   ├── Unreachable       503  (no connection: refused, no route, unknown host)
    │   │   ├── HandshakeFailed   503  (a TLS handshake did not complete)
    │   │   └── TimedOut          503  (code "timed_out": a per-hop deadline passed)
    │   │       └── ConnectTimedOut    (no connection within the connect deadline)
    │   └── UpstreamError         502  (another service answered something unusable)
    │       └── CorruptChunk      502  (a replica's bytes do not hash to its chunk id)
    └── SetupError                  (not retryable, never sent over HTTP: this machine
        │                            refuses what a local command asked)
        ├── PortInUse                (``up --port``: another program listens there)
        └── DataDirInUse             (another ``filefleet up`` holds the data dir)

One signal inside the HTTP client's kept connections (``fastpath/direct.py``), never
raised to its callers, who get ``Unavailable`` instead:

    StaleConnection                 (a kept connection closed before it answered)
"""

from __future__ import annotations

from typing import ClassVar


class FilefleetError(Exception):
    """Base of every error filefleet raises on purpose."""

    status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False
    # Sent as {"error": ..., "code": ...} when set, so a client can tell apart two errors
    # with the same status and act differently (see ChunkCollecting).
    code: ClassVar[str | None] = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RequestError(FilefleetError):
    """The request is wrong; repeating it unchanged gives the same answer."""


class InvalidInput(RequestError):
    status = 400


class HashMismatch(InvalidInput):
    """A chunk's bytes do not hash to the id they were sent with; nothing was stored. The
    frontend's chunk API leaves this check to the node (one SHA-256 pass, not two) and
    tells its client which chunk was wrong."""

    code = "hash_mismatch"


class FileChanged(InvalidInput):
    """A file being shared is shorter than when it was hashed: its bytes cannot be sent
    as hashed (``fastpath/file_range.py``)."""


class Unauthorized(RequestError):
    status = 401


class PasswordNeeded(Unauthorized):
    """The link is protected and the request carried no password (``X-Password``, or HTTP
    Basic with any user name)."""

    code = "password_needed"


class PasswordWrong(Unauthorized):
    """The password given for a protected link is not its password (a wrong try: counted)."""

    code = "password_wrong"


class Forbidden(RequestError):
    status = 403


class NotFound(RequestError):
    status = 404


class Conflict(RequestError):
    status = 409


class ChunkCollecting(Conflict):
    """An append named a chunk the GC marked ``collecting`` (DESIGN §8 step 2): the mark is
    now cleared and nothing was appended; store the chunk again, then append again."""

    code = "collecting"


class Gone(RequestError):
    status = 410


class PayloadTooLarge(RequestError):
    status = 413


class RangeNotSatisfiable(RequestError):
    status = 416


class TooManyTries(RequestError):
    """Too many wrong passwords for one link within a minute: nothing is checked until
    ``retry_after`` seconds have passed (sent as the ``Retry-After`` header and in the
    JSON body, from which the client restores it)."""

    status = 429
    code = "too_many_tries"

    def __init__(self, message: str, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceError(FilefleetError):
    """Something in the fleet failed; the same request may succeed later."""

    retryable = True


class InsufficientStorage(ServiceError):
    status = 507


class Unavailable(ServiceError):
    status = 503


class TimedOut(Unavailable):
    """A call to another service passed one of its per-hop deadlines (``http/deadlines.py``):
    the other side is hung, cut off or too slow. A caller with a choice (another node,
    another replica) goes there rather than trying the same one again."""

    code = "timed_out"


class Unreachable(Unavailable):
    """No connection could be made at all (refused, no route, a name that does not
    resolve): nothing listens at that address. Raised by the client as it connects, never
    built from an answer, so a service that answers 503 is never taken for an absent one
    (the command-line client tells the two apart: ``cli/reach.py``)."""


class HandshakeFailed(Unavailable):
    """A TLS handshake did not complete: the certificate is not trusted or does not name
    the host, or the other side does not speak TLS. Something answered: not a refused
    connection (``http/tls.py``)."""


class ConnectTimedOut(TimedOut):
    """No connection within the connect deadline: the host is down or cut off. A
    ``TimedOut`` (a caller with a choice goes elsewhere at once), raised only by the client
    as it connects."""


class UpstreamError(ServiceError):
    status = 502


class CorruptChunk(UpstreamError):
    """A node answered bytes that do not hash to the chunk id: a rotten replica, skipped
    and reported so repair restores it (``http/replicas.py``)."""


class SetupError(FilefleetError):
    """This machine refuses what a local command asked (never an answer over HTTP);
    retrying unchanged gives the same answer."""


class PortInUse(SetupError):
    """``filefleet up``: another program listens on the port asked for."""


class DataDirInUse(SetupError):
    """Another ``filefleet up`` holds the data dir."""


class StaleConnection(Exception):
    """A kept connection closed by the server before it answered: the request, which the
    server never saw, is safe to send again on a new connection."""


_BY_STATUS: dict[int, type[FilefleetError]] = {
    cls.status: cls
    for cls in (
        InvalidInput,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        Gone,
        PayloadTooLarge,
        RangeNotSatisfiable,
        TooManyTries,
        InsufficientStorage,
        Unavailable,
        UpstreamError,
    )
}


_BY_CODE: dict[str, type[FilefleetError]] = {
    cls.code: cls
    for cls in (ChunkCollecting, HashMismatch, TimedOut, PasswordNeeded, PasswordWrong)
    if cls.code is not None
}


def error_for_status(status: int, message: str, code: str | None = None) -> FilefleetError:
    """The error a client raises for an HTTP answer with this status (and error code)."""
    by_code = _BY_CODE.get(code or "")
    if by_code is not None and by_code.status == status:
        return by_code(message)
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls(message)
    if status >= 500:
        return UpstreamError(f"HTTP {status}: {message}")
    return InvalidInput(f"HTTP {status}: {message}")
