"""A store writer set up as the daemon sets one up, for the tests that drive it directly.

The tests of the writer replace its store with a subclass that fails, stalls or kills the
database on cue (a real store otherwise, so the journal and ordering logic run against a real
database either way); this builds the pair from the settings, as ``acd run`` does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from acd.settings import Settings
from acd.store.upsert import RowUpserter
from acd.store.writer import Writer

__all__ = ["run_writer", "store_settings", "writer_over"]

S = TypeVar("S", bound=RowUpserter)


def store_settings(url: str, tmp_path: Path, **db: Any) -> Settings:
    """Settings for the database at ``url`` with the journal under ``tmp_path``; ``db``: other
    ``ACD_DATABASE__*`` fields (``batch_size``, ``queue_size``...)."""
    return Settings(database={"url": url, "spool_dir": str(tmp_path / "spool"), **db})  # type: ignore[arg-type]


def writer_over(
    kind: type[S],
    engine: AsyncEngine,
    settings: Settings,
    *,
    store_args: dict[str, Any] | None = None,
    **options: Any,
) -> tuple[S, Writer]:
    """A ``kind`` store (``RowUpserter`` or a test's subclass; ``store_args`` its own arguments) on
    ``engine``, and a writer over it with ``options`` (``retry_min``...). Not started: a test may
    switch its store off first (:func:`run_writer` starts it)."""
    store = kind(engine, settings.server_id, settings.credit_policy, **(store_args or {}))
    return store, Writer(settings, store=store, **options)


async def run_writer(writer: Writer) -> asyncio.Task[None]:
    """Start ``writer`` and let it begin before the test goes on."""
    task = asyncio.create_task(writer.run())
    await asyncio.sleep(0)
    return task
