"""Alembic environment: runs on a connection acd hands over (SQLite or PostgreSQL alike).

acd drives Alembic from Python (``acd.store.migrate``) on its async engine through
``run_sync``, so this file never creates an engine of its own: the connection arrives in
``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from acd.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("acd migrations run through acd.store.migrate (acd db upgrade), not bare alembic")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
