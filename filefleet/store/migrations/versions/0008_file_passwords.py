"""Password links: ``files.password_hash``, ``password_tries``, ``password_tries_since``.

A file with a ``password_hash`` (scrypt, ``core/passwords.py``) is served only to a
request that gives its password; wrong tries are counted per file in a window that opens
at ``password_tries_since``. Existing files have no password.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("files", sa.Column("password_hash", sa.String(512), nullable=True))
    op.add_column(
        "files", sa.Column("password_tries", sa.Integer, nullable=False, server_default="0")
    )
    op.add_column(
        "files", sa.Column("password_tries_since", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_column("password_tries_since")
        batch.drop_column("password_tries")
        batch.drop_column("password_hash")
