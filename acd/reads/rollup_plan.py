"""The time line of a summary cut into pieces, and the plan of which stretches of it a part reads
from which rollups and which from the rows (acd/reads/rollups.py tells why both exist).

This is the arithmetic alone: edges, buckets, ranges; no database, no settings. The reader
(acd/reads/rollup_read.py) turns a plan into SQL, the builder (acd/reads/rollup_build.py) cuts its
buckets with a timeline, and the summary (acd/reads/summary_periods.py) asks a timeline which
periods hold a piece. Kept apart so the rule "every row counts once, in its own piece" is checked
on point masses without a database (tests/test_rollup_plan.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, literal

from acd.store.marks import bucket_of

__all__ = ["Plan", "Timeline"]


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
