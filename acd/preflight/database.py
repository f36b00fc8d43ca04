"""``acd check``'s database item: reachable, and its schema where ``acd run`` can use it. Never
changes the database, and leaves no side files behind (a preflight often runs as root)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from acd.preflight.results import CheckResult
from acd.settings import Settings, shown_url

__all__ = ["check_database"]


async def check_database(settings: Settings) -> CheckResult:
    url = settings.database.url
    shown = shown_url(url)
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception as err:
        return CheckResult("database", "FAIL", f"ACD_DATABASE__URL is not a URL ({type(err).__name__})")
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if path and path != ":memory:" and not Path(path).exists():
            parent = Path(path).resolve().parent
            if not parent.is_dir():
                return CheckResult("database", "FAIL", f"{shown}: directory {parent} does not exist")
            probe = parent / f".acd-check-{uuid.uuid4().hex[:8]}"
            try:
                probe.touch()
                probe.unlink()
            except OSError as err:
                return CheckResult("database", "FAIL", f"{shown}: cannot write in {parent} ({err.strerror})")
            return CheckResult(
                "database", "OK", f"{shown}: not there yet; created and migrated at first start"
            )
    from acd.store.database import make_engine
    from acd.store.migrate import schema_state

    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        # Read-only: a preflight run as root must not leave root-owned -wal/-shm files behind in
        # the service's state directory, nor change anything in the database. Without a -wal file
        # nobody is writing (acd's WAL is removed on a clean close), so the file is opened as
        # immutable, which creates no side files; with one, plain read-only mode reads the WAL.
        from sqlalchemy.ext.asyncio import create_async_engine

        target = Path(str(parsed.database)).resolve()
        mode = "mode=ro" if Path(f"{target}-wal").exists() else "mode=ro&immutable=1"
        engine = create_async_engine(f"sqlite+aiosqlite:///file:{target}?{mode}&uri=true")
    else:
        engine = make_engine(url)
    try:
        state = await asyncio.wait_for(schema_state(engine), 15)
    except Exception as err:
        return CheckResult("database", "FAIL", f"{shown}: cannot connect ({_db_error(err)})")
    finally:
        await engine.dispose()
    if state.status == "current":
        return CheckResult("database", "OK", f"{shown}: schema at the current revision {state.head}")
    if state.status == "empty":
        return CheckResult("database", "OK", f"{shown}: empty; migrated automatically at first start")
    if state.status == "older":
        return CheckResult(
            "database",
            "FAIL",
            f"{shown}: schema at {state.current}, older than {state.head}: back up, then `acd db upgrade`",
        )
    if state.status == "newer":
        return CheckResult(
            "database", "FAIL", f"{shown}: schema at {state.current}, newer than this acd ({state.head})"
        )
    return CheckResult("database", "FAIL", f"{shown}: acd tables without a schema version")


def _db_error(err: BaseException) -> str:
    from acd.logs import redact_text

    text = str(getattr(err, "orig", None) or err) or type(err).__name__
    return redact_text(" ".join(text.split()))[:200]
