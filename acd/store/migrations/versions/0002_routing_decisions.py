"""Routing decisions: the affinity reason, asked-for shared queue and preferred agent per caller.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routing_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server_id", sa.String(length=64), nullable=False),
        sa.Column("uniqueid", sa.String(length=64), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=True),
        sa.Column("queue", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("shadow", sa.Boolean(), nullable=False),
        sa.Column("agent", sa.String(length=160), nullable=True),
        sa.Column("agent_name", sa.String(length=160), nullable=True),
        sa.Column("callback_of", sa.String(length=80), nullable=True),
        sa.Column("detail", sa.String(length=160), nullable=True),
        sa.Column("decided_at", sa.Double(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_decisions")),
        sa.UniqueConstraint("server_id", "uniqueid", name=op.f("uq_routing_decisions_server_id_uniqueid")),
    )


def downgrade() -> None:
    op.drop_table("routing_decisions")
