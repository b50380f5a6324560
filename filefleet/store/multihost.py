"""libpq's multi-host URL, turned into the form SQLAlchemy's asyncpg dialect takes.

An operator gives every controller the URL libpq, ``psql`` and Patroni's docs use, naming
every server of the PostgreSQL cluster and asking for the one that takes writes:

    postgresql://filefleet@db1:5432,db2:5432/filefleet?target_session_attrs=read-write

SQLAlchemy's URL parser takes one host; its asyncpg dialect takes several as repeated
``host`` query parameters, each with its port (it has no default port):

    postgresql+asyncpg://filefleet@/filefleet?host=db1:5432&host=db2:5432&target_session_attrs=read-write

and calls ``asyncpg.connect(host=[...], port=[...], target_session_attrs=...)``: asyncpg
tries the hosts in order and keeps the first whose session has the attribute asked for,
so after a failover new connections go to the promoted server. A host without a port
gets 5432, as in libpq.
"""

from __future__ import annotations

import re

from filefleet.core.errors import InvalidInput

DEFAULT_PORT = 5432
# What asyncpg (>= 0.28) accepts, as libpq spells them.
SESSION_ATTRS = ("any", "primary", "standby", "prefer-standby", "read-write", "read-only")
_HOST = re.compile(r"^([A-Za-z0-9.\-_]+)(?::(\d{1,5}))?$")


def split_hosts(url: str) -> tuple[str, list[str]] | None:
    """``(url without its hosts, ["host:port", ...])`` when ``url`` names several hosts;
    None when it names one (SQLAlchemy's own parser takes that)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    userinfo, at, hostlist = authority.rpartition("@")
    if "," not in hostlist:
        return None
    hosts = [_host_port(host) for host in hostlist.split(",")]
    return f"{scheme}://{userinfo}{at}{tail}", hosts


def _host_port(given: str) -> str:
    match = _HOST.match(given)
    if match is None:
        raise InvalidInput(
            f"invalid host {given!r} in the database URL's host list "
            "(host or host:port, comma-separated; IPv6 addresses need a host name here)"
        )
    host, port = match.group(1), int(match.group(2) or DEFAULT_PORT)
    if not 0 < port < 65536:
        raise InvalidInput(f"invalid port {port} for {host} in the database URL")
    return f"{host}:{port}"


def check_session_attrs(value: str | tuple[str, ...] | None) -> None:
    """A ``target_session_attrs`` asyncpg would refuse only when it first connects: refused
    at once, with the values it takes."""
    for given in (value,) if isinstance(value, str) else value or ():
        if given not in SESSION_ATTRS:
            allowed = ", ".join(SESSION_ATTRS)
            raise InvalidInput(f"target_session_attrs={given!r}: use one of {allowed}")
