"""How the commands that work on acd's database open it, and say in one line why they cannot."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from acd.settings import Settings

__all__ = ["open_database"]


async def open_database(command: str, settings: Settings, *, existing: bool) -> AsyncEngine | None:
    """The configured database, or None once the reason is printed (the command then exits 1).

    ``existing``: only a database acd already made (``acd report``, ``acd purge``: never a new,
    empty one by mistake); otherwise an empty one is migrated first, as ``acd run`` does.
    """
    from acd.store.migrate import SchemaError, open_existing, prepare_database

    try:
        return await (open_existing(settings) if existing else prepare_database(settings))
    except SchemaError as err:
        print(f"acd {command}: {err}", file=sys.stderr)
    except (OSError, ConnectionError) as err:
        print(f"acd {command}: cannot reach the database: {err}", file=sys.stderr)
    return None
