"""Prometheus alert rules and scrape config: promtool checks and unit tests, and every metric,
label and label value an alert names is one acd really exports."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.test_grafana_dashboards import check_references, exported_samples

HERE = Path(__file__).resolve().parents[1] / "deploy" / "prometheus"
RULES = HERE / "acd-rules.yml"
RULE_TESTS = HERE / "acd-rules.test.yml"
CONFIG = HERE / "prometheus.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (apt-get install prometheus; .ci/run installs it)"
)
REQUIRED = {
    "AcdAmiDown",
    "AcdServiceLevelBelowTarget",
    "AcdAbandonSpike",
    "AcdRepeatContactSpike",
    "AcdCallbacksMostlyFallingBack",
    "AcdDatabaseBacklogGrowing",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, cwd=HERE)


def alerts() -> list[dict[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_required_alerts_present_with_severity_and_text() -> None:
    rules = alerts()
    assert {r["alert"] for r in rules} >= REQUIRED
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert "vector(0)" not in rule["expr"] and "absent(" not in rule["expr"]


def test_every_alert_names_exported_metrics_and_labels() -> None:
    exported = exported_samples()
    problems = [f"{r['alert']}: {p}" for r in alerts() for p in check_references(r["expr"], exported)]
    assert not problems, "\n".join(problems)


def test_every_alert_is_unit_tested() -> None:
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert {r["alert"] for r in alerts()} <= tested


@needs_promtool
def test_promtool_check_rules() -> None:
    out = promtool("check", "rules", str(RULES))
    assert out.returncode == 0, out.stdout + out.stderr


@needs_promtool
def test_promtool_test_rules() -> None:
    out = promtool("test", "rules", str(RULE_TESTS))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout + out.stderr


@needs_promtool
def test_promtool_test_rules_can_fail(tmp_path: Path) -> None:
    """The unit tests really look at the thresholds: loosen one and they fail."""
    (tmp_path / "acd-rules.yml").write_text(RULES.read_text().replace(") > 0.5\n", ") > 0.9\n"))
    (tmp_path / "acd-rules.test.yml").write_text(RULE_TESTS.read_text())
    assert PROMTOOL is not None
    out = subprocess.run(
        [PROMTOOL, "test", "rules", "acd-rules.test.yml"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode != 0 and "AcdCallbacksMostlyFallingBack" in out.stdout + out.stderr


@needs_promtool
def test_promtool_check_scrape_config() -> None:
    out = promtool("check", "config", str(CONFIG))
    assert out.returncode == 0, out.stdout + out.stderr
    config = yaml.safe_load(CONFIG.read_text())
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "acd" and job["metrics_path"] == "/metrics"
    assert config["rule_files"] == ["acd-rules.yml"]
