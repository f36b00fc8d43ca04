"""Several servers and HA pairs: each server's leadership (``servers``) and its nodes (``nodes``).

Revision ID: 0007
Revises: 0006
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
        "servers",
        sa.Column("server_id", sa.String(length=64), nullable=False),
        sa.Column("lock_key", sa.Integer(), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("leader", sa.String(length=160), nullable=True),
        sa.Column("leader_since", sa.Double(), nullable=True),
        sa.Column("heartbeat_at", sa.Double(), nullable=True),
        sa.Column("covered_until", sa.Double(), nullable=True),
        sa.Column("takeovers", sa.Integer(), nullable=False),
        sa.Column("last_takeover_at", sa.Double(), nullable=True),
        sa.Column("last_takeover_from", sa.String(length=160), nullable=True),
        sa.PrimaryKeyConstraint("server_id", name=op.f("pk_servers")),
        sa.UniqueConstraint("lock_key", name=op.f("uq_servers_lock_key")),
    )
    op.create_table(
        "nodes",
        sa.Column("server_id", sa.String(length=64), nullable=False),
        sa.Column("node", sa.String(length=160), nullable=False),
        sa.Column("instance", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("heartbeat_at", sa.Double(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("host", sa.String(length=160), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("ami_connected", sa.Boolean(), nullable=False),
        sa.Column("kpi", sa.Boolean(), nullable=False),
        sa.Column("history_lag", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("server_id", "node", name=op.f("pk_nodes")),
    )


def downgrade() -> None:
    op.drop_table("nodes")
    op.drop_table("servers")
