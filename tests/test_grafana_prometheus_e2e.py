"""Every dashboard query and alert rule, run by a real Prometheus scraping acd's /metrics.

A Metrics instance (per-agent series on, window KPIs attached) is served by aiohttp on loopback and
fed synthetic effects continuously, so counters move between scrapes; a real Prometheus (Debian's
package) scrapes it every second with acd-rules.yml loaded. Then every panel query of every
dashboard (Grafana macros substituted) must return series carrying the labels its legend and
``by`` clauses name, with finite, plausible values; every alert rule must evaluate without error,
every metric an alert names must have series, and AMI down must fire.

What this does not cover (yet): the daemon against the simulator instead of synthetic effects.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import shutil
import signal
import socket
import subprocess
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from acd.core.effects import AffinityDecided
from acd.metrics import KpiRefresher, Metrics, metrics_route
from acd.metrics.durability import DurabilityCollector
from acd.settings import Settings
from tests.support.synthetic import (
    FixedKpiSource,
    sample_pipeline,
    sample_writer_stats,
    synthetic_day,
    synthetic_kpis,
    synthetic_snapshot,
)

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (apt-get install prometheus)"),
]
MACROS = {
    "$__rate_interval": "10s", "$__range": "1m", "$__interval": "1s", "$queue": ".*", "$agent": ".*",
    "$window": "7d",
}  # fmt: skip
AGENTS, QUEUES = 30, 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def substitute(expr: str) -> str:
    for macro, value in MACROS.items():
        expr = expr.replace(macro, value)
    return expr


def api(base: str, path: str, **params: str) -> Any:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    return body["data"]


async def api_async(base: str, path: str, **params: str) -> Any:
    return await asyncio.to_thread(api, base, path, **params)


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
        await runner.cleanup()


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """Config and port for a Prometheus the test starts once it knows acd's port."""
    yield tmp_path, free_port()


def start_prometheus(tmp_path: Path, port: int, target_port: int) -> subprocess.Popen[bytes]:
    assert PROMETHEUS is not None
    rules = (ROOT / "deploy" / "prometheus" / "acd-rules.yml").read_text()
    # The AMI-down alert waits 1 minute in production; 2 s here so the real fault fires in the test.
    rules = rules.replace("expr: acd_ami_up == 0\n        for: 1m", "expr: acd_ami_up == 0\n        for: 2s")
    (tmp_path / "acd-rules.yml").write_text(rules)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["acd-rules.yml"],
        "scrape_configs": [
            {
                "job_name": "acd",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = (tmp_path / "prometheus.log").open("wb")
    return subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def dashboard_queries() -> list[tuple[str, str, str, str]]:
    out = []
    for path in sorted((ROOT / "grafana" / "dashboards").glob("*.json")):
        dash = json.loads(path.read_text())
        for panel in dash["panels"]:
            if panel["type"] == "row":
                continue
            unit = panel["fieldConfig"]["defaults"].get("unit", "short")
            for t in panel["targets"]:
                out.append(
                    (
                        f"{path.stem} / {panel['title']} / {t['refId']}",
                        t["expr"],
                        t.get("legendFormat", ""),
                        unit,
                    )
                )
    return out


def expected_labels(expr: str, legend: str) -> set[str]:
    labels = set(re.findall(r"\{\{(\w+)\}\}", legend))
    outer = re.match(r"\s*(?:topk\(\d+,\s*)?(?:sum|max|avg|min|count) by \(([^)]*)\)", expr)
    if outer:
        labels |= {x.strip() for x in outer.group(1).split(",")}
    return labels


async def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            last = await check()
            if last:
                return last
        except OSError:
            pass
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


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

        await wait_for(scraped_enough, 40, "8 scrapes of acd")

        problems: list[str] = []
        for where, expr, legend, unit in dashboard_queries():
            data = await api_async(base, "/api/v1/query", query=substitute(expr))
            result = data["result"]
            if not result:
                problems.append(f"{where}: no series for {substitute(expr)}")
                continue
            want = expected_labels(expr, legend)
            for series in result:
                missing = want - set(series["metric"])
                if missing:
                    problems.append(f"{where}: series {series['metric']} lacks labels {sorted(missing)}")
                value = float(series["value"][1])
                if not math.isfinite(value) or value < 0:
                    problems.append(f"{where}: implausible value {value} for {series['metric']}")
                elif unit == "percentunit" and value > 1.0 + 1e-9:
                    problems.append(f"{where}: ratio {value} above 1 for {series['metric']}")
        for var in ("queue", "agent"):
            values = await api_async(base, f"/api/v1/label/{var}/values")
            if not values:
                problems.append(f"template variable ${var}: no values")
        assert not problems, "\n".join(problems)

        # Every alert evaluates without error, and every metric it names has series.
        rules_text = (ROOT / "deploy" / "prometheus" / "acd-rules.yml").read_text()
        for metric in sorted(set(re.findall(r"\b(acd_[a-z0-9_]+)", rules_text))):
            data = await api_async(base, "/api/v1/query", query=f"count({metric})")
            assert data["result"], f"alert metric {metric} has no series"

        async def rules_healthy() -> list[dict[str, Any]]:
            groups = (await api_async(base, "/api/v1/rules"))["groups"]
            rules = [r for g in groups for r in g["rules"]]
            evaluated = [
                r for r in rules if r.get("lastEvaluation", "").startswith("2") and r["health"] != "unknown"
            ]
            return rules if len(evaluated) == len(rules) else []

        rules = await wait_for(rules_healthy, 20, "every rule evaluated")
        assert len(rules) >= 7
        for rule in rules:
            assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))

        # A real fault: AMI drops, the AMI-down alert fires in this Prometheus.
        metrics.set_ami_connected(False)

        async def ami_down_firing() -> bool:
            data = await api_async(
                base, "/api/v1/query", query='ALERTS{alertname="AcdAmiDown",alertstate="firing"}'
            )
            return bool(data["result"])

        await wait_for(ami_down_firing, 20, "AcdAmiDown firing")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
