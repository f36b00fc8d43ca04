"""Window KPIs: computed in the background, cached between scrapes, exported as gauges."""

from __future__ import annotations

import asyncio

import pytest

from acd.metrics import KpiRefresher, Kpis, Metrics, WindowKpi
from acd.settings import Settings


class Source:
    """A KpiSource that counts its calls and can fail or hang on demand."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.fail = False
        self.hang = False

    async def compute(self, now: float) -> Kpis:
        self.calls.append(now)
        if self.fail:
            raise RuntimeError("database down")
        if self.hang:
            await asyncio.sleep(3600)
        good = WindowKpi(100, 0.85, 0.1, 0.9, 0.02, 0.7)
        return Kpis(
            at=now,
            queues={
                "sales": {"24h": good, "30d": WindowKpi(0)},
                "acd-agent-1": {"24h": good},
            },
            agents={"Ann": {"7d": good}},
        )


def metrics_with(source: Source, per_agent: bool = False, **kw: float) -> tuple[Metrics, KpiRefresher]:
    m = Metrics(Settings(metrics_per_agent=per_agent))
    r = KpiRefresher(source, clock=lambda: 5000.0, **kw)
    m.attach_kpis(r)
    return m, r


async def test_values_exported_after_refresh_and_served_from_cache() -> None:
    src = Source()
    m, r = metrics_with(src)
    get = m.registry.get_sample_value
    assert get("acd_kpi_service_level_ratio", {"queue": "sales", "window": "24h"}) is None
    assert get("acd_kpi_last_success_timestamp_seconds") == 0
    assert await r.refresh_once()
    for _ in range(3):  # scrapes do not recompute
        assert get("acd_kpi_service_level_ratio", {"queue": "sales", "window": "24h"}) == 0.85
    assert len(src.calls) == 1 and src.calls[0] == 5000.0
    assert get("acd_kpi_repeat_contact_ratio", {"queue": "sales", "window": "24h"}) == 0.1
    assert get("acd_kpi_fcr_ratio", {"queue": "sales", "window": "24h"}) == 0.9
    assert get("acd_kpi_cutoff_ratio", {"queue": "sales", "window": "24h"}) == 0.02
    assert get("acd_kpi_notes_completeness_ratio", {"queue": "sales", "window": "24h"}) == 0.7
    assert get("acd_kpi_answered_calls", {"queue": "sales", "window": "24h"}) == 100
    # Undefined (None) KPIs are absent, not zero.
    assert get("acd_kpi_answered_calls", {"queue": "sales", "window": "30d"}) == 0
    assert get("acd_kpi_fcr_ratio", {"queue": "sales", "window": "30d"}) is None
    assert get("acd_kpi_fcr_ratio", {"queue": "acd-agent-1", "window": "24h"}) is None
    assert get("acd_kpi_last_success_timestamp_seconds") == 5000.0
    assert get("acd_agent_kpi_fcr_ratio", {"agent": "Ann", "window": "7d"}) is None  # per-agent off


async def test_per_agent_kpis_when_enabled() -> None:
    m, r = metrics_with(Source(), per_agent=True)
    await r.refresh_once()
    assert m.registry.get_sample_value("acd_agent_kpi_fcr_ratio", {"agent": "Ann", "window": "7d"}) == 0.9


async def test_failure_and_timeout_keep_previous_values() -> None:
    src = Source()
    m, r = metrics_with(src, timeout=0.05)
    get = m.registry.get_sample_value
    await r.refresh_once()
    src.fail = True
    assert not await r.refresh_once()
    src.fail, src.hang = False, True
    assert not await r.refresh_once()
    assert get("acd_kpi_refresh_failures_total") == 2
    assert get("acd_kpi_service_level_ratio", {"queue": "sales", "window": "24h"}) == 0.85
    # The hung refresh was given up at its timeout: it took at least that long (a busy machine
    # only makes it longer, so no upper bound here).
    assert get("acd_kpi_refresh_duration_seconds") >= 0.04


async def test_background_task_refreshes_and_stops() -> None:
    src = Source()
    _, r = metrics_with(src, interval=0.01)
    r.start()
    r.start()  # idempotent: still one task
    for _ in range(200):
        if len(src.calls) >= 3:
            break
        await asyncio.sleep(0.01)
    assert len(src.calls) >= 3 and r.running
    await r.stop()
    assert not r.running
    n = len(src.calls)
    await asyncio.sleep(0.05)
    assert len(src.calls) == n


def test_bad_intervals_rejected_and_single_attach() -> None:
    with pytest.raises(ValueError):
        KpiRefresher(Source(), interval=0)
    m, _ = metrics_with(Source())
    with pytest.raises(RuntimeError):
        m.attach_kpis(KpiRefresher(Source()))
