"""libpq's multi-host URL becomes what SQLAlchemy's asyncpg dialect takes, and the dialect
turns that into asyncpg's own ``connect(host=[...], port=[...], target_session_attrs=)``."""

from __future__ import annotations

from typing import Any

import pytest

from filefleet.core.errors import InvalidInput
from filefleet.store.engine import async_url


def connect_kwargs(url: str) -> dict[str, Any]:
    """What SQLAlchemy will pass to ``asyncpg.connect`` for ``url``."""
    target = async_url(url)
    args, kwargs = target.get_dialect()().create_connect_args(target)
    assert args == []
    return dict(kwargs)


def test_a_multi_host_url_reaches_asyncpg_as_lists_with_its_session_attrs() -> None:
    given = "postgresql://ff:s3cr%40t@db1:5432,db2:5433/filefleet?target_session_attrs=read-write"
    assert connect_kwargs(given) == {
        "user": "ff",
        "password": "s3cr@t",
        "database": "filefleet",
        "host": ["db1", "db2"],
        "port": [5432, 5433],
        "target_session_attrs": "read-write",
    }


def test_hosts_without_a_port_get_postgresqls_default() -> None:
    kwargs = connect_kwargs("postgres://ff@db1,db2:6000,10.0.0.3/filefleet")
    assert (kwargs["host"], kwargs["port"]) == (["db1", "db2", "10.0.0.3"], [5432, 6000, 5432])


def test_the_rendered_url_is_sqlalchemys_documented_form() -> None:
    url = async_url("postgresql://ff@db1:5432,db2:5432/filefleet?target_session_attrs=primary")
    assert url.render_as_string() == (
        "postgresql+asyncpg://ff@/filefleet"
        "?host=db1%3A5432&host=db2%3A5432&target_session_attrs=primary"
    )


def test_a_single_host_url_is_left_to_sqlalchemy() -> None:
    kwargs = connect_kwargs("postgresql://ff@db1:5433/filefleet?target_session_attrs=read-write")
    assert (kwargs["host"], kwargs["port"]) == ("db1", 5433)
    assert kwargs["target_session_attrs"] == "read-write"


@pytest.mark.parametrize(
    "given",
    [
        "postgresql://ff@db1:5432,,db2/filefleet",  # an empty host
        "postgresql://ff@db1:http,db2/filefleet",  # a port that is no number
        "postgresql://ff@db1:70000,db2/filefleet",  # ... or out of range
        "postgresql://ff@[::1]:5432,[::2]:5432/filefleet",  # IPv6 in a list: SQLAlchemy can't
        "postgresql://ff@db1,db2/filefleet?target_session_attrs=writable",  # libpq: no such
        "postgresql://ff@db1/filefleet?target_session_attrs=master",
        "sqlite://db1,db2/meta.db",  # hosts for a file
    ],
)
def test_a_wrong_url_is_refused_before_any_connection(given: str) -> None:
    with pytest.raises(InvalidInput):
        async_url(given)
