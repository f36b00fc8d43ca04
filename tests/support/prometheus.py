"""A real Prometheus (Debian's package) for the end-to-end tests, and the one check of every
Grafana panel and alert rule against it.

``start_prometheus`` runs it on a free loopback port with acd-rules.yml loaded, scraping one acd
every second; ``panel_problems`` runs every panel query of every dashboard (Grafana's macros
substituted) and says what is wrong: a query with no series, a series without the labels its
legend or ``by`` clause names, a value that is not finite, negative, or a ratio above 1;
``alert_metric_problems`` names the metrics alert rules use that have no series.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import shutil
import signal
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.support.lifeline import die_with_parent

__all__ = [
    "PROMETHEUS",
    "ROOT",
    "alert_metric_problems",
    "ami_down_firing",
    "api",
    "api_async",
    "dashboard_queries",
    "expected_labels",
    "panel_problems",
    "start_prometheus",
    "stop_prometheus",
    "substitute",
]

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = shutil.which("prometheus")
RULES = ROOT / "deploy" / "prometheus" / "acd-rules.yml"
MACROS = {
    "$__rate_interval": "10s", "$__range": "1m", "$__interval": "1s", "$queue": ".*", "$agent": ".*",
    "$window": "7d",
}  # fmt: skip


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


def start_prometheus(tmp_path: Path, port: int, target_port: int) -> subprocess.Popen[bytes]:
    assert PROMETHEUS is not None
    rules = RULES.read_text()
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
        preexec_fn=die_with_parent(),  # SIGKILLed tests leave no Prometheus behind
    )


def stop_prometheus(proc: subprocess.Popen[bytes]) -> None:
    """By its PID: SIGTERM, then SIGKILL if it does not go within 15 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def dashboard_queries() -> list[tuple[str, str, str, str]]:
    """(where, expr, legend, unit) of every panel target of every dashboard."""
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


async def panel_problems(base: str) -> list[str]:
    """What is wrong with any panel's query in the Prometheus at ``base`` (empty: nothing)."""
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
    return problems


async def alert_metric_problems(base: str) -> list[str]:
    """The metrics the alert rules name that have no series in the Prometheus at ``base``."""
    problems = []
    for metric in sorted(set(re.findall(r"\b(acd_[a-z0-9_]+)", RULES.read_text()))):
        data = await api_async(base, "/api/v1/query", query=f"count({metric})")
        if not data["result"]:
            problems.append(f"alert metric {metric} has no series")
    return problems


async def ami_down_firing(base: str) -> bool:
    data = await api_async(base, "/api/v1/query", query='ALERTS{alertname="AcdAmiDown",alertstate="firing"}')
    return bool(data["result"])
