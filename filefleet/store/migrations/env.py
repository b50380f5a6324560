"""Alembic environment. The controller passes its own connection (``attributes``); the
``alembic`` command line (``-x url=...`` or ``sqlalchemy.url``) opens one itself."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from filefleet.store.engine import create_engine
from filefleet.store.schema import metadata

config = context.config


def run_on(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_from_url(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run_on)
    finally:
        await engine.dispose()


def main() -> None:
    given = config.attributes.get("connection")
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if given is not None:
        run_on(given)
    elif context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        if not url:
            raise SystemExit(
                "give the database: alembic -x url=sqlite:///path/meta.db upgrade head"
            )
        asyncio.run(run_from_url(url))


main()
