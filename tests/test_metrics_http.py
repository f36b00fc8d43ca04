"""/metrics over real HTTP on loopback: content type, parseable exposition, every family present."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from acd.core.live import LiveSnapshot
from acd.metrics import KpiRefresher, Kpis, Metrics, WindowKpi, metrics_route
from acd.settings import Settings
from tests.support.synthetic import synthetic_day, synthetic_snapshot


class OneKpi:
    async def compute(self, now: float) -> Kpis:
        return Kpis(now, {"q00": {"24h": WindowKpi(10, 0.9, 0.1, 0.9, 0.0, 1.0)}})


@asynccontextmanager
async def serving(m: Metrics) -> AsyncIterator[str]:
    """``/metrics`` of ``m`` on a free loopback port, as the daemon serves it; yields its URL."""
    app = web.Application()
    app.add_routes([metrics_route(m)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"
    finally:
        await runner.cleanup()


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Metrics]]:
    snap = synthetic_snapshot(agents=50, queues=5)
    m = Metrics(Settings(metrics_per_agent=True), live=lambda: snap, db_backlog=lambda: 0)
    for effect in synthetic_day(agents=50, queues=5, calls=2000):
        m.observe(effect)
    refresher = KpiRefresher(OneKpi())
    m.attach_kpis(refresher)
    await refresher.refresh_once()
    async with serving(m) as url:
        yield url, m


async def test_scrape_parses_and_has_every_family(served: tuple[str, Metrics]) -> None:
    url, _ = served
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await resp.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    expected = {
        "acd_calls_offered",
        "acd_calls_answered",
        "acd_calls_abandoned",
        "acd_calls_exited",
        "acd_call_wait_seconds",
        "acd_call_talk_seconds",
        "acd_agent_wrapup_seconds",
        "acd_cutoffs",
        "acd_callback_results",
        "acd_affinity_wait_seconds",
        "acd_outcome_writes",
        "acd_kpi_dispositions",
        "acd_kpi_credit_points",
        "acd_kpi_resolved_ratio",
        "acd_calls_repeat",
        "acd_calls_agent_released_short",
        "acd_queue_callers_waiting",
        "acd_queue_longest_wait_seconds",
        "acd_queue_agents",
        "acd_agent_state",
        "acd_kpi_service_level_ratio",
        "acd_kpi_fcr_ratio",
        "acd_ami_up",
        "acd_ami_events",
        "acd_db_backlog_records",
        "acd_db_write_seconds",
        "acd_resyncs",
        "acd_gaps",
        "acd_build_info",
    }
    assert expected <= set(families)
    assert not any(s.name.endswith("_created") for f in families.values() for s in f.samples)
    offered = sum(s.value for s in families["acd_calls_offered"].samples)
    answered = sum(s.value for s in families["acd_calls_answered"].samples)
    abandoned = sum(s.value for s in families["acd_calls_abandoned"].samples)
    exited = sum(s.value for s in families["acd_calls_exited"].samples)
    assert offered == answered + abandoned + exited > 0


async def test_snapshot_taken_in_the_loop_thread_rendered_elsewhere() -> None:
    """The core is not thread-safe: the snapshot must be taken in the loop that owns it."""
    import threading

    takers: list[int] = []

    def source() -> LiveSnapshot:
        takers.append(threading.get_ident())
        return synthetic_snapshot(agents=3, queues=1)

    m = Metrics(Settings(), live=source)
    async with serving(m) as url, aiohttp.ClientSession() as session, session.get(url) as resp:
        text = await resp.text()
    assert takers == [threading.get_ident()]
    # Every series says its server and the node's role (a sole node leads).
    assert 'acd_queue_callers_waiting{queue="q00",role="leader",server="asterisk"}' in text


async def test_only_get_is_served(served: tuple[str, Metrics]) -> None:
    url, _ = served
    async with aiohttp.ClientSession() as session, session.post(url) as resp:
        assert resp.status == 405
