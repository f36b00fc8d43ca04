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

The pieces, each with one job:

* this module: what a part is (:class:`Part`), the fingerprint of the settings its sums depend on
  (:func:`rules_key`), and the one GROUP BY of a part's rows per bucket (:func:`level_query`) that
  both the reader and the builder run, so a rollup holds exactly what the rows would give;
* acd/reads/rollup_plan.py: the time line cut into pieces, and which stretches come from which
  rollups and which from the rows (arithmetic only);
* acd/reads/rollup_read.py: a part read over a time line, rollups where current, rows elsewhere;
* acd/reads/rollup_build.py: building, rebuilding and pruning the rollups (the daemon's KPI
  refresh and the retention; the readers never write).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, literal, null, select
from sqlalchemy.sql import FromClause

from acd.store.schema.rollups import MEASURES

__all__ = ["EXTRAS", "Part", "level_query", "rules_key"]

EXTRAS = 3  # breakdown columns a rollup row holds (k1..k3)


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


def level_query(
    part: Part, level: str, bucket: ColumnElement[Any], where: Sequence[ColumnElement[bool]]
) -> Any:
    """A part's rows summed per key, ``bucket`` and breakdown at one level (an agent's rows without
    an agent left out): what a rollup of that level holds, and what the reader reads for the rows."""
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
