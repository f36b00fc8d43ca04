"""Every dashboard query and alert rule, run by a real Prometheus scraping acd's /metrics.

A Metrics instance (per-agent series on, window KPIs attached) is served by aiohttp on loopback and
fed synthetic effects continuously, so counters move between scrapes; a real Prometheus (Debian's
package) scrapes it every second with acd-rules.yml loaded. Then every panel query of every
dashboard (Grafana macros substituted) must return series carrying the labels its legend and
``by`` clauses name, with finite, plausible values; every alert rule must evaluate without error,
every metric an alert names must have series, and AMI down must fire.

The daemon against the simulator, with the same checks: tests/test_prometheus_daemon_e2e.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from acd.core.effects import AffinityDecided
from acd.metrics import KpiRefresher, Metrics, metrics_route
from acd.metrics.durability import DurabilityCollector
from acd.settings import Settings
from tests.support.ports import free_port
from tests.support.prometheus import (
    PROMETHEUS,
    alert_metric_problems,
    ami_down_firing,
    api_async,
    panel_problems,
    start_prometheus,
    stop_prometheus,
)
from tests.support.synthetic import (
    FixedKpiSource,
    sample_pipeline,
    sample_writer_stats,
    synthetic_day,
    synthetic_kpis,
    synthetic_snapshot,
)
from tests.support.waiting import eventually

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (apt-get install prometheus)"),
]
AGENTS, QUEUES = 30, 4


@pytest.fixture
async def acd_metrics() -> AsyncIterator[tuple[Metrics, int]]:
    snap = synthetic_snapshot(agents=AGENTS, queues=QUEUES)
    m = Metrics(Settings(metrics_per_agent=True), live=lambda: snap, db_backlog=lambda: 3)
    m.set_ami_connected(True)
    m.registry.register(DurabilityCollector(sample_writer_stats))
    sample_pipeline(m)
    refresher = KpiRefresher(FixedKpiSource(synthetic_kpis(agents=AGENTS, queues=QUEUES)), interval=5)
    m.attach_kpis(refresher)
    refresher.start()
    # This process also exports the center's window KPIs (it holds the kpi lock): the panels read those.
    center = KpiRefresher(FixedKpiSource(synthetic_kpis(agents=AGENTS, queues=QUEUES)), interval=5)
    m.attach_center_kpis(center, lambda: True)
    center.start()
    stream = synthetic_day(agents=AGENTS, queues=QUEUES, calls=500_000)

    async def feed() -> None:
        reasons = ("original_agent", "fallback_busy_timeout", "fallback_no_answer", "no_history")
        n = 0
        while True:
            for _ in range(400):
                m.observe(next(stream))
            for name in ("Newchannel", "Hangup", "QueueCallerJoin", "AgentConnect"):
                m.count_event(name, 5)
            queue, reason = f"q{n % QUEUES:02d}", reasons[n % len(reasons)]
            uid = f"{n}.7"
            m.observe(
                AffinityDecided(
                    uid, uid, (uid,), queue, "queue", reason, False, None, None, None, "", 0.0, 0.0
                )
            )
            m.observe_db_write(0.003, 40)
            n += 1
            await asyncio.sleep(0.2)

    feeder = asyncio.create_task(feed())
    app = web.Application()
    app.add_routes([metrics_route(m)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield m, runner.addresses[0][1]
    finally:
        feeder.cancel()
        await refresher.stop()
        await center.stop()
        await runner.cleanup()


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """Config and port for a Prometheus the test starts once it knows acd's port."""
    yield tmp_path, free_port()


async def test_every_panel_and_alert_against_real_prometheus(
    acd_metrics: tuple[Metrics, int], prometheus: tuple[Path, int]
) -> None:
    metrics, acd_port = acd_metrics
    tmp_path, port = prometheus
    proc = start_prometheus(tmp_path, port, acd_port)
    base = f"http://127.0.0.1:{port}"
    try:

        async def scraped_enough() -> bool:
            data = await api_async(
                base, "/api/v1/query", query="count_over_time(acd_calls_offered_total[1m])"
            )
            return bool(data["result"]) and min(float(r["value"][1]) for r in data["result"]) >= 8

        await eventually(scraped_enough, 40, what="8 scrapes of acd")

        problems = await panel_problems(base)
        for var in ("queue", "agent"):
            values = await api_async(base, f"/api/v1/label/{var}/values")
            if not values:
                problems.append(f"template variable ${var}: no values")
        assert not problems, "\n".join(problems)

        # Every alert evaluates without error, and every metric it names has series.
        assert await alert_metric_problems(base) == []

        async def rules_healthy() -> list[dict[str, Any]]:
            groups = (await api_async(base, "/api/v1/rules"))["groups"]
            rules = [r for g in groups for r in g["rules"]]
            evaluated = [
                r for r in rules if r.get("lastEvaluation", "").startswith("2") and r["health"] != "unknown"
            ]
            return rules if len(evaluated) == len(rules) else []

        rules = await eventually(rules_healthy, 20, what="every rule evaluated")
        assert len(rules) >= 7
        for rule in rules:
            assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))

        # A real fault: AMI drops, the AMI-down alert fires in this Prometheus.
        metrics.set_ami_connected(False)

        await eventually(lambda: ami_down_firing(base), 20, what="AcdAmiDown firing")
    finally:
        stop_prometheus(proc)
