"""Initial schema: files, chunks, file_chunks, chunk_locations, nodes.

Revision ID: 0001
Revises:
Create Date: 2025-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("uploaded_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("max_downloads", sa.Integer, nullable=True),
        sa.Column("downloads", sa.Integer, nullable=False),
        sa.Column("delete_token_sha256", sa.String(64), nullable=False),
    )
    op.create_index("ix_files_expires_at", "files", ["expires_at"])
    op.create_index("ix_files_state_updated_at", "files", ["state", "updated_at"])
    op.create_table(
        "chunks",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("last_referenced", TS, nullable=False),
        sa.Column("collecting_since", TS, nullable=True),
    )
    op.create_table(
        "file_chunks",
        sa.Column(
            "file_id",
            sa.String(64),
            sa.ForeignKey("files.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("order", sa.Integer, primary_key=True),
        sa.Column("chunk_id", sa.String(64), sa.ForeignKey("chunks.id"), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_file_chunks_chunk_id", "file_chunks", ["chunk_id"])
    op.create_table(
        "chunk_locations",
        sa.Column(
            "chunk_id",
            sa.String(64),
            sa.ForeignKey("chunks.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("node_id", sa.String(32), primary_key=True),
    )
    op.create_index("ix_chunk_locations_node_id", "chunk_locations", ["node_id"])
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("last_ping", TS, nullable=False),
        sa.Column("capacity", sa.BigInteger, nullable=False),
        sa.Column("free", sa.BigInteger, nullable=False),
        sa.Column("chunks", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_nodes_last_ping", "nodes", ["last_ping"])


def downgrade() -> None:
    for table in ("nodes", "chunk_locations", "file_chunks", "chunks", "files"):
        op.drop_table(table)
