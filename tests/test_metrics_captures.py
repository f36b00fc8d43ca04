"""Metrics fed by the real core replaying the real Asterisk captures, checked against Asterisk's
own queue_log for the same traffic (ENTERQUEUE = offered, CONNECT = answered per queue)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from acd.ami.codec import Framer
from acd.capture.reading import iter_messages
from acd.capture.replay import replay
from acd.core.callcenter import Core
from acd.core.effects import CallRecord
from acd.metrics import Metrics
from acd.metrics.labels import is_personal_queue
from acd.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
CAPTURES = sorted(FIXTURES.glob("*.ami.log")) + sorted((FIXTURES / "weighted-queues").glob("*.ami.log"))


def queue_log_counts(path: Path) -> tuple[Counter[str], Counter[str]]:
    entered: Counter[str] = Counter()
    connected: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        fields = line.split("|")
        if len(fields) < 5:
            continue
        if fields[4] == "ENTERQUEUE":
            entered[fields[2]] += 1
        elif fields[4] == "CONNECT":
            connected[fields[2]] += 1
    return entered, connected


def run(capture: Path) -> tuple[Metrics, list[CallRecord]]:
    core = Core()
    core.begin_resync(0.0)  # as the daemon does on connect: from here the model is in step
    core.end_resync(0.0)
    clock = [0.0]
    metrics = Metrics(Settings(metrics_per_agent=True), live=lambda: core.live(clock[0]))

    def take(effects: list[object]) -> None:
        for effect in effects:
            metrics.observe(effect)  # type: ignore[arg-type]

    result = replay(iter_messages(capture, framer=Framer()), core=core, on_effects=take)
    clock[0] = max((r.ended_at for r in result.records), default=0.0)
    return metrics, result.records


def samples(m: Metrics, name: str) -> dict[str, float]:
    text = m.render(m.live.take()).decode()
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name:
                out[s.labels.get("queue", "")] = out.get(s.labels.get("queue", ""), 0.0) + s.value
    return out


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name.removesuffix(".ami.log"))
def test_capture_volume_matches_queue_log(capture: Path) -> None:
    m, records = run(capture)
    queues = [r.queue for r in records]
    offered = samples(m, "acd_calls_offered_total")
    answered = samples(m, "acd_calls_answered_total")
    abandoned = samples(m, "acd_calls_abandoned_total")
    exited = samples(m, "acd_calls_exited_total")
    assert not any(is_personal_queue(q) for q in offered), "personal queues are never a queue label"
    for q, n in offered.items():
        assert n == answered.get(q, 0) + abandoned.get(q, 0) + exited.get(q, 0), q
    queue_log = capture.with_name(capture.name.replace(".ami.log", ".queue_log"))
    if not queue_log.exists() or any(is_personal_queue(q) for q in queues):
        return  # personal-queue runs are folded by design, so queue_log's per-queue counts differ
    entered, connected = queue_log_counts(queue_log)
    for q, n in entered.items():
        assert offered.get(q, 0) == n, f"{q}: offered {offered.get(q)} vs ENTERQUEUE {n}"
        assert answered.get(q, 0) == connected.get(q, 0), f"{q}: answered vs CONNECT"


@pytest.mark.parametrize("capture", [c for c in CAPTURES if c.parent.name == "weighted-queues"], ids=str)
def test_personal_queue_waits_become_affinity_waits(capture: Path) -> None:
    """Each personal-queue leg a caller left for the shared queue is one affinity wait, observed
    under that shared queue (known only once the caller gets there)."""
    m, records = run(capture)
    shared = {r.linkedid for r in records if not is_personal_queue(r.queue)}
    fallbacks = [
        r for r in records if is_personal_queue(r.queue) and r.outcome != "answered" and r.linkedid in shared
    ]
    text = m.render(None).decode()
    observed = sum(
        s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == "acd_affinity_wait_seconds_count" and s.labels["result"] == "fallback"
    )
    assert observed == len(fallbacks)


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name.removesuffix(".ami.log"))
def test_capture_live_state_renders(capture: Path) -> None:
    m, _ = run(capture)
    text = m.render(m.live.take()).decode()
    families = {f.name for f in text_string_to_metric_families(text)}
    assert "acd_ami_events" in families
    if capture.name == "asterisk_restart.ami.log":
        # It ends with Asterisk's Shutdown: until a resync nobody knows who waits or talks.
        assert "acd_agents" not in families and "acd_queue_callers_waiting" not in families
    else:
        assert "acd_agents" in families
    assert m.live.errors == 0
