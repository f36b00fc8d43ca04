"""Writing a finite stream of effects (``acd replay --database``): the daemon's writer, driven to
completion, so recorded traffic lands in the database exactly as live traffic would."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from acd.core.effects import Effect
from acd.settings import Settings
from acd.store.migrate import prepare_database
from acd.store.writer import Writer, WriterStats

__all__ = ["write_effects"]


async def write_effects(
    settings: Settings, effects: Iterable[Effect], *, timeout: float = 3600.0
) -> WriterStats:
    """Migrate an empty database, write every stored effect, flush, and return the writer's stats.
    Records that could not be written by ``timeout`` stay in the spool (stats.spooled > 0)."""
    engine = await prepare_database(settings)
    writer = Writer(settings, engine)
    task = asyncio.create_task(writer.run(), name="acd-bulk-writer")
    try:
        for count, effect in enumerate(effects, 1):
            writer.submit(effect)
            if count % 200 == 0:
                await asyncio.sleep(0)  # let the writer take batches as they fill
        await writer.drain(timeout)
        await writer.close()
        await task
        return writer.stats()
    finally:
        if not task.done():
            task.cancel()
        await engine.dispose()
