"""Window KPIs from the database: service level, repeat contacts, FCR, cut-off ratio, notes
completeness, resolved, dispositions and sales credit, per queue (and per agent when per-agent
series are on), over the last 24 h, 7 d and 30 d.

The KPI for window W is ``acd report`` over the period [now - W, now) (acd/reads/summary.py: the same
read, so a gauge and the report agree), with FCR and repeat contacts for that same W. Counting it
over 30 days is a database query, far too slow for a scrape: a background task computes every
window every ``interval`` seconds through a :class:`KpiSource` and keeps the last result; scrapes
export that cached result and its age, and never wait for the database. A failed or slow
computation keeps the previous values and is counted, so a dashboard shows stale-but-true numbers
plus an age, never invented ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from acd.core.definitions import WINDOWS, is_personal_queue
from acd.metrics.labels import OTHER, LabelCap

__all__ = ["WINDOWS", "KpiCollector", "KpiRefresher", "KpiSource", "Kpis", "WindowKpi"]

log = structlog.get_logger("acd.metrics.kpi")


@dataclass(frozen=True, slots=True)
class WindowKpi:
    """One group's (queue's or agent's) KPIs over one window. ``None``: not defined (no calls yet,
    or the window has not closed for any call), and then not exported rather than exported as 0.

    - ``service_level``: answered within the queue's threshold / (legs whose wait is known - short
      abandons), as ``acd report`` counts it (acd/reads/summary.py).
    - ``repeat_contact_ratio``: answered customer calls with a known caller key followed by another
      call from the same key within the window / such answered calls whose window has closed;
      charged to the queue and agent of the leg that closed the first call. ``fcr`` is
      ``1 - repeat_contact_ratio``.
    - ``cutoff_ratio``: cut-off calls / answered calls.
    - ``notes_completeness``: answered customer calls with non-empty notes / answered customer calls
      (a transferred call counts once, under the leg that closed it).
    - ``answered``: answered calls in the window (the denominators' scale, for weighting).
    - ``resolved_ratio``: answered customer calls the rep marked resolved / answered customer calls
      (shown beside FCR, never in it).
    - ``dispositions``: answered customer calls by the disposition of their latest outcome.
    - ``credit``: points credited by attribution (sales dated in the window); ``credit_disputed``:
      sales with two different point values posted.
    """

    answered: int = 0
    service_level: float | None = None
    repeat_contact_ratio: float | None = None
    fcr: float | None = None
    cutoff_ratio: float | None = None
    notes_completeness: float | None = None
    resolved_ratio: float | None = None
    dispositions: Mapping[str, int] = field(default_factory=dict)
    credit: Mapping[str, float] = field(default_factory=dict)
    credit_disputed: int = 0


@dataclass(frozen=True, slots=True)
class Kpis:
    """KPIs computed at ``at``: ``queues[queue][window]`` and ``agents[agent name][window]``."""

    at: float
    queues: Mapping[str, Mapping[str, WindowKpi]] = field(default_factory=dict)
    agents: Mapping[str, Mapping[str, WindowKpi]] = field(default_factory=dict)


class KpiSource(Protocol):
    """What the store implements: compute every window KPI as of ``now`` (the daemon's clock)."""

    async def compute(self, now: float) -> Kpis: ...


_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("service_level", "acd_kpi_service_level_ratio", "Service level over the window"),
    ("repeat_contact_ratio", "acd_kpi_repeat_contact_ratio", "Answered calls followed by a repeat contact"),
    ("fcr", "acd_kpi_fcr_ratio", "First-contact resolution (1 - repeat-contact ratio)"),
    ("cutoff_ratio", "acd_kpi_cutoff_ratio", "Cut-off calls / answered calls"),
    ("notes_completeness", "acd_kpi_notes_completeness_ratio", "Answered calls with notes / answered"),
    ("resolved_ratio", "acd_kpi_resolved_ratio", "Answered calls the rep marked resolved / answered"),
)


class KpiCollector(Collector):
    """Exports the refresher's cached KPIs: one gauge family per KPI, ``{queue, window}``; per-agent
    families ``acd_agent_kpi_*{agent, window}`` only when per-agent series are on."""

    def __init__(
        self,
        refresher: KpiRefresher,
        *,
        per_agent: bool,
        agent_cap: LabelCap,
        queue_cap: LabelCap,
        dispositions: frozenset[str] = frozenset(),
    ):
        self._r = refresher
        self.per_agent = per_agent
        self._agent_cap = agent_cap
        self._queue_cap = queue_cap
        self._dispositions = dispositions  # configured ones are labels; others count as "other"

    def describe(self) -> Iterator[Metric]:
        yield from self._build(None)

    def collect(self) -> Iterator[Metric]:
        yield from self._build(self._r.kpis)

    def _build(self, kpis: Kpis | None) -> Iterator[Metric]:
        r = self._r
        yield GaugeMetricFamily(
            "acd_kpi_last_success_timestamp_seconds",
            "When the window KPIs were last computed (daemon clock); 0 before the first success",
            value=kpis.at if kpis is not None else 0.0,
        )
        yield GaugeMetricFamily(
            "acd_kpi_refresh_duration_seconds",
            "Wall time the last KPI computation took",
            value=r.last_duration,
        )
        yield CounterMetricFamily(
            "acd_kpi_refresh_failures", "KPI computations that failed or timed out", value=r.failures
        )
        groups: list[tuple[str, str, Mapping[str, Mapping[str, WindowKpi]], LabelCap]] = [
            ("acd_kpi", "queue", kpis.queues if kpis is not None else {}, self._queue_cap)
        ]
        if self.per_agent:
            groups.append(
                ("acd_agent_kpi", "agent", kpis.agents if kpis is not None else {}, self._agent_cap)
            )
        for prefix, label, data, cap in groups:
            answered = GaugeMetricFamily(
                f"{prefix}_answered_calls", "Answered calls in the window", labels=[label, "window"]
            )
            families = [
                (attr, GaugeMetricFamily(prefix + name[len("acd_kpi") :], doc, labels=[label, "window"]))
                for attr, name, doc in _FIELDS
            ]
            credit = GaugeMetricFamily(
                f"{prefix}_credit_points",
                "Sales points credited in the window, by attribution (acd report's credit)",
                labels=[label, "attribution", "window"],
            )
            disputed = GaugeMetricFamily(
                f"{prefix}_credit_disputed_sales",
                "Sales in the window with two different point values posted",
                labels=[label, "window"],
            )
            dispositions = GaugeMetricFamily(
                f"{prefix}_dispositions",
                "Answered calls in the window by their outcome's disposition (none: no outcome)",
                labels=[label, "disposition", "window"],
            )
            for key, windows in data.items():
                if label == "queue" and is_personal_queue(key):
                    continue
                value = cap(key)
                for window, k in windows.items():
                    if window not in WINDOWS:
                        continue
                    answered.add_metric([value, window], k.answered)
                    for attr, fam in families:
                        v = getattr(k, attr)
                        if v is not None:
                            fam.add_metric([value, window], v)
                    for attribution, points in k.credit.items():
                        credit.add_metric([value, attribution, window], points)
                    disputed.add_metric([value, window], k.credit_disputed)
                    folded: dict[str, int] = {}
                    for disposition, n in k.dispositions.items():
                        shown = (
                            disposition
                            if disposition in self._dispositions or disposition == "none"
                            else OTHER
                        )
                        folded[shown] = folded.get(shown, 0) + n
                    for disposition, n in folded.items():
                        dispositions.add_metric([value, disposition, window], n)
            yield answered
            for _, fam in families:
                yield fam
            yield credit
            yield disputed
            yield dispositions


class KpiRefresher:
    """Owns the background task that recomputes KPIs every ``interval`` seconds.

    ``clock`` is the daemon's clock (simulated time in a sped-up demo), used as ``now`` for the
    windows; durations are measured in wall time. ``start()`` inside the running loop, ``await
    stop()`` on shutdown; ``refresh_once()`` is there for tests and for a first fill at start.
    """

    def __init__(
        self,
        source: KpiSource,
        *,
        interval: float = 60.0,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval <= 0 or timeout <= 0:
            raise ValueError("KPI interval and timeout must be positive")
        self.source = source
        self.interval = interval
        self.timeout = timeout
        self.clock = clock
        self.kpis: Kpis | None = None
        self.failures = 0
        self.last_duration = 0.0
        self._task: asyncio.Task[None] | None = None

    async def refresh_once(self) -> bool:
        """Compute once; keep the previous result on failure. True when it succeeded."""
        started = time.perf_counter()
        try:
            kpis = await asyncio.wait_for(self.source.compute(self.clock()), self.timeout)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.failures += 1
            log.exception(
                "kpi_refresh_failed", effect="the previous values stay exported", failures=self.failures
            )
            return False
        finally:
            self.last_duration = time.perf_counter() - started
        self.kpis = kpis
        return True

    async def _run(self) -> None:
        while True:
            await self.refresh_once()
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="acd-kpi-refresher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()
