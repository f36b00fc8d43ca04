"""Label sets stay bounded whatever the traffic: random queues, agents, reasons and event names."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from acd.core.config import CoreConfig
from acd.core.customer import CustomerCalls
from acd.core.effects import (
    AffinityDecided,
    Anomaly,
    CallFinished,
    GapRecorded,
    MemberSession,
    MemberStateChanged,
    OutcomeReported,
)
from acd.core.live import AgentLive, LiveSnapshot, QueueLive
from acd.metrics import Metrics
from acd.metrics.labels import LabelCap
from acd.settings import Settings


def decided(queue: str, reason: str, shadow: bool = False, uid: str = "9.1") -> AffinityDecided:
    """A routing decision as the core emits it once settled."""
    return AffinityDecided(uid, uid, (uid,), queue, "queue", reason, shadow, None, None, None, "", 0.0, 0.0)


MAX_AGENTS = 25
MAX_QUEUES = 10


def label_values(m: Metrics) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    text = generate_latest(m.registry).decode()
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            for k, v in s.labels.items():
                if k != "le":
                    found[k].add(v)
    return found


def test_labels_bounded_over_many_random_records() -> None:
    rng = random.Random(7)
    agents = [
        AgentLive(f"PJSIP/{i}", f"Rep {i}", rng.choice(("available", "in_call")), (f"q{i}",))
        for i in range(400)
    ]
    snap = LiveSnapshot(
        0.0, tuple(QueueLive(f"q{i}", 1, 1.0, {"available": 1}) for i in range(300)), tuple(agents)
    )
    m = Metrics(
        Settings(metrics_per_agent=True, metrics_max_agents=MAX_AGENTS),
        live=lambda: snap,
        max_queues=MAX_QUEUES,
    )
    from tests.support.synthetic import record

    stage = CustomerCalls(CoreConfig())

    for n in range(20_000):
        q = rng.choice((f"q{rng.randrange(300)}", f"acd-agent-{rng.randrange(900)}", f"campaign-{n}"))
        a = rng.randrange(2000)
        outcome = rng.choice(("answered", "abandoned", "exited"))
        rec = record(
            f"{n}.1",
            q,
            outcome=outcome,
            agent=a,
            wait=rng.uniform(0, 200),
            cut_off=rng.random() < 0.2,
            cause=rng.randrange(0, 130),
            exit_reason=f"r{rng.randrange(50)}",
            callback_of=f"{rng.randrange(n + 1)}.1" if rng.random() < 0.3 else None,
            ended_by=rng.choice(("caller", "agent", "transfer", "system", None)),
        )
        for effect in [CallFinished(rec), *stage.observe([CallFinished(rec)], float(n))]:
            m.observe(effect)
        m.observe(MemberStateChanged(q, f"PJSIP/{a}", f"Rep {a}", "wrapup", "in_call", None, float(n)))
        m.observe(MemberStateChanged(q, f"PJSIP/{a}", f"Rep {a}", "available", "wrapup", None, n + 5.0))
        m.observe(OutcomeReported(rec.uniqueid, None, None, f"d{n}", None, None, 1.0, 0.0))
        m.observe(MemberSession("pause", q, f"PJSIP/{a}", "x", f"reason {n}", 0.0))
        m.observe(Anomaly(f"kind{n}", None, "", 0.0))
        m.observe(GapRecorded(None, 0.0, f"gap {n}", 0))
        m.observe(decided(q, f"why{n}", uid=f"{n}.9"))
        m.count_event(f"Event{n}")
        m.handler_error(f"h{n}")
    values = label_values(m)
    assert len(values["agent"]) <= MAX_AGENTS + 1
    assert "other" in values["agent"]
    assert len(values["queue"]) <= MAX_QUEUES + 1  # + other
    assert not any(v.startswith("acd-agent-") for v in values["queue"])
    assert len(values["reason"]) <= 80  # exit reasons, affinity reasons, pause reasons, gap reasons
    assert len(values["kind"]) <= 50 + 1 + 2 + 5  # anomaly cap + other, short/long, session kinds
    assert len(values["event"]) <= 90
    assert len(values["handler"]) <= 51
    assert len(values["cause_class"]) <= 10
    assert m.registry.get_sample_value("acd_metrics_label_overflow_total", {"label": "agent"}) > 0
    # No caller numbers, channel names or call ids anywhere in the label values.
    everything = set().union(*values.values())
    assert "5550100" not in everything  # the records' caller number and key
    assert not any(v.endswith(".1") or v.startswith("PJSIP/") for v in everything)


def test_label_cap_admits_first_values_and_keeps_them() -> None:
    cap = LabelCap(2, preset=("a",))
    assert [cap("a"), cap("b"), cap("c"), cap("b")] == ["a", "b", "other", "b"]
    assert cap.overflowed == 1 and len(cap) == 2


def test_metrics_keep_no_call_model() -> None:
    """Metrics count what the core settled and keep nothing per call: a third day of traffic costs
    no memory the first did not."""
    import tracemalloc

    from acd.metrics import Metrics
    from acd.settings import Settings
    from tests.support.synthetic import record

    m = Metrics(Settings())
    stage = CustomerCalls(CoreConfig())
    start = 1_700_000_000.0

    def day(d: int) -> list[Any]:
        out = []
        for i in range(d * 1440, (d + 1) * 1440):  # one call a minute
            rec = record(f"{i}", "sales", at=start + i * 60.0)
            out += stage.observe([CallFinished(rec)], rec.ended_at)
        return out

    for effect in day(0):
        m.observe(effect)
    later = day(1) + day(2)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for effect in later:
        m.observe(effect)
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    assert grown < 50_000, grown
