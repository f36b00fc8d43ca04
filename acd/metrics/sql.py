"""Window KPIs from the database: for each window W, ``acd report`` over [now - W, now).

The numbers come from :func:`acd.reads.summary.summarize`, the read behind the report and the API's
agent summary, with the three windows as three periods of one read of each part: the gauges
cannot disagree with the report, and nothing here re-derives a figure. Each refresh first brings
the summary rollups up to date (acd/reads/rollup_build.py), within a time budget: the daemon is what
keeps them, for its own refreshes and for ``acd report``. The queries run in the
driver's thread (aiosqlite) or on the server (asyncpg); the loop only awaits them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from acd.metrics.kpi import WINDOWS, KpiRefresher, Kpis, WindowKpi
from acd.metrics.metrics import Metrics
from acd.reads.summary import ALL_SERVERS, build_rollups, summarize
from acd.reads.summary_periods import Period
from acd.settings import Settings

__all__ = ["SqlKpiSource", "attach_center_kpis", "attach_sql_kpis", "window_kpi"]


def window_kpi(stats: Mapping[str, Any], window: str) -> WindowKpi:
    """One queue's or agent's report row over the window's period, as the gauges show it."""
    repeats = stats["repeat_contacts"][window]
    return WindowKpi(
        answered=int(stats["answered"]),
        service_level=stats.get("service_level"),
        repeat_contact_ratio=repeats["rate"],
        fcr=stats["fcr"][window],
        cutoff_ratio=stats["cut_off_rate"],
        notes_completeness=stats["notes_complete"],
        resolved_ratio=stats["resolved_rate"],
        dispositions=dict(stats["dispositions"]),
        credit=dict(stats["credit"]),
        credit_disputed=int(stats["credit_disputed"]),
    )


class SqlKpiSource:
    """``KpiSource`` over the store's tables (see the module docstring)."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        *,
        server_id: str | None = None,
        windows: Mapping[str, float] = WINDOWS,
        build_budget: float = 5.0,
        active: Callable[[], bool] | None = None,
    ) -> None:
        unknown = set(windows) - set(WINDOWS)
        if unknown:
            raise ValueError(f"unsupported KPI window(s) {sorted(unknown)}; known: {sorted(WINDOWS)}")
        self.engine = engine
        self.settings = settings
        self.server_id = server_id or settings.server_id
        self.windows = dict(windows)
        self.build_budget = build_budget
        self.active = active
        self.last: Kpis | None = None

    async def compute(self, now: float) -> Kpis:
        if self.active is not None and not self.active():
            # Another node exports these: no query; what this node had is not shown meanwhile.
            return self.last or Kpis(at=0.0, queues={}, agents={})
        self.last = await self._compute(now)
        return self.last

    async def _compute(self, now: float) -> Kpis:
        periods = {window: Period(now - width, now) for window, width in self.windows.items()}
        if self.build_budget > 0:
            await build_rollups(
                self.engine, self.settings, now, budget=self.build_budget, server_id=self.server_id
            )
        async with self.engine.connect() as conn:
            reports = await summarize(
                conn,
                self.settings,
                periods,
                now=now,
                server_id=self.server_id,
                agents=self.settings.metrics_per_agent,
            )
        queues: dict[str, dict[str, WindowKpi]] = defaultdict(dict)
        agents: dict[str, dict[str, WindowKpi]] = defaultdict(dict)
        for window, report in reports.items():
            for queue, stats in report.queues.items():
                queues[queue][window] = window_kpi(stats, window)
            for agent, stats in report.agents.items():
                agents[stats["name"] or agent][window] = window_kpi(stats, window)
        return Kpis(at=now, queues=dict(queues), agents=dict(agents))


def attach_sql_kpis(
    metrics: Metrics,
    engine: AsyncEngine,
    *,
    clock: Callable[[], float],
    interval: float = 60.0,
    timeout: float = 30.0,
) -> KpiRefresher:
    """The daemon's one call: a refresher computing KPIs from ``engine``, exported by ``metrics``.

    The caller owns the task: ``refresher.start()`` once the loop runs, ``await refresher.stop()``
    on shutdown (before disposing of the engine). ``clock`` is the daemon's clock, so windows follow
    simulated time in a sped-up demo just as the rows' timestamps do.
    """
    refresher = KpiRefresher(
        SqlKpiSource(engine, metrics.settings), interval=interval, timeout=timeout, clock=clock
    )
    metrics.attach_kpis(refresher)
    return refresher


def attach_center_kpis(
    metrics: Metrics,
    engine: AsyncEngine,
    *,
    clock: Callable[[], float],
    active: Callable[[], bool],
    interval: float = 60.0,
    timeout: float = 30.0,
) -> KpiRefresher:
    """The center's window KPIs (every server sharing the database, reps as the reps mapping has
    them), computed and exported only while ``active()``: on PostgreSQL by the one leader holding
    the "kpi" lock, so a center's numbers come from exactly one daemon. Each server's leader keeps
    its own rollups current; this reads them. The caller owns the task, as with
    :func:`attach_sql_kpis`."""
    source = SqlKpiSource(engine, metrics.settings, server_id=ALL_SERVERS, active=active, build_budget=0.0)
    refresher = KpiRefresher(source, interval=interval, timeout=timeout, clock=clock)
    metrics.attach_center_kpis(refresher, active)
    return refresher
