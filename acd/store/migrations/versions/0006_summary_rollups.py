"""Summary rollups: per-bucket sums the reports and window KPIs read instead of the rows, and the
marks that say which buckets are current.

Only adds two tables and their indexes. Both start empty: the daemon builds the rollups in the
background, and until a bucket is built every summary reads its rows, as before.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "summary_rollups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server_id", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("part", sa.String(length=16), nullable=False),
        sa.Column("start", sa.Double(), nullable=False),
        sa.Column("key", sa.String(length=160), nullable=True),
        sa.Column("name", sa.String(length=160), nullable=True),
        sa.Column("k1", sa.String(length=64), nullable=True),
        sa.Column("k2", sa.String(length=64), nullable=True),
        sa.Column("k3", sa.String(length=64), nullable=True),
        *(sa.Column(f"m{i}", sa.Double(), nullable=True) for i in range(1, 17)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_summary_rollups")),
    )
    op.create_index(
        op.f("ix_summary_rollups_server_id_level_part_start"),
        "summary_rollups",
        ["server_id", "level", "part", "start"],
        unique=False,
    )
    op.create_table(
        "summary_marks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server_id", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("start", sa.Double(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("built", sa.Integer(), nullable=True),
        sa.Column("rules", sa.String(length=32), nullable=True),
        sa.Column("built_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_summary_marks")),
        sa.UniqueConstraint(
            "server_id", "level", "start", name=op.f("uq_summary_marks_server_id_level_start")
        ),
    )


def downgrade() -> None:
    op.drop_table("summary_marks")
    op.drop_index(op.f("ix_summary_rollups_server_id_level_part_start"), table_name="summary_rollups")
    op.drop_table("summary_rollups")
