"""``INSERT ... ON CONFLICT`` for the connection's dialect (SQLite and PostgreSQL share the syntax
but SQLAlchemy exposes it per dialect)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["upsert_insert"]


def upsert_insert(conn: AsyncConnection, table: Table) -> Any:
    """An insert construct with ``on_conflict_do_nothing``/``do_update`` for ``conn``'s dialect."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {name!r} (use SQLite or PostgreSQL)")
