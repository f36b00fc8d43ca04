"""Where the pages get their numbers: every domain figure comes from a read the report and the API
use too; the pages only arrange and word them.

Today's per-queue figures are read once and shared by every open wallboard (recomputed at most
every ``ttl`` seconds, one read at a time), so twenty screens cost what one does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from acd.reads.summary import load_report
from acd.settings import Settings
from acd.web.format import Clockface

__all__ = ["AgentPeriod", "DayFigures", "PeriodReports", "QueueDay", "Shared", "TeamRow", "team"]

DAY = 86400.0
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class QueueDay:
    """One queue since midnight (center time), and its 24 h first-contact resolution."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    abandoned_short: int = 0
    service_level: float | None = None
    service_level_seconds: float | None = None
    cut_offs: int = 0
    callbacks: int = 0
    callbacks_to_original: int = 0
    answered_calls: int = 0
    notes_complete: float | None = None
    fcr_24h: float | None = None  # over the calls that ended in fcr_base (decided ones)
    fcr_decided: int = 0
    fcr_pending: int = 0  # answered today, their 24 h not over yet


@dataclass(frozen=True, slots=True)
class Day:
    at: float
    since: float
    fcr_base: tuple[float, float]
    queues: dict[str, QueueDay] = field(default_factory=dict)


class Shared(Generic[K, V]):
    """A read shared by every open page: each key is read at most once per ``ttl`` seconds, and
    one read at a time (the others wait for it rather than start their own)."""

    def __init__(
        self,
        read: Callable[[K], Awaitable[V]],
        *,
        ttl: float,
        monotonic: Callable[[], float] = time.monotonic,
        keep: int = 8,
    ) -> None:
        self._read = read
        self.ttl = ttl
        self._monotonic = monotonic
        self._keep = keep
        self._values: dict[K, tuple[float, V]] = {}
        self._lock = asyncio.Lock()

    def cached(self, key: K) -> V | None:
        found = self._values.get(key)
        return None if found is None else found[1]

    def forget(self) -> None:
        """Something the reads show just changed: read afresh next time."""
        self._values.clear()

    def _fresh(self, key: K) -> V | None:
        found = self._values.get(key)
        if found is not None and self._monotonic() - found[0] < self.ttl:
            return found[1]
        return None

    async def get(self, key: K) -> V:
        value = self._fresh(key)
        if value is not None:
            return value
        async with self._lock:
            value = self._fresh(key)
            if value is None:
                value = await self._read(key)
                if len(self._values) >= self._keep:
                    del self._values[min(self._values, key=lambda k: self._values[k][0])]
                self._values[key] = (self._monotonic(), value)
        return value


class DayFigures:
    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        face: Clockface,
        clock: Callable[[], float],
        *,
        ttl: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.face = face
        self.clock = clock
        self._shared: Shared[int, Day] = Shared(self._read, ttl=ttl, monotonic=monotonic, keep=1)

    def cached(self) -> Day | None:
        return self._shared.cached(0)

    async def get(self) -> Day:
        return await self._shared.get(0)

    async def _read(self, _key: int) -> Day:
        now = self.clock()
        return await self.figures(self.face.day_start(now), now)

    async def figures(self, since: float, now: float) -> Day:
        """The queues' figures over [since, now): the report's queue rows, as the wallboard shows
        them (uncached)."""
        today = await load_report(self.engine, self.settings, since, now, now)
        # FCR 24 h of today's period: the calls that ended 24 h before it (the report's rule).
        base = (since - DAY, now - DAY)
        queues: dict[str, QueueDay] = {}
        for name in sorted(today.queues):
            q: dict[str, Any] = today.queues[name]
            repeats = q.get("repeat_contacts", {}).get("24h", {})
            queues[name] = QueueDay(
                offered=q.get("offered", 0),
                answered=q.get("answered", 0),
                abandoned=q.get("abandoned", 0),
                abandoned_short=q.get("abandoned_short", 0),
                service_level=q.get("service_level"),
                service_level_seconds=q.get("service_level_seconds")
                or self.settings.queue(name).service_level_seconds,
                cut_offs=q.get("cut_offs", 0),
                callbacks=q.get("callbacks", 0),
                callbacks_to_original=q.get("callbacks_by_result", {}).get("original_agent", 0),
                answered_calls=q.get("answered_calls", 0),
                notes_complete=q.get("notes_complete"),
                fcr_24h=q.get("fcr", {}).get("24h"),
                fcr_decided=repeats.get("decided", 0),
                fcr_pending=repeats.get("pending", 0),
            )
        return Day(now, since, base, queues)


@dataclass(frozen=True, slots=True)
class AgentPeriod:
    """One rep over a period, as the report counts it."""

    since: float
    answered: int = 0
    talk_seconds: float = 0.0
    cut_offs: int = 0
    agent_released_short: int = 0
    callbacks_taken: int = 0
    callbacks_of_own_cut_offs: int = 0
    repeats_24h: int = 0
    decided_24h: int = 0
    pending_24h: int = 0
    fcr_24h: float | None = None
    notes_complete: float | None = None
    without_notes: int = 0
    credit_points: float = 0.0
    cut_off_rate: float | None = None
    short_rate: float | None = None  # agent-released short calls / answered
    aht_seconds: float | None = None


class PeriodReports:
    """The report over [since, now) for the desk's "today" and "this week", shared by every desk
    and re-read at most every ``ttl`` seconds (one read at a time per period)."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        clock: Callable[[], float],
        *,
        ttl: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self._shared: Shared[float, Any] = Shared(self._read, ttl=ttl, monotonic=monotonic)

    def forget(self) -> None:
        """A write just changed the figures (an outcome was posted): read afresh next time."""
        self._shared.forget()

    async def agent(self, agent: str, since: float) -> AgentPeriod:
        report = await self.report(since)
        stats = next((a for a in report.agents.values() if a.get("agent") == agent), None)
        if stats is None:
            return AgentPeriod(since)
        repeats = stats["repeat_contacts"]["24h"]
        return AgentPeriod(
            since=since,
            answered=int(stats["answered"]),
            talk_seconds=float(stats["talk_seconds"]),
            cut_offs=int(stats["cut_offs"]),
            agent_released_short=int(stats["agent_released_short"]),
            callbacks_taken=int(stats["callbacks_taken"]),
            callbacks_of_own_cut_offs=int(stats["callbacks_of_own_cut_offs"]),
            repeats_24h=int(repeats["repeats"]),
            decided_24h=int(repeats["decided"]),
            pending_24h=int(repeats["pending"]),
            fcr_24h=stats["fcr"]["24h"],
            notes_complete=stats["notes_complete"],
            without_notes=int(stats["without_notes"]),
            credit_points=float(stats["credit_points"]),
            cut_off_rate=stats["cut_off_rate"],
            short_rate=stats["agent_released_short_rate"],
            aht_seconds=stats["aht_seconds"],
        )

    async def report(self, since: float) -> Any:
        """The report over [since, now), at most ``ttl`` seconds old."""
        return await self._shared.get(since)

    async def _read(self, since: float) -> Any:
        now = self.clock()
        return await load_report(self.engine, self.settings, since, now, now)


@dataclass(frozen=True, slots=True)
class TeamRow:
    """One rep on the supervisor's /agents page: volume beside quality."""

    agent: str
    name: str
    rung: int
    missed: int  # rings they did not answer
    period: AgentPeriod

    @property
    def cut_off_rate(self) -> float | None:
        return self.period.cut_off_rate

    @property
    def short_rate(self) -> float | None:
        return self.period.short_rate

    @property
    def aht_seconds(self) -> float | None:
        return self.period.aht_seconds


async def rings(engine: AsyncEngine, server_id: str, since: float) -> dict[str, tuple[str, int, int]]:
    """agent -> (name, rings, rings not answered) since ``since``: reps who were rung and never
    answered show up too."""
    from sqlalchemy import case, func, select

    from acd.store.schema.base import table_of
    from acd.store.schema.records import Offer

    offers = table_of(Offer)
    query = (
        select(
            offers.c.agent,
            func.max(offers.c.agent_name),
            func.count(),
            func.sum(case((offers.c.result == "no_answer", 1), else_=0)),
        )
        .where(offers.c.server_id == server_id, offers.c.rang_at >= since)
        .group_by(offers.c.agent)
    )
    async with engine.connect() as conn:
        return {r[0]: (str(r[1] or r[0]), int(r[2]), int(r[3] or 0)) for r in await conn.execute(query)}


async def team(periods: PeriodReports, since: float) -> list[TeamRow]:
    """Every rep who answered or was rung since ``since``."""
    report = await periods.report(since)
    rung = await rings(periods.engine, periods.settings.server_id, since)
    agents: dict[str, str] = {agent: a["name"] or agent for agent, a in report.agents.items()}
    for agent, (name, _, _) in rung.items():
        agents.setdefault(agent, name)
    rows = []
    for agent, name in agents.items():
        ring = rung.get(agent, (name, 0, 0))
        rows.append(TeamRow(agent, name, ring[1], ring[2], await periods.agent(agent, since)))
    return rows
