"""Calls that cross servers: a customer call passed from one server to another over a trunk (the
dialplan's ACD_ORIGIN) names the call it continues, so the pair counts as one customer call.

Only adds: two nullable columns on ``customer_calls`` (instant, no rewrite) and an index on them
(the readers look up, for every call, whether a continuation names it).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customer_calls", sa.Column("origin_server", sa.String(length=64), nullable=True))
    op.add_column("customer_calls", sa.Column("origin_linkedid", sa.String(length=64), nullable=True))
    with op.batch_alter_table("customer_calls", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_calls_origin_server_origin_linkedid"),
            ["origin_server", "origin_linkedid"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("customer_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_calls_origin_server_origin_linkedid"))
        batch_op.drop_column("origin_linkedid")
        batch_op.drop_column("origin_server")
