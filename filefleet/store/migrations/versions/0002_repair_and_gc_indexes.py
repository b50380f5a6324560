"""Repair and GC at scale: ``chunks.location_count`` and the indexes the GC pages use.

``location_count`` lets repair find chunks with fewer than R locations through an index
instead of counting the locations of every chunk; it is back-filled here from
``chunk_locations`` and kept by the store from then on (an increment in the transaction
that inserts or deletes a location row).

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "chunks",
        sa.Column("location_count", sa.Integer, nullable=False, server_default="0"),
    )
    op.execute(
        "UPDATE chunks SET location_count = "
        "(SELECT count(*) FROM chunk_locations WHERE chunk_locations.chunk_id = chunks.id)"
    )
    op.create_index("ix_chunks_location_count", "chunks", ["location_count"])
    op.create_index("ix_files_state_expires_at", "files", ["state", "expires_at"])
    op.create_index("ix_files_state_id", "files", ["state", "id"])


def downgrade() -> None:
    op.drop_index("ix_files_state_id", "files")
    op.drop_index("ix_files_state_expires_at", "files")
    op.drop_index("ix_chunks_location_count", "chunks")
    with op.batch_alter_table("chunks") as batch:
        batch.drop_column("location_count")
