"""Customer calls, how each entry is reported, sales credit and its audit trail, open orders.

Only adds: nullable columns on ``calls`` and ``outcomes``, new tables and their indexes. Rows
written before this revision are filled by ``acd db backfill`` (resumable, in batches).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild, even on SQLite): instant on a table of millions of rows.
    op.add_column("calls", sa.Column("leg_queue", sa.String(length=128), nullable=True))
    op.add_column("calls", sa.Column("leg_counted", sa.Boolean(), nullable=True))
    op.add_column("calls", sa.Column("leg_wait", sa.Double(), nullable=True))
    op.add_column("calls", sa.Column("leg_closing", sa.Boolean(), nullable=True))
    op.create_index(
        "ix_calls_unfilled",
        "calls",
        ["server_id", "joined_at"],
        unique=False,
        sqlite_where=sa.text("leg_counted IS NULL"),
        postgresql_where=sa.text("leg_counted IS NULL"),
    )
    op.add_column("outcomes", sa.Column("order_ref", sa.String(length=128), nullable=True))
    op.add_column("outcomes", sa.Column("order_status", sa.String(length=8), nullable=True))
    op.add_column("outcomes", sa.Column("order_left", sa.Text(), nullable=True))

    op.create_table(
        "customer_calls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server_id", sa.String(length=64), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=128), nullable=True),
        sa.Column("caller_num", sa.String(length=80), nullable=True),
        sa.Column("caller_name", sa.String(length=160), nullable=True),
        sa.Column("caller_key", sa.String(length=128), nullable=True),
        sa.Column("keyed", sa.Boolean(), nullable=False),
        sa.Column("account", sa.String(length=128), nullable=True),
        sa.Column("joined_at", sa.Double(), nullable=False),
        sa.Column("answered_at", sa.Double(), nullable=True),
        sa.Column("ended_at", sa.Double(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("agent", sa.String(length=160), nullable=True),
        sa.Column("agent_name", sa.String(length=160), nullable=True),
        sa.Column("wait_seconds", sa.Double(), nullable=True),
        sa.Column("talk_seconds", sa.Double(), nullable=False),
        sa.Column("ended_by", sa.String(length=16), nullable=True),
        sa.Column("cause", sa.Integer(), nullable=True),
        sa.Column("cut_off", sa.Boolean(), nullable=False),
        sa.Column("cut_off_reasons", sa.Text(), nullable=True),
        sa.Column("agent_released_short", sa.Boolean(), nullable=False),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("legs", sa.Integer(), nullable=False),
        sa.Column("callback_of", sa.String(length=64), nullable=True),
        sa.Column("repeat_of", sa.String(length=64), nullable=True),
        sa.Column("callback_result", sa.String(length=24), nullable=True),
        sa.Column("chain_id", sa.String(length=64), nullable=False),
        sa.Column("chain_seq", sa.Integer(), nullable=False),
        sa.Column("routing", sa.String(length=40), nullable=True),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("next_contact_at", sa.Double(), nullable=True),
        sa.Column("next_contact_call", sa.String(length=64), nullable=True),
        sa.Column("repeat_exempt", sa.Boolean(), nullable=True),
        sa.Column("disposition", sa.String(length=64), nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=True),
        sa.Column("notes_state", sa.String(length=8), nullable=True),
        sa.Column("outcome_at", sa.Double(), nullable=True),
        sa.Column("purged_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_calls")),
        sa.UniqueConstraint("server_id", "linkedid", name=op.f("uq_customer_calls_server_id_linkedid")),
    )
    with op.batch_alter_table("customer_calls", schema=None) as batch_op:
        for columns in (
            ["server_id", "caller_key", "ended_at"],
            ["server_id", "caller_key", "joined_at"],
            ["server_id", "joined_at"],
            ["server_id", "ended_at"],
            ["server_id", "chain_id"],
            ["server_id", "callback_of"],
            ["server_id", "agent", "ended_at"],
        ):
            batch_op.create_index(batch_op.f("ix_customer_calls_" + "_".join(columns)), columns, unique=False)

    op.create_table(
        "sales",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server_id", sa.String(length=64), nullable=False),
        sa.Column("sale_id", sa.String(length=80), nullable=False),
        sa.Column("chain_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("points", sa.Double(), nullable=True),
        sa.Column("disputed", sa.Boolean(), nullable=False),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.Column("order_ref", sa.String(length=128), nullable=True),
        sa.Column("order_open", sa.Boolean(), nullable=False),
        sa.Column("order_left", sa.Text(), nullable=True),
        sa.Column("order_opened_at", sa.Double(), nullable=True),
        sa.Column("original_call", sa.String(length=64), nullable=False),
        sa.Column("closer_call", sa.String(length=64), nullable=True),
        sa.Column("queue", sa.String(length=128), nullable=True),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("policy", sa.String(length=16), nullable=False),
        sa.Column("adjusted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales")),
        sa.UniqueConstraint("server_id", "sale_id", name=op.f("uq_sales_server_id_sale_id")),
    )
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sales_server_id_chain_id"), ["server_id", "chain_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sales_server_id_at"), ["server_id", "at"], unique=False)

    op.create_table(
        "sale_credits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server_id", sa.String(length=64), nullable=False),
        sa.Column("sale_id", sa.String(length=80), nullable=False),
        sa.Column("chain_id", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=160), nullable=False),
        sa.Column("agent_name", sa.String(length=160), nullable=True),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("points", sa.Double(), nullable=False),
        sa.Column("attribution", sa.String(length=16), nullable=False),
        sa.Column("adjusted", sa.Boolean(), nullable=False),
        sa.Column("queue", sa.String(length=128), nullable=True),
        sa.Column("at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sale_credits")),
        sa.UniqueConstraint(
            "server_id", "sale_id", "agent", name=op.f("uq_sale_credits_server_id_sale_id_agent")
        ),
    )
    with op.batch_alter_table("sale_credits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sale_credits_server_id_at"), ["server_id", "at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_sale_credits_server_id_agent_at"), ["server_id", "agent", "at"], unique=False
        )

    op.create_table(
        "credit_adjustments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server_id", sa.String(length=64), nullable=False),
        sa.Column("sale_id", sa.String(length=80), nullable=False),
        sa.Column("chain_id", sa.String(length=64), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("written_by", sa.String(length=160), nullable=False),
        sa.Column("written_at", sa.Double(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_adjustments")),
    )
    with op.batch_alter_table("credit_adjustments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_adjustments_server_id_chain_id"), ["server_id", "chain_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("credit_adjustments")
    op.drop_table("sale_credits")
    op.drop_table("sales")
    op.drop_table("customer_calls")
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.drop_column("order_left")
        batch_op.drop_column("order_status")
        batch_op.drop_column("order_ref")
    op.drop_index("ix_calls_unfilled", table_name="calls")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("leg_closing")
        batch_op.drop_column("leg_wait")
        batch_op.drop_column("leg_counted")
        batch_op.drop_column("leg_queue")
