"""Node lifecycle: ``nodes.state`` (``serving`` or ``draining``), and the name and
filesystem a node reports in its ping.

A draining node gets no new chunks and its replicas stop counting toward R, so repair
copies its chunks elsewhere while it still serves reads (``filefleet nodes drain``). The
name is what operators see (``--name``, by default the node's data directory's name);
the filesystem id lets ``filefleet status`` count several nodes on one disk once. Both
are null until a node of this version pings.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "nodes", sa.Column("state", sa.String(16), nullable=False, server_default="serving")
    )
    op.add_column("nodes", sa.Column("name", sa.String(255), nullable=True))
    op.add_column("nodes", sa.Column("filesystem", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("filesystem")
        batch.drop_column("name")
        batch.drop_column("state")
