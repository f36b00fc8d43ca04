"""Schema versions: upgrade, inspect, and the start-up check the daemon runs.

Rules: an empty database is migrated automatically so a first start and the demo just
work; a database at an older revision is left alone and the daemon stops with a message telling
the operator to run ``acd db upgrade`` (upgrades are an operator's decision: back up first); a
database at a revision this acd does not know (written by a newer acd) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.settings import Settings, shown_url
from acd.store.database import make_engine

__all__ = [
    "SchemaError",
    "SchemaState",
    "alembic_config",
    "head_revision",
    "prepare_database",
    "schema_state",
    "upgrade",
]

MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaError(Exception):
    """The database schema is not the one this acd writes (one clear line for the operator)."""


@dataclass(frozen=True, slots=True)
class SchemaState:
    current: str | None
    head: str
    status: Literal["empty", "current", "older", "newer", "unversioned"]


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # the package always ships at least one revision
    return head


def _state(connection: Connection) -> SchemaState:
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    assert head is not None
    current = MigrationContext.configure(connection).get_current_revision()
    if current is None:
        tables = set(inspect(connection).get_table_names()) - {"alembic_version"}
        return SchemaState(None, head, "unversioned" if "calls" in tables else "empty")
    if current == head:
        return SchemaState(current, head, "current")
    known = {rev.revision for rev in script.walk_revisions()}
    return SchemaState(current, head, "older" if current in known else "newer")


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


async def schema_state(engine: AsyncEngine) -> SchemaState:
    async with engine.connect() as conn:
        return await conn.run_sync(_state)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> SchemaState:
    """Apply migrations up to ``revision`` (``acd db upgrade``); refuses a newer schema."""
    state = await schema_state(engine)
    if state.status == "newer":
        raise SchemaError(_newer_message(state))
    if state.status == "unversioned":
        raise SchemaError(
            "the database has acd tables but no schema version; restore a backup or use an empty database"
        )
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)
    return await schema_state(engine)


def _newer_message(state: SchemaState) -> str:
    return (
        f"the database schema is at revision {state.current}, newer than this acd knows "
        f"(head {state.head}): upgrade acd, or point it at another database"
    )


class NoDatabase(SchemaError):
    """A reading command found no acd database where it looked (and created none)."""


def _sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (None: not SQLite, or in memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))


async def open_existing(settings: Settings) -> AsyncEngine:
    """Open the configured database for a command that only reads or edits records (``acd report``,
    ``acd purge``): a missing SQLite file or a database without acd's tables is a
    :class:`NoDatabase` that says where it looked, never a new empty database made by mistake."""
    url = settings.database.url
    shown = shown_url(url)
    hint = "point --database URL or ACD_DATABASE__URL at acd's database"
    path = _sqlite_file(url)
    if path is not None and not path.exists():
        relative = "" if path.is_absolute() else ", relative to the current directory"
        raise NoDatabase(f"no database at {path.resolve()} ({shown}{relative}): {hint}")
    return await _open(
        url, empty=NoDatabase(f"{shown} has no acd tables (nothing was ever recorded there): {hint}")
    )


def _refuse(state: SchemaState) -> None:
    if state.status == "older":
        raise SchemaError(
            f"the database schema is at revision {state.current}, older than this acd's "
            f"{state.head}: back it up, then run `acd db upgrade`"
        )
    if state.status == "newer":
        raise SchemaError(_newer_message(state))
    if state.status == "unversioned":
        raise SchemaError(
            "the database has acd tables but no schema version; restore a backup or use an empty database"
        )


async def prepare_database(settings: Settings) -> AsyncEngine:
    """Open the configured database for the daemon, migrating it only when it is empty.

    Raises :class:`SchemaError` (engine disposed) for an older, newer or unversioned schema, and
    lets connection errors through (the daemon reports them and exits non-zero).
    """
    return await _open(settings.database.url, empty=None)


async def _open(url: str, *, empty: SchemaError | None) -> AsyncEngine:
    """An engine on a database at the current schema: an empty one is migrated (``empty`` None) or
    refused with ``empty``; any other schema is refused. The engine is disposed on refusal."""
    engine = make_engine(url)
    try:
        state = await schema_state(engine)
        if state.status == "empty" and empty is None:
            await upgrade(engine)
        elif state.status == "empty" and empty is not None:
            raise empty
        elif state.status != "current":
            _refuse(state)
    except BaseException:
        await engine.dispose()
        raise
    return engine
