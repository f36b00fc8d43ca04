"""The Grafana dashboards and provisioning files: in sync with their generator, structurally sound,
and every query names metrics, labels and label values that acd really exports."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from acd.settings import Settings
from tests.support.synthetic import sample_metrics

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
MACROS = {
    "$__rate_interval": "1m", "$__range": "1d", "$__interval": "15s", "$queue": ".*", "$agent": ".*",
    "$window": "7d",
}  # fmt: skip
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dash["panels"] if p["type"] != "row"]


def queries(dash: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    return [(p["title"], t, t["expr"]) for p in panels(dash) for t in p["targets"]]


def substitute(expr: str) -> str:
    for macro, value in MACROS.items():
        expr = expr.replace(macro, value)
    return expr


def exported_samples() -> dict[str, dict[str, set[str]]]:
    """Sample name -> label name -> values seen, from a Metrics with every family populated."""
    import asyncio

    m = asyncio.run(sample_metrics(Settings(metrics_per_agent=True)))
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for fam in text_string_to_metric_families(m.render(m.live.take()).decode()):
        for s in fam.samples:
            labels = found[s.name]
            for k, v in s.labels.items():
                labels[k].add(v)
    return found


@pytest.fixture(scope="module")
def exported() -> dict[str, dict[str, set[str]]]:
    return exported_samples()


def test_dashboards_exist_and_match_generator() -> None:
    assert {p.name for p in DASHBOARDS} == {"wallboard.json", "quality.json", "agents.json"}
    spec = importlib.util.spec_from_file_location("grafana_generate", GRAFANA / "generate.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    rendered = gen.render()
    for path in DASHBOARDS:
        assert rendered[path.name] == path.read_text(), f"{path.name}: run grafana/generate.py"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_structure(path: Path) -> None:
    dash = load(path)
    for key in ("uid", "title", "schemaVersion", "panels", "templating", "time", "refresh"):
        assert key in dash, key
    assert dash["uid"].startswith("acd-") and len(dash["uid"]) <= 40
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells: set[tuple[int, int]] = set()
    for p in dash["panels"]:
        g = p["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps another panel"
                cells.add((x, y))
    assert panels(dash)
    for p in panels(dash):
        assert p["title"] and p["type"] in {"stat", "timeseries", "bargauge", "piechart", "table"}
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert p["targets"], f"{p['title']} has no query"
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t["expr"].strip(), p["title"]
            assert "vector(0)" not in t["expr"] and "absent(" not in t["expr"], "no padding of empty panels"
    names = [v["name"] for v in dash["templating"]["list"]]
    assert names[0] == "datasource"
    used = " ".join(t["expr"] for _, t, _ in queries(dash))
    for var in names[1:]:
        assert f"${var}" in used, f"variable ${var} is never used"


def test_wallboard_answers_the_now_questions() -> None:
    dash = load(GRAFANA / "dashboards" / "wallboard.json")
    text = " ".join(e for _, _, e in queries(dash))
    for metric in ("acd_queue_callers_waiting", "acd_queue_longest_wait_seconds", "acd_agents"):
        assert metric in text
    for state in ("available", "paused", "in_call"):
        assert state in text
    assert dash["refresh"] == "10s" and dash["time"]["from"] == "now/d"
    big = [p for p in panels(dash) if p["type"] == "stat"]
    assert len(big) >= 7 and all(p["options"]["text"]["valueSize"] >= 60 for p in big)


def _selectors(expr: str) -> list[tuple[str, str]]:
    """(metric, '{...}' body or '') for every metric reference in a PromQL expression."""
    return [(m.group(1), m.group(2) or "") for m in re.finditer(r"\b(acd_[a-z0-9_]+)\s*(\{[^}]*\})?", expr)]


def _sample_names(metric: str, exported: dict[str, dict[str, set[str]]]) -> list[str]:
    return [n for n in (metric, metric + "_total") if n in exported]


def check_references(expr: str, exported: dict[str, dict[str, set[str]]], legend: str = "") -> list[str]:
    """Problems with the metrics, labels and label values a PromQL expression names (also used by
    the alert rule tests): each metric exported, each matcher's label present and its value seen,
    each ``by``/``on`` label carried by a metric of the expression, each legend label known."""
    problems = []
    known_labels: set[str] = set()
    for metric, body in _selectors(expr):
        names = _sample_names(metric, exported)
        if not names:
            problems.append(f"{metric} is not exported")
            continue
        labels = exported[names[0]]
        known_labels |= set(labels)
        for name, op, value in re.findall(r'(\w+)\s*(=~|!=|!~|=)\s*"([^"]*)"', body):
            if name not in labels:
                problems.append(f"{metric} has no label {name}")
            elif op == "=" and value not in labels[name]:
                problems.append(f"{metric}{{{name}={value!r}}} never exported")
            elif op == "=~" and not value.startswith("$"):
                rx = re.compile(value)
                if not any(rx.fullmatch(v) for v in labels[name]):
                    problems.append(f"{metric}{{{name}=~{value!r}}} matches nothing")
    for clause in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", expr):
        for label in (x.strip() for x in clause.split(",")):
            if label and label not in known_labels:
                problems.append(f"by/on ({label}) but no metric here has that label")
    for label in re.findall(r"\{\{(\w+)\}\}", legend):
        if label not in known_labels:
            problems.append(f"legend {{{{{label}}}}} names an unknown label")
    return problems


def test_every_query_names_exported_metrics_labels_and_values(
    exported: dict[str, dict[str, set[str]]],
) -> None:
    problems = []
    for path in DASHBOARDS:
        for title, t, expr in queries(load(path)):
            for problem in check_references(expr, exported, t.get("legendFormat", "")):
                problems.append(f"{path.stem} / {title}: {problem}")
    assert not problems, "\n".join(problems)


def test_template_variables_query_exported_labels(exported: dict[str, dict[str, set[str]]]) -> None:
    for path in DASHBOARDS:
        for var in load(path)["templating"]["list"]:
            if var["type"] != "query":
                continue
            metric, label = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", var["definition"]).groups()  # type: ignore[union-attr]
            assert label in exported[metric], f"{path.stem}: ${var['name']}"


NO_PROMTOOL = "promtool not installed (apt-get install prometheus)"


@pytest.mark.skipif(shutil.which("promtool") is None, reason=NO_PROMTOOL)
def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    rules = []
    for path in DASHBOARDS:
        for i, (_, _, expr) in enumerate(queries(load(path))):
            rules.append({"record": f"acd:check_{path.stem}_{i}", "expr": substitute(expr)})
    file = tmp_path / "panels.yml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    cmd = ["promtool", "check", "rules", str(file)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_provisioning_files() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "acd.yaml").read_text())
    assert ds["apiVersion"] == 1
    (source,) = ds["datasources"]
    assert source["type"] == "prometheus" and source["uid"] == "acd-prometheus" and source["url"]
    prov = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "acd.yaml").read_text())
    (provider,) = prov["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
    for path in DASHBOARDS:
        current = load(path)["templating"]["list"][0]["current"]
        assert current["value"] == source["uid"], "dashboards default to the provisioned datasource"


def test_readme_documents_every_exported_family(exported: dict[str, dict[str, set[str]]]) -> None:
    readme = (GRAFANA / "README.md").read_text()
    families = {re.sub(r"_(bucket|count|sum)$", "", name) for name in exported}
    missing = sorted(f for f in families if f"`{f}`" not in readme)
    assert not missing, f"grafana/README.md does not list {missing}"
