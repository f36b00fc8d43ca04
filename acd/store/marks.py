"""Marks: which buckets of time a write changed, so their summary rollups are built again.

The summaries (acd/reads/summary.py) read per-bucket rollups instead of the rows wherever a
bucket's mark says its rollup is current (acd/reads/rollups.py). So every write that changes a row
a summary reads (an entry, a customer call and its next contact, exemption or outcome summary, a
sale and its shares) notes the row's times here, in its own transaction; the buckets holding them
get their ``seq`` bumped when the transaction's top level calls :func:`flush` (or at once when no
:func:`collecting` block is open). A rollup built from the rows before the write is then no longer
current, and summaries read the rows of that bucket until it is rebuilt.

Marks are written once per transaction, sorted, so two writers that mark the same buckets take
their locks in the same order.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection

from acd.store.dialect import upsert_insert
from acd.store.schema.rollups import marks

__all__ = ["COARSER", "LEVELS", "bucket_of", "collecting", "flush", "note", "note_span"]

# Bucket width per level: queues by the hour (a period's ragged edges are read from the rows, an
# hour at most), agents by the day (2,000 reps by the hour would be as many rollups as calls); and
# the same sums again by the day per queue (``qday``) and by the week per agent (``aweek``), summed
# from those, so a month reads about 30 (queues) or 4 (agents) rollups per key, and the finer ones
# only where a coarse bucket is cut by an edge of the period or is not current. Each coarse width
# is a whole number of the finer one, from the same origin, so its buckets nest.
LEVELS: dict[str, float] = {"queue": 3600.0, "agent": 86400.0, "qday": 86400.0, "aweek": 7 * 86400.0}
COARSER: dict[str, str] = {"queue": "qday", "agent": "aweek"}
_KEY = "acd_summary_marks"


def bucket_of(at: float, width: float) -> float:
    return math.floor(at / width) * width


@asynccontextmanager
async def collecting(conn: AsyncConnection) -> AsyncIterator[None]:
    """Collect the times noted inside; the marks are written when the block ends without error.
    Nested blocks write nothing themselves: the outermost one writes them all."""
    if _KEY in conn.info:
        yield
        return
    conn.info[_KEY] = set()
    try:
        yield
        await flush(conn)
    finally:
        conn.info.pop(_KEY, None)


async def note(conn: AsyncConnection, server_id: str, times: Iterable[float | None]) -> None:
    """The rows at ``times`` (None: skipped) changed in this transaction."""
    keys = {
        (server_id, level, bucket_of(t, width))
        for t in times
        if t is not None and math.isfinite(t)
        for level, width in LEVELS.items()
    }
    if not keys:
        return
    pending = conn.info.get(_KEY)
    if pending is None:
        await _write(conn, keys)
    else:
        pending.update(keys)


async def note_span(conn: AsyncConnection, server_id: str, since: float, until: float) -> None:
    """Every row between ``since`` and ``until`` may have changed (a bulk update)."""
    width = LEVELS["queue"]
    start = bucket_of(since, width)
    await note(conn, server_id, [start + i * width for i in range(int((until - start) // width) + 1)])


async def flush(conn: AsyncConnection) -> None:
    pending = conn.info.get(_KEY)
    if pending:
        keys = set(pending)
        pending.clear()
        await _write(conn, keys)


async def _write(conn: AsyncConnection, keys: set[tuple[str, str, float]]) -> None:
    stmt = upsert_insert(conn, marks)
    stmt = stmt.on_conflict_do_update(
        index_elements=["server_id", "level", "start"], set_={"seq": marks.c.seq + 1}
    )
    rows = [{"server_id": s, "level": level, "start": start, "seq": 1} for s, level, start in sorted(keys)]
    for i in range(0, len(rows), 500):
        await conn.execute(stmt, rows[i : i + 500])
