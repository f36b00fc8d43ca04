"""Summary rollups: the sums of each part of a summary per closed bucket of time, read instead of
the rows wherever they are current. How a summary stays a plain GROUP BY and still reads 30 days
of a big center in well under a second.

A summary (acd/reads/summary.py) is a few *parts*, each one GROUP BY over one table: sums of
``measures`` per queue or per agent (the *level*), per ``extras`` (breakdown values), over the rows
whose ``time`` falls in a stretch of the time line. A sum over a stretch is the sum of the sums
over its pieces, so the daemon keeps, per closed bucket (an hour per queue, a day per agent: see
acd/store/marks.py), each part's sums in ``summary_rollups``. A summary then reads:

* the rollups of the buckets lying wholly inside one of its stretches whose mark says they are
  current (built from the rows as they are now, under the same queue settings), the coarse ones
  first (a day per queue, a week per agent: summed from the finer rollups, never from the rows,
  so a month of 2,000 reps is a few rollups each), the finer ones where a coarse bucket is cut
  by an edge or is not current, and
* the rows themselves for the rest: the ragged edges of its periods, the bucket still open, and
  every bucket not built yet or changed since (a late outcome, a link to a later call).

So a rollup never changes a figure: with none built, or all of them, or any mix, a summary gives
the same numbers (the tests build them at random and compare). Only how fast.

:func:`build` runs in the daemon's KPI refresh (the readers never write): within a time budget it
builds the buckets of the last ``HORIZON`` that are missing or stale, newest first, and rebuilds
a few current ones each time as well (oldest built first), so a mark missed by some future writer
could not leave a wrong sum for long.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import FromClause

from acd.core.definitions import WINDOWS
from acd.store.database import retry_contention
from acd.store.dialect import upsert_insert
from acd.store.marks import COARSER, LEVELS, bucket_of
from acd.store.tables import MEASURES, marks, rollups

__all__ = ["HORIZON", "Part", "Reader", "Timeline", "build", "prune", "rules_key"]

EXTRAS = 3
# Rollups are kept for what the window KPIs and a 30-day report read: periods up to the longest
# window, and the calls a window before them (repeat contacts), plus a day.
HORIZON = 2 * max(WINDOWS.values()) + 86400.0
FINER = {coarse: fine for fine, coarse in COARSER.items()}  # a coarse level's rollups sum these


@dataclass(frozen=True)
class Part:
    """One GROUP BY of a summary. ``queue``/``agent`` None: the part has no such level."""

    name: str
    time: ColumnElement[Any]
    server: ColumnElement[Any]
    queue: ColumnElement[Any] | None
    agent: ColumnElement[Any] | None
    agent_name: ColumnElement[Any] | None
    measures: tuple[tuple[str, ColumnElement[Any]], ...]
    extras: tuple[tuple[str, ColumnElement[Any]], ...] = ()
    where: tuple[ColumnElement[bool], ...] = ()
    source: FromClause | None = None
    count: str = ""  # the measure counting rows (``literal(1)``): a group whose count sums to 0 has none

    def __post_init__(self) -> None:
        if len(self.measures) > MEASURES or len(self.extras) > EXTRAS:
            raise ValueError(f"summary part {self.name}: too many measures or breakdowns for a rollup")
        if self.count not in dict(self.measures):
            raise ValueError(f"summary part {self.name}: name the measure that counts its rows")

    @property
    def levels(self) -> tuple[str, ...]:
        return tuple(
            level for level, key in (("queue", self.queue), ("agent", self.agent)) if key is not None
        )

    def key(self, level: str) -> ColumnElement[Any]:
        key = self.queue if level == "queue" else self.agent
        assert key is not None
        return key


def rules_key(settings: Mapping[str, Any]) -> str:
    """A fingerprint of the settings a part's sums depend on (a rollup built under others is stale)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Timeline:
    """The time line cut at every edge a summary needs: each row goes to one piece by one CASE."""

    def __init__(self, edges: Sequence[float]) -> None:
        self.edges = sorted(set(edges))

    def of(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        inner = self.edges[1:-1]
        if not inner:
            return literal(0)
        return case(*((column < edge, i) for i, edge in enumerate(inner)), else_=len(inner))

    def inside(self, piece: int, since: float, until: float) -> bool:
        return since <= self.edges[piece] and self.edges[piece + 1] <= until

    def plan(self, tiers: Sequence[tuple[str, float, set[float]]]) -> Plan:
        """What to read from which rollups and rows. ``tiers``: (level, bucket width, its current
        buckets), coarsest first, each width a multiple of the next. A current bucket of the
        coarsest level lying wholly inside one piece comes from its rollup; the rest of the piece
        is tried with the next level, and what no level covers comes from the rows.

        A current bucket of the finest level that edges cut (the ragged edge of a period, a day
        cut by a window) is read as its rollup, credited to its biggest piece, minus the rows of
        the rest of it, when those are fewer than the rows its pieces would take: a day cut at
        08:00 reads 8 hours of rows, not 24."""
        out = Plan({name: [] for name, _, _ in tiers}, [], [], {})
        finest, width, current = tiers[-1]
        cut: dict[float, list[tuple[float, float, int]]] = {}  # finest bucket -> its pieces

        def cover(a: float, b: float, depth: int, piece: int) -> None:
            if b <= a:
                return
            name, size, whole = tiers[depth]
            if depth == len(tiers) - 1:
                start = bucket_of(a, size)
                while start < b:
                    x, y = max(a, start), min(b, start + size)
                    if (x, y) != (start, start + size):
                        cut.setdefault(start, []).append((x, y, piece))
                    else:
                        _add(out.rolled[name] if start in whole else out.raw, x, y)
                    start += size
                return
            start = math.ceil(a / size) * size
            if start + size > b:
                cover(a, b, depth + 1, piece)
                return
            cover(a, start, depth + 1, piece)
            while start + size <= b:
                if start in whole:
                    _add(out.rolled[name], start, start + size)
                else:
                    cover(start, start + size, depth + 1, piece)
                start += size
            cover(start, b, depth + 1, piece)

        for piece, (a, b) in enumerate(zip(self.edges, self.edges[1:], strict=False)):
            cover(a, b, 0, piece)
        for start, pieces in sorted(cut.items()):
            a, b, piece = max(pieces, key=lambda p: p[1] - p[0])
            outside = width - sum(y - x for x, y, _ in pieces)
            if start not in current or b - a <= outside:
                for x, y, _ in pieces:
                    _add(out.raw, x, y)
                continue
            out.moved[start] = piece
            _add(out.rolled[finest], start, start + width)
            for x, y, _ in pieces:
                if (x, y) != (a, b):
                    _add(out.raw, x, y)
            for x, y in ((start, a), (b, start + width)):
                if x < y:
                    out.minus.append((x, y, piece))
        out.raw.sort()
        _merge(out.raw)
        for ranges in out.rolled.values():
            ranges.sort()
            _merge(ranges)
        return out


@dataclass
class Plan:
    """How a part is read over a timeline: ``rolled`` {level: ranges of its rollups}, each credited
    to the piece its start falls in unless ``moved`` names another (a cut bucket's rollup goes to
    its biggest piece); ``raw``: ranges of rows, each row to its own piece; ``minus``: (from, to,
    piece) ranges of rows taken off ``piece`` (the rest of a cut bucket credited to it whole)."""

    rolled: dict[str, list[tuple[float, float]]]
    raw: list[tuple[float, float]]
    minus: list[tuple[float, float, int]]
    moved: dict[float, int]


def _merge(ranges: list[tuple[float, float]]) -> None:
    """Sorted ranges, adjacent ones joined (in place)."""
    merged: list[tuple[float, float]] = []
    for a, b in ranges:
        _add(merged, a, b)
    ranges[:] = merged


def _add(ranges: list[tuple[float, float]], a: float, b: float) -> None:
    if b <= a:
        return
    if ranges and ranges[-1][1] == a:
        ranges[-1] = (ranges[-1][0], b)
    else:
        ranges.append((a, b))


def _within(column: ColumnElement[Any], ranges: Sequence[tuple[float, float]]) -> ColumnElement[bool]:
    return or_(*(and_(column >= a, column < b) for a, b in ranges))


def _level_query(
    part: Part, level: str, bucket: ColumnElement[Any], where: Sequence[ColumnElement[bool]]
) -> Any:
    key = part.key(level)
    name: Any = func.max(part.agent_name) if level == "agent" and part.agent_name is not None else null()
    query = (
        select(
            literal(level).label("kind"),
            key.label("key"),
            bucket.label("bucket"),
            *(value.label(label) for label, value in part.extras),
            name.label("name"),
            *(func.sum(value).label(label) for label, value in part.measures),
        )
        .where(*part.where, *where, *([key.is_not(None)] if level == "agent" else []))
        .group_by(key, bucket, *(value for _, value in part.extras))
    )
    return query.select_from(part.source) if part.source is not None else query


def _both_query(part: Part, bucket: ColumnElement[Any], where: Sequence[ColumnElement[bool]]) -> Any:
    """Both levels from one pass over the rows: grouped by queue, agent and piece, then folded in
    SQL to rows per queue and per agent (a few thousand rows reach Python, never one per pair)."""
    assert part.queue is not None and part.agent is not None
    inner = select(
        part.queue.label("queue"),
        part.agent.label("agent"),
        bucket.label("bucket"),
        *(value.label(label) for label, value in part.extras),
        func.max(part.agent_name if part.agent_name is not None else null()).label("name"),
        *(func.sum(value).label(label) for label, value in part.measures),
    ).where(*part.where, *where)
    if part.source is not None:
        inner = inner.select_from(part.source)
    grouped = (
        inner.group_by(part.queue, part.agent, bucket, *(value for _, value in part.extras))
        .cte(f"grouped_{part.name}")
        .prefix_with("MATERIALIZED")
    )
    keys = [grouped.c[label] for label, _ in part.extras]
    sums = [func.sum(grouped.c[label]).label(label) for label, _ in part.measures]
    by_queue = select(
        literal("queue").label("kind"), grouped.c.queue.label("key"), grouped.c.bucket, *keys,
        null().label("name"), *sums,
    ).group_by(grouped.c.queue, grouped.c.bucket, *keys)  # fmt: skip
    by_agent = (
        select(
            literal("agent").label("kind"), grouped.c.agent.label("key"), grouped.c.bucket, *keys,
            func.max(grouped.c.name).label("name"), *sums,
        )
        .where(grouped.c.agent.is_not(None))
        .group_by(grouped.c.agent, grouped.c.bucket, *keys)
    )  # fmt: skip
    return union_all(by_queue, by_agent)


def _mixed_query(part: Part, level: str, server_id: str, timeline: Timeline, plan: Plan) -> Any:
    """One statement for a part at one level: its rollups, its rows and the rows taken off (see
    :class:`Plan`), summed per key, piece and breakdown. A group whose rows were all taken off is
    left out, as if read from the rows (``count``: the part's measure counting rows)."""
    r = rollups.c
    key = part.key(level)
    labels = [label for label, _ in part.measures]
    extras = [label for label, _ in part.extras]
    name: Any = part.agent_name if level == "agent" and part.agent_name is not None else null()
    rolled_bucket = timeline.of(r.start)
    if plan.moved:
        moved = [(and_(r.level == level, r.start == start), piece) for start, piece in plan.moved.items()]
        rolled_bucket = case(*moved, else_=rolled_bucket)
    branches: list[Any] = [
        select(
            r.key.label("key"),
            rolled_bucket.label("bucket"),
            *(r[f"k{i + 1}"].label(label) for i, label in enumerate(extras)),
            r.name.label("name"),
            *(r[f"m{i + 1}"].label(label) for i, label in enumerate(labels)),
        ).where(
            r.server_id == server_id,
            r.part == part.name,
            or_(
                *(
                    and_(r.level == tier, _within(r.start, spans))
                    for tier, spans in plan.rolled.items()
                    if spans
                )
            ),
        )
    ]
    rows = [part.server == server_id, *part.where, *([key.is_not(None)] if level == "agent" else [])]
    taken = [(and_(part.time >= a, part.time < b), piece) for a, b, piece in plan.minus]
    for sign, ranges, bucket in (
        (1, plan.raw, timeline.of(part.time)),
        (-1, [(a, b) for a, b, _ in plan.minus], case(*taken, else_=None) if taken else None),
    ):
        if not ranges or bucket is None:
            continue
        branch = select(
            key.label("key"),
            bucket.label("bucket"),
            *(value.label(label) for label, value in part.extras),
            name.label("name"),
            *((value if sign > 0 else -value).label(label) for label, value in part.measures),
        ).where(*rows, _within(part.time, ranges))
        branches.append(branch.select_from(part.source) if part.source is not None else branch)
    u = union_all(*branches).subquery(f"mixed_{part.name}")
    return (
        select(
            literal(level).label("kind"),
            u.c.key,
            u.c.bucket,
            *(u.c[label] for label in extras),
            func.max(u.c.name).label("name"),
            *(func.sum(u.c[label]).label(label) for label in labels),
        )
        .group_by(u.c.key, u.c.bucket, *(u.c[label] for label in extras))
        .having(func.sum(u.c[part.count]) != 0)
    )


class Reader:
    """Reads a part over a timeline: rollups where current, rows elsewhere (module docstring).
    ``use_rollups=False`` reads the rows only (the reference the tests compare with)."""

    def __init__(
        self, conn: AsyncConnection, server_id: str, rules: str, *, use_rollups: bool = True
    ) -> None:
        self.conn = conn
        self.server_id = server_id
        self.rules = rules
        self.use_rollups = use_rollups
        self._current: dict[str, set[float]] = {}
        self._span: tuple[float, float] | None = None

    async def prepare(self, since: float, until: float) -> None:
        """Which buckets of [since, until) are current, per level: one small read per level."""
        self._span = (since, until)
        if self.conn.dialect.name == "postgresql":
            # The GROUP BYs of a month of a big center hash in memory: at PostgreSQL's default 4 MB
            # they sorted on disk, and 30 days of 5M rows took twice as long. For this read only.
            await self.conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
        if not self.use_rollups:
            return
        for level, width in LEVELS.items():
            rows = await self.conn.execute(
                select(marks.c.start).where(
                    marks.c.server_id == self.server_id,
                    marks.c.level == level,
                    marks.c.start >= bucket_of(since, width),
                    marks.c.start < until,
                    marks.c.built == marks.c.seq,
                    marks.c.rules == self.rules,
                )
            )
            self._current[level] = set(rows.scalars())

    async def read(self, part: Part, timeline: Timeline, levels: Sequence[str]) -> list[Any]:
        """Rows of (kind, key, bucket: the piece, extras, name, measures): one per key, piece and
        breakdown with rows, whatever mix of rollups and rows gave it."""
        levels = [level for level in levels if level in part.levels]
        server = part.server == self.server_id
        bucket = timeline.of(part.time)
        plans = {
            level: timeline.plan(
                [(name, LEVELS[name], self._current.get(name, set())) for name in (COARSER[level], level)]
            )
            for level in levels
        }
        out: list[Any] = []
        if all(not any(p.rolled.values()) for p in plans.values()):  # the rows alone
            raws = {tuple(p.raw) for p in plans.values()}
            if len(levels) == 2 and len(raws) == 1:
                if plans[levels[0]].raw:
                    query = _both_query(part, bucket, [server, _within(part.time, plans[levels[0]].raw)])
                    out.extend(await self.conn.execute(query))
                return out
        for level, plan in plans.items():
            if any(plan.rolled.values()):
                query = _mixed_query(part, level, self.server_id, timeline, plan)
            elif plan.raw:
                query = _level_query(part, level, bucket, [server, _within(part.time, plan.raw)])
            else:
                continue
            out.extend(await self.conn.execute(query))
        return out


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
            for row in await conn.execute(_level_query(part, level, timeline.of(part.time), where)):
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
