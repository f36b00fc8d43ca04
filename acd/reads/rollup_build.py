"""Building, rebuilding and pruning the summary rollups (acd/reads/rollups.py tells what they are
and why a summary reads them).

:func:`build` runs in the daemon's KPI refresh (the readers never write): within a time budget it
builds the buckets of the last ``HORIZON`` that are missing or stale, newest first, and rebuilds
a few current ones each time as well (oldest built first), so a mark missed by some future writer
could not leave a wrong sum for long. A fine bucket (an hour per queue, a day per agent) is summed
from the rows with the same GROUP BY the reader runs on rows (:func:`acd.reads.rollups.level_query`),
a coarse one (a day per queue, a week per agent) from its fine buckets' rollups. :func:`prune`
runs in the retention. Each bucket's mark (acd/store/marks.py) is what keeps a rollup honest: it
is set to the sequence its rows were read at, in the transaction that wrote the rollup.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, delete, func, literal, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from acd.core.definitions import WINDOWS
from acd.reads.rollup_plan import Timeline
from acd.reads.rollups import EXTRAS, Part, level_query
from acd.store.database import retry_contention
from acd.store.dialect import upsert_insert
from acd.store.marks import COARSER, LEVELS, bucket_of
from acd.store.schema.rollups import MEASURES, marks, rollups

__all__ = ["HORIZON", "build", "prune"]

# Rollups are kept for what the window KPIs and a 30-day report read: periods up to the longest
# window, and the calls a window before them (repeat contacts), plus a day.
HORIZON = 2 * max(WINDOWS.values()) + 86400.0
FINER = {coarse: fine for fine, coarse in COARSER.items()}  # a coarse level's rollups sum these


async def build(
    engine: AsyncEngine,
    parts: Sequence[Part],
    server_id: str,
    rules: str,
    now: float,
    *,
    budget: float = 5.0,
    sweep: int = 2,
    limit: int | None = None,
) -> int:
    """Build the stale and missing rollups of closed buckets of the last HORIZON (newest first)
    and ``sweep`` current ones (oldest built first), for at most ``budget`` seconds of wall time
    and about ``limit`` buckets. Returns how many were built; contention leaves them for later."""
    started = time.perf_counter()
    stale: list[tuple[str, float]] = []
    current: list[tuple[float, str, float]] = []
    async with engine.connect() as conn:
        for level, width in LEVELS.items():
            first = bucket_of(now - HORIZON, width)
            if level in FINER:  # its first bucket whose finer ones are all built
                first = math.ceil(bucket_of(now - HORIZON, LEVELS[FINER[level]]) / width) * width
            state = {
                row.start: row
                for row in await conn.execute(
                    select(marks.c.start, marks.c.seq, marks.c.built, marks.c.rules, marks.c.built_at).where(
                        marks.c.server_id == server_id,
                        marks.c.level == level,
                        marks.c.start >= first,
                        marks.c.start < now,
                    )
                )
            }
            start = bucket_of(now, width) - width  # the newest closed bucket
            while start >= first:
                mark = state.get(start)
                if mark is None or mark.built != mark.seq or mark.rules != rules:
                    stale.append((level, start))
                else:
                    current.append((mark.built_at or 0.0, level, start))
                start -= width
    stale.sort(key=lambda item: -item[1])
    # Oldest built first; of those built at once, the narrowest (a day of 2,000 reps' rows is the
    # dearest to rebuild, and a refresh waits for its sweep).
    swept = sorted(current, key=lambda c: (c[0], LEVELS[c[1]], c[1], c[2]))[:sweep]
    chunks = _chunks(stale) + [(level, [start]) for _, level, start in swept]
    built = 0
    for level, starts in chunks:
        if time.perf_counter() - started > budget or (limit is not None and built >= limit):
            break

        async def one(level: str = level, starts: list[float] = starts) -> bool:
            if level in FINER:
                return await _build_coarse(engine, server_id, rules, level, starts[0], now)
            await _build_chunk(engine, parts, server_id, rules, level, starts, now)
            return True

        try:
            done = await retry_contention(one)
        except DBAPIError:
            continue
        built += len(starts) if done else 0
    return built


async def prune(conn: AsyncConnection, server_id: str, before: float) -> int:
    """Drop the rollups and marks of the buckets that ended by ``before``; returns how many rollup
    rows went. A summary reads the rows of a bucket without a current mark, so this changes no
    figure: only how fast a period that old is read again. Rollup and mark go in the caller's
    transaction, together."""
    dropped = 0
    for level, width in LEVELS.items():
        cut = bucket_of(before, width)  # buckets starting before it end by ``before``
        result = await conn.execute(
            delete(rollups).where(
                rollups.c.server_id == server_id, rollups.c.level == level, rollups.c.start < cut
            )
        )
        dropped += result.rowcount
        await conn.execute(
            delete(marks).where(marks.c.server_id == server_id, marks.c.level == level, marks.c.start < cut)
        )
    return dropped


def _chunks(stale: Sequence[tuple[str, float]]) -> list[tuple[str, list[float]]]:
    """Runs of adjacent buckets of one level, newest first, each within a day: one transaction
    each (a day of rows: short enough not to hold up the writer). A coarse bucket is one alone."""
    out: list[tuple[str, list[float]]] = []
    for level, start in stale:
        width = LEVELS[level]
        if out and out[-1][0] == level and level not in FINER:
            run = out[-1][1]
            if run[-1] - width == start and (run[0] + width) - start <= 86400.0:
                run.append(start)
                continue
        out.append((level, [start]))
    return out


async def _build_coarse(
    engine: AsyncEngine, server_id: str, rules: str, level: str, start: float, now: float
) -> bool:
    """A coarse bucket's rollups summed from its finer buckets' rollups, when every one of those is
    current (else False: nothing is written, and a later build tries again once they are).

    Its mark is read first: a write that changes a row of the bucket bumps the coarse and the fine
    mark in one transaction, so a write before that read left a fine bucket stale (seen below),
    and one after it makes the closing update find another seq: the bucket is built anew later."""
    finer, width = FINER[level], LEVELS[level]
    high = start + width
    fine = round(width / LEVELS[finer])
    r = rollups.c
    async with engine.begin() as conn:
        seq = (
            await conn.execute(
                select(marks.c.seq).where(
                    marks.c.server_id == server_id, marks.c.level == level, marks.c.start == start
                )
            )
        ).scalar_one_or_none()
        current = (
            await conn.execute(
                select(func.count()).where(
                    marks.c.server_id == server_id,
                    marks.c.level == finer,
                    marks.c.start >= start,
                    marks.c.start < high,
                    marks.c.built == marks.c.seq,
                    marks.c.rules == rules,
                )
            )
        ).scalar_one()
        if current < fine:
            return False
        await conn.execute(
            delete(rollups).where(
                r.server_id == server_id, r.level == level, r.start >= start, r.start < high
            )
        )
        group = [r.part, r.key, r.k1, r.k2, r.k3]
        summed = (
            select(
                r.server_id, literal(level), *group[:2], literal(start), func.max(r.name), *group[2:],
                *(func.sum(r[f"m{i}"]) for i in range(1, MEASURES + 1)),
            )
            .where(r.server_id == server_id, r.level == finer, r.start >= start, r.start < high)
            .group_by(r.server_id, *group)
        )  # fmt: skip
        columns = ["server_id", "level", "part", "key", "start", "name", "k1", "k2", "k3"]
        columns += [f"m{i}" for i in range(1, MEASURES + 1)]
        await conn.execute(rollups.insert().from_select(columns, summed))
        done = {"rules": rules, "built_at": now}
        if seq is None:
            stmt = upsert_insert(conn, marks).on_conflict_do_nothing(
                index_elements=["server_id", "level", "start"]
            )
            await conn.execute(
                stmt, [{"server_id": server_id, "level": level, "start": start, "seq": 0, "built": 0, **done}]
            )
        else:
            await conn.execute(
                update(marks)
                .where(
                    marks.c.server_id == server_id,
                    marks.c.level == level,
                    marks.c.start == start,
                    marks.c.seq == seq,
                )
                .values(built=seq, **done)
            )
    return True


async def _build_chunk(
    engine: AsyncEngine,
    parts: Sequence[Part],
    server_id: str,
    rules: str,
    level: str,
    starts: Sequence[float],
    now: float,
) -> None:
    """Some adjacent buckets' rollups, in one transaction: written first (SQLite then holds the
    write lock, so the rows read are the rows as they are), the marks read, the rows summed per
    bucket, and each mark set to what was read; a write in between bumps it again, and that bucket
    is built anew next time."""
    width = LEVELS[level]
    low, high = min(starts), max(starts) + width
    timeline = Timeline([low + i * width for i in range(round((high - low) / width) + 1)])
    async with engine.begin() as conn:
        await conn.execute(
            delete(rollups).where(
                rollups.c.server_id == server_id,
                rollups.c.level == level,
                rollups.c.start >= low,
                rollups.c.start < high,
            )
        )
        seqs = {
            row.start: row.seq
            for row in await conn.execute(
                select(marks.c.start, marks.c.seq).where(
                    marks.c.server_id == server_id,
                    marks.c.level == level,
                    marks.c.start >= low,
                    marks.c.start < high,
                )
            )
        }
        rows: list[dict[str, Any]] = []
        for part in parts:
            if level not in part.levels:
                continue
            where = [part.server == server_id, part.time >= low, part.time < high]
            for row in await conn.execute(level_query(part, level, timeline.of(part.time), where)):
                m = row._mapping
                values: dict[str, Any] = {
                    "server_id": server_id,
                    "level": level,
                    "part": part.name,
                    "start": timeline.edges[int(m["bucket"])],
                    "key": m["key"],
                    "name": m["name"],
                }
                for i in range(EXTRAS):
                    values[f"k{i + 1}"] = m[part.extras[i][0]] if i < len(part.extras) else None
                for i in range(MEASURES):
                    values[f"m{i + 1}"] = (
                        float(m[part.measures[i][0]] or 0) if i < len(part.measures) else None
                    )
                rows.append(values)
        for i in range(0, len(rows), 500):
            await conn.execute(rollups.insert(), rows[i : i + 500])
        done = {"rules": rules, "built_at": now}
        fresh = [
            {"server_id": server_id, "level": level, "start": start, "seq": 0, "built": 0, **done}
            for start in timeline.edges[:-1]
            if start not in seqs
        ]
        if fresh:
            stmt = upsert_insert(conn, marks).on_conflict_do_nothing(
                index_elements=["server_id", "level", "start"]
            )
            await conn.execute(stmt, fresh)
        if seqs:
            await conn.execute(
                update(marks)
                .where(
                    marks.c.server_id == server_id,
                    marks.c.level == level,
                    marks.c.start == bindparam("b_start"),
                    marks.c.seq == bindparam("b_seq"),
                )
                .values(built=bindparam("b_seq2"), **done),
                # in the order the writers take these locks (acd/store/marks.py): no deadlock
                [{"b_start": start, "b_seq": seq, "b_seq2": seq} for start, seq in sorted(seqs.items())],
            )
