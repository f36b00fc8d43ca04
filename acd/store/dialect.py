"""How acd's upserts reach the database: ``INSERT ... ON CONFLICT`` for the connection's dialect
(SQLite and PostgreSQL share the syntax but SQLAlchemy exposes it per dialect), the rows of one
statement unique by key (PostgreSQL refuses a statement that touches one key twice), and big
batches sent in statements of :data:`CHUNK` rows."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["CHUNK", "chunks", "dedupe", "upsert_insert"]

CHUNK = 100
T = TypeVar("T")


def upsert_insert(conn: AsyncConnection, table: Table) -> Any:
    """An insert construct with ``on_conflict_do_nothing``/``do_update`` for ``conn``'s dialect."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {name!r} (use SQLite or PostgreSQL)")


def dedupe(rows: list[dict[str, Any]], key: list[str]) -> list[dict[str, Any]]:
    """PostgreSQL refuses one statement that touches the same key twice: keep the last row per key."""
    return list({tuple(row[name] for name in key): row for row in rows}.values())


def chunks(rows: list[T]) -> list[list[T]]:
    """Statements of at most CHUNK rows: SQLAlchemy builds each statement in the event loop's
    thread, so a big batch goes in pieces with the loop free in between (same transaction)."""
    return [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]
