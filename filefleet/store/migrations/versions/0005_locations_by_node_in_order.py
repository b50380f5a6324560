"""``chunk_locations (node_id, chunk_id)`` instead of ``(node_id)``: the GC pages through
the chunks the metadata lists on one node in id order, beside the node's own listing, to
find replicas the node no longer holds; the wider index also serves every question the
old one answered.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_chunk_locations_node_id_chunk_id", "chunk_locations", ["node_id", "chunk_id"]
    )
    op.drop_index("ix_chunk_locations_node_id", "chunk_locations")


def downgrade() -> None:
    op.create_index("ix_chunk_locations_node_id", "chunk_locations", ["node_id"])
    op.drop_index("ix_chunk_locations_node_id_chunk_id", "chunk_locations")
