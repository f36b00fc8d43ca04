"""The rows of a summary's parts folded into its periods and their repeat windows: which piece of
the time line each row's sums belong to, which periods hold that piece, and, for repeat contacts,
which (period, window) pairs a piece is decided or pending in (the rule in acd/reads/summary.py).

Several periods are folded from one read of each part (the KPI refresh asks for 24 h, 7 d and 30 d
at once), so every period of one refresh comes from the same rows. The parts are read by
acd/reads/rollup_read.py (rollups where current, rows elsewhere); the sums gathered here become
figures in acd/reads/summary_figures.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from acd.core.definitions import WINDOWS
from acd.reads.rollup_plan import Timeline
from acd.reads.rollup_read import Reader
from acd.reads.rollups import Part
from acd.reads.summary_figures import empty_sums
from acd.reads.summary_sql import CALL_SUMS, LEG_SUMS

__all__ = ["Folds", "Period", "read_periods", "repeat_ranges"]


@dataclass(frozen=True, slots=True)
class Period:
    """[since, until) in epoch seconds; each part says which of a row's times must fall in it
    (acd/reads/summary_sql.py: a leg by its arrival, a sale by its date...)."""

    since: float
    until: float


class Folds:
    """One period's rows folded into per-queue and per-agent stats."""

    def __init__(
        self, agents: bool = True, rename: Callable[[str, str], tuple[str, str | None]] | None = None
    ) -> None:
        self.queues: dict[str, dict[str, Any]] = defaultdict(empty_sums)
        self.agents: dict[str, dict[str, Any]] = defaultdict(empty_sums)
        self.with_agents = agents
        self.rename = rename  # the center's: (server, interface) -> agent key, name
        self.server = ""  # the server whose rows are being folded (the center reads them in turn)

    def _targets(self, queue: str | None, agent: str | None, name: str | None = None) -> list[dict[str, Any]]:
        out = []
        if queue is not None:
            out.append(self.queues[queue])
        if agent is not None and self.with_agents:
            if self.rename is not None:
                agent, known = self.rename(self.server, agent)
                name = known or name
            a = self.agents[agent]
            a["name"] = a["name"] or name
            out.append(a)
        return out

    def add(self, queue: str | None, agent: str | None, name: str | None, sums: Mapping[str, Any]) -> None:
        for target in self._targets(queue, agent, name):
            for key, value in sums.items():
                target[key] += value or 0

    def tally(self, queue: str | None, agent: str | None, breakdown: str, value: str, n: int) -> None:
        if n:
            for target in self._targets(queue, agent):
                target[breakdown][value] = target[breakdown].get(value, 0) + n

    def repeats(
        self,
        queue: str | None,
        agent: str | None,
        name: str | None,
        counts: Mapping[str, tuple[int, int, int]],
    ) -> None:
        if not any(any(c) for c in counts.values()):
            return
        for target in self._targets(queue, agent, name):
            for window, (repeats, decided, pending) in counts.items():
                cell = target["repeats"][window]
                cell[0] += repeats
                cell[1] += decided
                cell[2] += pending

    def credit(
        self,
        queue: str | None,
        agent: str | None,
        name: str | None,
        attribution: str,
        points: float,
        adjusted: int,
    ) -> None:
        for target in self._targets(queue, agent, name):
            target["credit"][attribution] = target["credit"].get(attribution, 0.0) + points
            target["credit_adjusted"] += adjusted

    def disputed(self, queue: str | None, agent: str | None, n: int) -> None:
        if n:
            for target in self._targets(queue, agent):
                target["credit_disputed"] += n


def _fold(
    rows: Sequence[Any],
    timeline: Timeline,
    periods: Sequence[Period],
    into: list[Folds],
    names: Sequence[str],
) -> list[tuple[Any, list[int]]]:
    """Each row's sums added to every period holding its piece; returns (row, periods) pairs."""
    placed = []
    hits: dict[int, list[int]] = {}  # per piece of the time line (a few), not per row
    for row in rows:
        m = row._mapping
        piece = int(m["bucket"])
        hit = hits.get(piece)
        if hit is None:
            hit = hits[piece] = [n for n, p in enumerate(periods) if timeline.inside(piece, p.since, p.until)]
        queue, agent = _who(m)
        sums = {k: _number(m[k]) for k in names}
        for n in hit:
            into[n].add(queue, agent, m["name"], sums)
        placed.append((row, hit))
    return placed


def _who(m: Any) -> tuple[str | None, str | None]:
    return (m["key"], None) if m["kind"] == "queue" else (None, m["key"])


def _number(value: Any) -> int | float:
    """A SQL sum as Python: PostgreSQL returns sums of integers as exact decimals; a rollup's sums
    are stored as doubles (whole numbers stay whole)."""
    kind = type(value)  # tens of thousands of these per report: the common types first
    if kind is float:
        return int(value) if value.is_integer() else value
    if kind is int:
        return value  # type: ignore[no-any-return]
    if value is None:
        return 0
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value  # type: ignore[no-any-return]


async def read_periods(
    reader: Reader,
    parts: Mapping[str, Part],
    periods: Sequence[Period],
    into: list[Folds],
    levels: Sequence[str],
) -> None:
    """Every part read once over the time line cut at every period's edges, each row's sums folded
    into the periods holding its piece (``into``: one :class:`Folds` per period)."""
    timeline = Timeline([t for p in periods for t in (p.since, p.until)])
    _fold(await reader.read(parts["legs"], timeline, levels), timeline, periods, into, LEG_SUMS)
    for row, hit in _fold(
        await reader.read(parts["calls"], timeline, levels), timeline, periods, into, CALL_SUMS
    ):
        m = row._mapping
        queue, agent = _who(m)
        for n in hit:
            if m["disposition"] is not None:
                into[n].tally(queue, agent, "dispositions", m["disposition"], int(m["answered_calls"] or 0))
            if m["result"] is not None:
                into[n].tally(queue, agent, "callbacks_by_result", m["result"], int(m["callbacks"] or 0))
                into[n].tally(queue, agent, "callbacks_by_routing", m["routing"], int(m["callbacks"] or 0))
    for row in await reader.read(parts["credit"], timeline, levels):
        m = row._mapping
        queue, agent = _who(m)
        for n, p in enumerate(periods):
            if timeline.inside(m["bucket"], p.since, p.until) and m["shares"]:
                # a 0 share (an intermediate rep's) is on the record too
                into[n].credit(
                    queue,
                    agent,
                    m["name"],
                    m["attribution"],
                    float(m["points"] or 0.0),
                    int(m["adjusted"] or 0),
                )
    for part in ("disputed_q", "disputed_a"):
        for row in await reader.read(parts[part], timeline, levels):
            m = row._mapping
            queue, agent = _who(m)
            for n, p in enumerate(periods):
                if timeline.inside(m["bucket"], p.since, p.until):
                    into[n].disputed(queue, agent, int(m["disputed"] or 0))
    await _repeats(reader, parts["repeats"], periods, into, levels)


def repeat_ranges(periods: Sequence[Period]) -> dict[tuple[int, str], tuple[float, float, float]]:
    """Per period and window W: (from - W, to - W, to): decided base, then pending."""
    return {
        (n, window): (p.since - width, p.until - width, p.until)
        for n, p in enumerate(periods)
        for window, width in WINDOWS.items()
    }


async def _repeats(
    reader: Reader, part: Part, periods: Sequence[Period], into: list[Folds], levels: Sequence[str]
) -> None:
    ranges = repeat_ranges(periods)
    timeline = Timeline([t for edges in ranges.values() for t in edges])
    # Per piece of the time line: the (period, window) pairs it is decided in, and pending in.
    roles: dict[int, tuple[list[tuple[int, str]], list[tuple[int, str]]]] = {}
    for row in await reader.read(part, timeline, levels):
        m = row._mapping
        piece = int(m["bucket"])
        role = roles.get(piece)
        if role is None:
            role = roles[piece] = (
                [key for key, (start, cut, _) in ranges.items() if timeline.inside(piece, start, cut)],
                [key for key, (_, cut, stop) in ranges.items() if timeline.inside(piece, cut, stop)],
            )
        queue, agent = _who(m)
        counts: dict[int, dict[str, tuple[int, int, int]]] = defaultdict(dict)
        calls_n = int(m["calls"] or 0)
        for n, window in role[0]:
            counts[n][window] = (int(m[f"again_{window}"] or 0), calls_n, 0)
        for n, window in role[1]:
            counts[n][window] = (0, 0, calls_n)
        for n, windows in counts.items():
            into[n].repeats(queue, agent, m["name"], windows)
