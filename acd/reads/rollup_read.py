"""A part of a summary read over a time line: the rollups of the buckets whose marks say they are
current, the rows for the rest, summed per key, piece and breakdown (acd/reads/rollups.py tells
why that gives the same numbers as the rows alone).

This is the read side alone: it only reads, on the caller's connection, so every part of one
summary sees the same rows and marks. Which stretches come from which rollups is decided by the
plan (acd/reads/rollup_plan.py); what a rollup holds, by the builder (acd/reads/rollup_build.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, null, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from acd.reads.rollup_plan import Plan, Timeline
from acd.reads.rollups import Part, level_query
from acd.store.marks import COARSER, LEVELS, bucket_of
from acd.store.schema.rollups import marks, rollups

__all__ = ["Reader"]


def _within(column: ColumnElement[Any], ranges: Sequence[tuple[float, float]]) -> ColumnElement[bool]:
    return or_(*(and_(column >= a, column < b) for a, b in ranges))


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
                query = level_query(part, level, bucket, [server, _within(part.time, plan.raw)])
            else:
                continue
            out.extend(await self.conn.execute(query))
        return out
