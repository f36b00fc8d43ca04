"""Across servers: a caller's contacts and callbacks are found whichever server recorded them.

Several servers share one database; a caller cut off on one may call back through another, and a
repeat contact counts wherever it lands. These indexes serve the lookups by caller key, by
callback and by entry id that no longer name a server.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_calls_call_id"), ["call_id"], unique=False)
    with op.batch_alter_table("customer_calls", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_calls_caller_key_joined_at"), ["caller_key", "joined_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_customer_calls_callback_of"), ["callback_of"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("customer_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_calls_callback_of"))
        batch_op.drop_index(batch_op.f("ix_customer_calls_caller_key_joined_at"))
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calls_call_id"))
