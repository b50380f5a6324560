"""Bundles: ``file_members (file_id, position, name, size, sha256, crc32, content_type)``.

A bundle (several files behind one link) is one file whose chunks are its members' chunks
one after another; this table says where each member starts and what it is called in the
bundle's zip. Files without rows here are single files, as before.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "file_members",
        sa.Column(
            "file_id",
            sa.String(64),
            sa.ForeignKey("files.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("crc32", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("file_members")
