"""Initial schema: calls, offers, outcomes, callback links, credits, agent sessions, gaps.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 16:34:28.257810
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server_id", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=160), nullable=False),
        sa.Column("name", sa.String(length=160), nullable=False),
        sa.Column("queue", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=160), nullable=True),
        sa.Column("at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_sessions")),
        sa.UniqueConstraint(
            "server_id",
            "agent",
            "queue",
            "kind",
            "at",
            name=op.f("uq_agent_sessions_server_id_agent_queue_kind_at"),
        ),
    )
    with op.batch_alter_table("agent_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_sessions_agent_at"), ["agent", "at"], unique=False)

    op.create_table(
        "callback_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=80), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("original_call_id", sa.String(length=80), nullable=False),
        sa.Column("linked_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_links")),
        sa.UniqueConstraint("server_id", "call_id", name=op.f("uq_callback_links_server_id_call_id")),
    )
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server_id", sa.String(length=64), nullable=False),
        sa.Column("uniqueid", sa.String(length=64), nullable=False),
        sa.Column("entry", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=80), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=128), nullable=False),
        sa.Column("personal", sa.Boolean(), nullable=False),
        sa.Column("caller_num", sa.String(length=80), nullable=True),
        sa.Column("caller_name", sa.String(length=160), nullable=True),
        sa.Column("caller_key", sa.String(length=128), nullable=True),
        sa.Column("account", sa.String(length=128), nullable=True),
        sa.Column("joined_at", sa.Double(), nullable=False),
        sa.Column("ended_at", sa.Double(), nullable=False),
        sa.Column("answered_at", sa.Double(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("exit_reason", sa.String(length=32), nullable=True),
        sa.Column("agent", sa.String(length=160), nullable=True),
        sa.Column("agent_name", sa.String(length=160), nullable=True),
        sa.Column("wait_seconds", sa.Double(), nullable=False),
        sa.Column("talk_seconds", sa.Double(), nullable=False),
        sa.Column("ended_by", sa.String(length=16), nullable=True),
        sa.Column("cause", sa.Integer(), nullable=True),
        sa.Column("caller_cause", sa.Integer(), nullable=True),
        sa.Column("agent_cause", sa.Integer(), nullable=True),
        sa.Column("cut_off", sa.Boolean(), nullable=False),
        sa.Column("cut_off_reasons", sa.Text(), nullable=True),
        sa.Column("agent_released_short", sa.Boolean(), nullable=False),
        sa.Column("transfer_target", sa.String(length=160), nullable=True),
        sa.Column("callback_of", sa.String(length=80), nullable=True),
        sa.Column("repeat_of", sa.String(length=80), nullable=True),
        sa.Column("routing", sa.String(length=40), nullable=True),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("variables", sa.Text(), nullable=True),
        sa.Column("repeat_24h", sa.Boolean(), nullable=True),
        sa.Column("repeat_7d", sa.Boolean(), nullable=True),
        sa.Column("repeat_30d", sa.Boolean(), nullable=True),
        sa.Column("repeat_frozen", sa.Boolean(), nullable=True),
        sa.Column("purged_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("server_id", "uniqueid", "entry", name=op.f("uq_calls_server_id_uniqueid_entry")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_calls_agent_joined_at"), ["agent", "joined_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_calls_caller_key_joined_at"), ["caller_key", "joined_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_calls_joined_at"), ["joined_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_calls_server_id_call_id"), ["server_id", "call_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_calls_server_id_linkedid"), ["server_id", "linkedid"], unique=False
        )

    op.create_table(
        "gaps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=True),
        sa.Column("ended_at", sa.Double(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("calls_reconciled", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gaps")),
        sa.UniqueConstraint(
            "server_id", "ended_at", "reason", name=op.f("uq_gaps_server_id_ended_at_reason")
        ),
    )
    op.create_table(
        "offers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server_id", sa.String(length=64), nullable=False),
        sa.Column("uniqueid", sa.String(length=64), nullable=False),
        sa.Column("entry", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=80), nullable=False),
        sa.Column("agent", sa.String(length=160), nullable=False),
        sa.Column("agent_name", sa.String(length=160), nullable=False),
        sa.Column("rang_at", sa.Double(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("ring_seconds", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
        sa.UniqueConstraint(
            "server_id", "uniqueid", "entry", "seq", name=op.f("uq_offers_server_id_uniqueid_entry_seq")
        ),
    )
    op.create_table(
        "outcomes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server_id", sa.String(length=64), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=80), nullable=True),
        sa.Column("agent", sa.String(length=160), nullable=True),
        sa.Column("disposition", sa.String(length=64), nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("notes_purged", sa.Boolean(), nullable=True),
        sa.Column("points", sa.Double(), nullable=True),
        sa.Column("written_by", sa.String(length=160), nullable=False),
        sa.Column("written_at", sa.Double(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
        sa.UniqueConstraint(
            "server_id",
            "linkedid",
            "written_by",
            "written_at",
            name=op.f("uq_outcomes_server_id_linkedid_written_by_written_at"),
        ),
    )
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outcomes_server_id_linkedid"), ["server_id", "linkedid"], unique=False
        )

    op.create_table(
        "credits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server_id", sa.String(length=64), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("outcome_id", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(length=160), nullable=False),
        sa.Column("agent_name", sa.String(length=160), nullable=True),
        sa.Column("points", sa.Double(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("policy", sa.String(length=16), nullable=False),
        sa.Column("original_call_id", sa.String(length=80), nullable=True),
        sa.Column("written_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["outcome_id"], ["outcomes.id"], name=op.f("fk_credits_outcome_id_outcomes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credits")),
        sa.UniqueConstraint(
            "server_id", "linkedid", "agent", name=op.f("uq_credits_server_id_linkedid_agent")
        ),
    )
    with op.batch_alter_table("credits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credits_agent"), ["agent"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("credits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credits_agent"))

    op.drop_table("credits")
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outcomes_server_id_linkedid"))

    op.drop_table("outcomes")
    op.drop_table("offers")
    op.drop_table("gaps")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calls_server_id_linkedid"))
        batch_op.drop_index(batch_op.f("ix_calls_server_id_call_id"))
        batch_op.drop_index(batch_op.f("ix_calls_joined_at"))
        batch_op.drop_index(batch_op.f("ix_calls_caller_key_joined_at"))
        batch_op.drop_index(batch_op.f("ix_calls_agent_joined_at"))

    op.drop_table("calls")
    op.drop_table("callback_links")
    with op.batch_alter_table("agent_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_sessions_agent_at"))

    op.drop_table("agent_sessions")
