"""Engine creation with the per-dialect settings acd relies on.

SQLite: WAL so the API's readers never wait for the writer, ``synchronous=NORMAL`` (safe with WAL),
a busy timeout instead of instant "database is locked" errors, and foreign keys on.
PostgreSQL (asyncpg): bounded connect and command timeouts so a dead server fails a write quickly
(the writer then spools) instead of hanging on TCP; ``pool_pre_ping`` drops connections that died
with the server.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["make_engine"]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def make_engine(url: str, *, timeout: float = 5.0) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite+aiosqlite://`` or ``postgresql+asyncpg://``).

    Plain ``sqlite://`` and ``postgresql://`` URLs are accepted and given their async driver.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if backend == "sqlite":
        if parsed.drivername == "sqlite":
            parsed = parsed.set(drivername="sqlite+aiosqlite")
        kwargs["connect_args"] = {"timeout": timeout}
        kwargs.pop("pool_pre_ping")
    elif backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+asyncpg")
        kwargs["connect_args"] = {"timeout": timeout, "command_timeout": max(timeout * 6, 30.0)}
        kwargs["pool_size"] = 5
        kwargs["max_overflow"] = 5
    engine = create_async_engine(parsed, **kwargs)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine
