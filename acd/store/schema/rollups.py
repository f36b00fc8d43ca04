"""The summary's rollups and the marks that say whether they are current.

Nothing here is a fact: every row can be rebuilt from the call records and outcomes, and a read
trusts a bucket's sums only while its mark says the rows under it have not changed since. Kept
apart so the tables that are history (records.py, outcomes.py) never mix with a cache the reads
(acd/reads/rollup_build.py, acd/reads/rollup_read.py) and the writer's marks (acd/store/marks.py)
share.
"""

from __future__ import annotations

from sqlalchemy import Double, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from acd.store.schema.base import Base, table_of

__all__ = ["MEASURES", "SummaryMark", "SummaryRollup", "marks", "rollups"]


MEASURES = 16  # value columns of a summary rollup (the widest part, the legs, has 13)


class SummaryRollup(Base):
    """The sums of one part of the summary (acd/reads/rollups.py) over one closed bucket of time, per
    queue (hour buckets) or per agent (day buckets): what a summary reads instead of the rows for
    the buckets whose mark says it is current. ``k1``-``k3`` are the part's breakdown values,
    ``m1``... its measures, in the order the part defines them."""

    __tablename__ = "summary_rollups"
    __table_args__ = (Index(None, "server_id", "level", "part", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_id: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(8))  # queue | agent
    part: Mapped[str] = mapped_column(String(16))
    start: Mapped[float] = mapped_column(Double)
    key: Mapped[str | None] = mapped_column(String(160))
    name: Mapped[str | None] = mapped_column(String(160))
    k1: Mapped[str | None] = mapped_column(String(64))
    k2: Mapped[str | None] = mapped_column(String(64))
    k3: Mapped[str | None] = mapped_column(String(64))
    m1: Mapped[float | None] = mapped_column(Double)
    m2: Mapped[float | None] = mapped_column(Double)
    m3: Mapped[float | None] = mapped_column(Double)
    m4: Mapped[float | None] = mapped_column(Double)
    m5: Mapped[float | None] = mapped_column(Double)
    m6: Mapped[float | None] = mapped_column(Double)
    m7: Mapped[float | None] = mapped_column(Double)
    m8: Mapped[float | None] = mapped_column(Double)
    m9: Mapped[float | None] = mapped_column(Double)
    m10: Mapped[float | None] = mapped_column(Double)
    m11: Mapped[float | None] = mapped_column(Double)
    m12: Mapped[float | None] = mapped_column(Double)
    m13: Mapped[float | None] = mapped_column(Double)
    m14: Mapped[float | None] = mapped_column(Double)
    m15: Mapped[float | None] = mapped_column(Double)
    m16: Mapped[float | None] = mapped_column(Double)


class SummaryMark(Base):
    """Whether a bucket's rollups are current. Every write that changes a row the summary reads
    bumps ``seq`` of the buckets holding the row's times (acd/store/marks.py); the rollups were
    built from the rows as they were at ``built``: current while ``built == seq`` and ``rules`` (the
    queue settings the sums depend on) has not changed."""

    __tablename__ = "summary_marks"
    __table_args__ = (UniqueConstraint("server_id", "level", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_id: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(8))
    start: Mapped[float] = mapped_column(Double)
    seq: Mapped[int] = mapped_column(Integer)
    built: Mapped[int | None] = mapped_column(Integer)
    rules: Mapped[str | None] = mapped_column(String(32))
    built_at: Mapped[float | None] = mapped_column(Double)


# Each table as SQLAlchemy Core sees it, under the one name every query uses.
rollups = table_of(SummaryRollup)
marks = table_of(SummaryMark)
