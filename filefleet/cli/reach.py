"""Reaching the cluster from the command line, and saying so in one line when it cannot.

A client command's first request gives up within two seconds when nothing answers
(``FIRST_CONTACT``: a refused connection is tried three times over ~0.5 s, a connection
that does not open is given 1.5 s once); after the server has answered once, the
command's usual patient policy rides out a restart of it. Nothing answering at all
(``Unreachable``, ``ConnectTimedOut``: never an answer, not even a 503) is reported as

    filefleet: error: nothing answers at http://127.0.0.1:8000 (connection refused); is
    the cluster running (`filefleet up`)? Use another frontend with --server URL

on stderr, with nothing on stdout, and exit code 2 (``UNREACHABLE``).

Exit codes of every client command (``status`` adds 1 for a degraded fleet):

    0    done
    1    the cluster refused or failed the request (its error is printed), or a local
         file could not be read or written
    2    the command line is wrong, or the cluster cannot be found or reached (no
         cluster.json, nothing answers, a wrong secret)
    130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import socket

from filefleet.cli.target import Target
from filefleet.core.errors import ConnectTimedOut, FilefleetError, Unauthorized
from filefleet.http.client import HttpClient
from filefleet.http.deadlines import Deadlines
from filefleet.http.retry import NO_ANSWER, FirstContact, RetryPolicy

UNREACHABLE = 2
FAILED = 1
INTERRUPTED = 130

FIRST_CONTACT = FirstContact(
    retry=RetryPolicy(attempts=3, base_delay=0.15, max_delay=0.3, final=(ConnectTimedOut,)),
    connect=1.5,
)

SERVER_HINT = "is the cluster running (`filefleet up`)? Use another frontend with --server URL"
CONTROLLER_HINT = (
    "is the cluster running (`filefleet up`)? Give the controller with --controller URL "
    "(and --secret), or --data DIR of a running `filefleet up`"
)


def controller_http(target: Target, deadlines: Deadlines) -> HttpClient:
    """The client a command calls the controller with: the cluster's secret and trust, and
    the first-contact rule (a controller that is not running is said so at once)."""
    return HttpClient(
        secret=target.secret, deadlines=deadlines, first_contact=FIRST_CONTACT,
        tls_ca=target.tls_ca,
    )  # fmt: skip


def no_answer(exc: FilefleetError) -> bool:
    """Whether nothing answered (as opposed to a server answering with an error)."""
    return isinstance(exc, NO_ANSWER)


def why(exc: BaseException) -> str:
    """A short reason for a failed connection: ``connection refused``, ``unknown host``..."""
    if isinstance(exc, ConnectTimedOut):
        return exc.message.rsplit(": ", 1)[-1]
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "unknown host"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        cause = cause.__cause__
    return exc.message if isinstance(exc, FilefleetError) else str(exc)


def unreachable(where: str, exc: FilefleetError, hint: str) -> str:
    """The one line for a cluster that cannot be reached at ``where``."""
    if isinstance(exc, Unauthorized):
        return (
            f"{where} refused the cluster secret ({exc.message}); give the right one with --secret"
        )
    if no_answer(exc):
        return f"nothing answers at {where} ({why(exc)}); {hint}"
    return f"cannot read the cluster at {where}: {exc.message}"
