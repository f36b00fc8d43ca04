"""Engine creation with the per-dialect settings acd relies on.

SQLite: WAL so the API's readers never wait for the writer, ``synchronous=NORMAL`` (safe with WAL),
a busy timeout (the engine's ``timeout``) instead of instant "database is locked" errors, and
foreign keys on. Contention that outlasts it (another process importing history, a purge) is
retried by :func:`retry_contention`, not reported as an outage.
PostgreSQL (asyncpg): bounded connect and command timeouts so a dead server fails a write quickly
(the writer then spools) instead of hanging on TCP; ``pool_pre_ping`` drops connections that died
with the server; ``idle_in_transaction_session_timeout`` ends a transaction whose process stopped
in the middle of it (SIGSTOP, a paused VM): its row locks would otherwise hold up everyone else,
a new leader's takeover first (acd/ha), for as long as the stall lasts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["is_contention", "make_engine", "retry_contention"]

T = TypeVar("T")

# acd's transactions run their statements back to back; one idle this long belongs to a stalled
# process. Shorter than a leader's session timeout plus its step-down bound, so a takeover that
# waits on it still happens within the 10 s acd promises.
IDLE_IN_TRANSACTION_SECONDS = 4.0


def _sqlite_pragmas(busy_ms: int) -> Callable[[Any, Any], None]:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    return apply


def is_contention(exc: BaseException) -> bool:
    """The database is busy, not down: SQLite's lock wait ran out ("database is locked"), or
    PostgreSQL gave up a transaction to a concurrent one (serialization failure, deadlock)."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    if "database is locked" in text or "database table is locked" in text:
        return True
    code = getattr(getattr(exc, "orig", None), "sqlstate", None) or getattr(exc, "sqlstate", None)
    return code in ("40001", "40P01")


async def retry_contention(
    op: Callable[[], Awaitable[T]], *, attempts: int = 5, first_delay: float = 0.05
) -> T:
    """Run ``op`` (one whole transaction), again after a short pause while the database is busy:
    contention is not an outage, so a caller must not be told the database is unavailable."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return await op()
        except DBAPIError as exc:
            if attempt == attempts or not is_contention(exc):
                raise
        await asyncio.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


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
        kwargs["connect_args"] = {
            "timeout": timeout,
            "command_timeout": max(timeout * 6, 30.0),
            "server_settings": {
                "idle_in_transaction_session_timeout": str(int(IDLE_IN_TRANSACTION_SECONDS * 1000))
            },
        }
        kwargs["pool_size"] = 5
        kwargs["max_overflow"] = 5
    engine = create_async_engine(parsed, **kwargs)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(int(timeout * 1000)))
    return engine
