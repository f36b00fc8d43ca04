"""Where a record comes from: AMI, Asterisk's queue_log, or both; what its source could not tell.

Only adds nullable columns (instant, no table rebuild): ``calls.source`` ("ami", "queue_log",
"merged"; NULL on rows written before: AMI), ``calls.unknown_fields`` and
``calls.inferred_fields`` (JSON lists of field names), and on ``gaps`` the calls recovered from
queue_log or completed with it and whether queue_log was read.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("source", sa.String(length=16), nullable=True))
    op.add_column("calls", sa.Column("unknown_fields", sa.Text(), nullable=True))
    op.add_column("calls", sa.Column("inferred_fields", sa.Text(), nullable=True))
    op.add_column("gaps", sa.Column("calls_recovered", sa.Integer(), nullable=True))
    op.add_column("gaps", sa.Column("calls_merged", sa.Integer(), nullable=True))
    op.add_column("gaps", sa.Column("queue_log", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gaps") as batch:
        batch.drop_column("queue_log")
        batch.drop_column("calls_merged")
        batch.drop_column("calls_recovered")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("inferred_fields")
        batch.drop_column("unknown_fields")
        batch.drop_column("source")
