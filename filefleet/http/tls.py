"""TLS between the services: what a server presents, what a client trusts, and TLS over one
kept connection of the HTTP client.

- ``server_context(cert, key)``: a service started with ``--tls-cert`` and ``--tls-key``
  serves HTTPS only (TLS 1.2 or later; ``runtime/https_site.py``).
- ``client_context(ca)``: what a client trusts. Given a CA bundle (``--tls-ca``), exactly
  that bundle, so a cluster with a private CA trusts no one else with its secret; without
  one, the system's store. Certificates are always verified, host names always checked:
  there is no setting that turns either off.
- ``handshake_failure``: what a failed handshake means, said so that the operator knows
  which setting to look at (the HTTP client's kept connections,
  ``fastpath/tls_channel.py``, and its aiohttp sessions say it alike).

Imported only when an ``https://`` URL is first called or served: ``ssl`` costs a
command-line run ~13 ms to load, and its system store as much again.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from filefleet.core.errors import InvalidInput

# OpenSSL's verify codes for a certificate that does not name the host (or address) called.
NAME_MISMATCH = frozenset({62, 63, 64})  # X509_V_ERR_HOSTNAME/EMAIL/IP_ADDRESS_MISMATCH


def client_context(ca: str | Path | None) -> ssl.SSLContext:
    """Verification on, host names checked; trusting the bundle ``ca`` only, or the
    system's store without one. A bundle that cannot be read is an InvalidInput."""
    try:
        context = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read the CA bundle {ca}: {_reason(exc)}") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def server_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """What a service presents: the certificate chain in ``cert`` (the server's own
    certificate first, then any intermediates) and its private key."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # No renegotiation (TLS 1.2; 1.3 has none): a write then never waits for a read, so
    # the transport encrypts a body as it is written (``fastpath/sending.py`` relies on it).
    context.options |= ssl.OP_NO_RENEGOTIATION
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"cannot use the certificate {cert} with the key {key}: {_reason(exc)}"
        ) from exc
    return context


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.lower().replace("_", " ")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc)


def handshake_failure(exc: ssl.SSLError, where: str) -> str:
    """What went wrong in a TLS handshake with ``where`` (``host:port``), said so that the
    operator knows which setting to look at."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        said = str(exc.verify_message).rstrip(".")
        if exc.verify_code in NAME_MISMATCH:
            return (
                f"the certificate of {where} is not valid for the name in the URL ({said}); "
                "call it by a name or address its certificate lists (subjectAltName)"
            )
        return (
            f"the certificate of {where} is not trusted ({said}); "
            "give the CA that signed it with --tls-ca (FILEFLEET_TLS_CA)"
        )
    reason = _reason(exc)
    if reason in ("wrong version number", "packet length too long", "record layer failure"):
        return f"{where} does not speak TLS ({reason}): is it an http:// service?"
    return f"TLS handshake with {where} failed: {reason}"
