"""Synthetic, plausible effects and live snapshots for the metrics benchmark and dashboard checks.

These are not a model of Asterisk (the simulator is): they are effect records with realistic mixes
(answered/abandoned/exited, cut-offs, callbacks, repeats, outcomes, personal affinity legs) so the
benchmark measures a scrape over a full day's series and the dashboard tests can check that every
panel's metric and label really exists in the exposition. Seeded, so runs are reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from acd.core.config import CoreConfig
from acd.core.customer import CustomerCalls
from acd.core.definitions import is_personal_queue
from acd.core.effects import (
    AffinityDecided,
    Anomaly,
    CallFinished,
    CallRecord,
    CallStarted,
    Effect,
    GapRecorded,
    MemberSession,
    MemberState,
    MemberStateChanged,
    OutcomeReported,
    ResyncDone,
)
from acd.core.live import AgentLive, LiveSnapshot, QueueLive
from acd.metrics.durability import DurabilityCollector
from acd.metrics.kpi import WINDOWS, KpiRefresher, Kpis, WindowKpi
from acd.metrics.metrics import AFFINITY_RESULTS, Metrics
from acd.settings import Settings
from tests import store_records

if TYPE_CHECKING:
    from acd.store.writer import WriterStats

__all__ = [
    "FixedKpiSource",
    "agent_interface",
    "record",
    "sample_metrics",
    "sample_pipeline",
    "synthetic_day",
    "synthetic_kpis",
    "synthetic_snapshot",
]

_LIVE_STATES: tuple[MemberState, ...] = ("available", "ringing", "in_call", "wrapup", "paused")


def agent_interface(i: int) -> str:
    return f"PJSIP/{1000 + i}"


def record(
    call_id: str,
    queue: str,
    *,
    outcome: str = "answered",
    wait: float | None = 5.0,
    talk: float = 60.0,
    agent: int | None = 0,
    at: float = 1_700_000_000.0,
    **overrides: Any,
) -> CallRecord:
    """A finished call record with sensible defaults; ``overrides`` replace any field. ``wait``
    None: a call whose wait Asterisk never told (adopted in a resync)."""
    answered = outcome == "answered"
    interface = agent_interface(agent) if answered and agent is not None else None
    fields: dict[str, Any] = {
        "uniqueid": call_id.split("#")[0],
        "linkedid": call_id.split("#")[0],
        "entry": 1,
        "id": call_id,
        "queue": queue,
        "caller_name": None,
        "joined_at": at,
        "outcome": outcome,
        "agent": interface,
        "agent_name": f"Agent {agent}" if interface is not None else None,
        "wait_seconds": wait,
        "talk_seconds": talk,
        "ended_by": "caller" if answered else None,
        "cause": 16 if answered else None,
        "offers": (),
        **overrides,
    }
    return store_records.record(**fields)


def synthetic_day(
    *,
    agents: int = 500,
    queues: int = 20,
    calls: int = 40_000,
    seed: int = 1,
    start: float = 1_700_000_000.0,
) -> Iterator[Effect]:
    """A day's effects: member logins and state changes, calls with every outcome, outcomes, health,
    and what the core's customer-call stage makes of the calls (customer calls, settled legs)."""
    stage = CustomerCalls(CoreConfig(), channels_live=lambda _: True)
    for effect in _day(agents=agents, queues=queues, calls=calls, seed=seed, start=start):
        yield effect
        if isinstance(effect, CallStarted):
            yield from stage.observe([effect], effect.at)
        elif isinstance(effect, CallFinished):
            rec = effect.record
            yield from stage.observe([effect], rec.ended_at)
            if not is_personal_queue(rec.queue) or rec.outcome == "answered":
                yield from stage.channels_gone([rec.linkedid], rec.ended_at)  # its last entry


def _day(*, agents: int, queues: int, calls: int, seed: int, start: float) -> Iterator[Effect]:
    rng = random.Random(seed)
    names = [f"q{i:02d}" for i in range(queues)]
    for a in range(agents):
        for q in (names[a % queues], names[(a + 7) % queues]):
            yield MemberSession("login", q, agent_interface(a), f"Agent {a}", None, start)
    yield ResyncDone(start, queues, agents, 0, 0)
    step = 86400.0 / calls
    last_by_agent: dict[int, str] = {}
    for n in range(calls):
        at = start + n * step
        q = names[rng.randrange(queues)]
        cid = f"{int(at)}.{n}"
        a = rng.randrange(agents)
        yield CallStarted(cid, cid, cid, q, "5550100", at, None, None)
        roll = rng.random()
        extra: dict[str, Any] = {}
        if rng.random() < 0.08 and a in last_by_agent:
            extra["repeat_of"] = last_by_agent[a]
        if roll < 0.80:
            cut = rng.random() < 0.03
            callback = rng.random() < 0.03 and a in last_by_agent
            rec_id, rec_queue, answerer = cid, q, a
            if callback:
                # A callback: answered in the personal queue by the original agent, or after a
                # timed-out personal wait (or none) by another agent in the shared queue.
                extra["callback_of"] = last_by_agent[a]
                roll_cb = rng.random()
                if roll_cb < 0.4:
                    rec_queue = f"acd-agent-{a}"
                else:
                    answerer = (a + 1) % agents
                    rec_id = cid + "#2"
                    if roll_cb < 0.7:
                        leg = record(
                            cid,
                            f"acd-agent-{a}",
                            outcome="exited",
                            exit_reason="timeout",
                            wait=rng.uniform(0, 30),
                            at=at,
                            callback_of=extra["callback_of"],
                        )
                        yield CallFinished(leg)
            rec = record(
                rec_id,
                rec_queue,
                wait=rng.expovariate(1 / 15),
                talk=rng.expovariate(1 / 180),
                agent=answerer,
                at=at,
                cut_off=cut,
                cause=rng.choice((27, 34, 38, 41)) if cut else 16,
                ended_by=rng.choice(("caller", "agent", "transfer")) if not cut else "agent",
                agent_released_short=rng.random() < 0.02,
                **extra,
            )
            yield CallFinished(rec)
            last_by_agent[answerer] = rec.id
            iface, name = agent_interface(answerer), f"Agent {answerer}"
            yield MemberStateChanged(q, iface, name, "wrapup", "in_call", None, at + 200)
            yield MemberStateChanged(q, iface, name, "available", "wrapup", None, at + 215)
            if rng.random() < 0.7:
                yield OutcomeReported(
                    rec.uniqueid,
                    rec.linkedid,
                    iface,
                    rng.choice(("sale", "resolved", "follow_up", "no_sale", "bogus")),
                    rng.random() < 0.8,
                    "notes" if rng.random() < 0.85 else "",
                    rng.choice((None, 1.0, 5.0)),
                    at + 220,
                )
        elif roll < 0.93:
            wait = rng.expovariate(1 / 20)
            kind = "short" if wait < 10 else "long"
            yield CallFinished(record(cid, q, outcome="abandoned", wait=wait, at=at, exit_reason=kind))
        else:
            reason = rng.choice(("timeout", "empty", "key", "withdraw", "redirect"))
            yield CallFinished(record(cid, q, outcome="exited", wait=60.0, at=at, exit_reason=reason))
        if n % 5000 == 4999:
            yield Anomaly("unknown_channel", "Hangup", "synthetic", at)
            yield MemberSession("pause", q, agent_interface(a), f"Agent {a}", "lunch", at)
    yield GapRecorded(start + 43200, start + 43230, "disconnect", 3)


def synthetic_snapshot(
    *, agents: int = 500, queues: int = 20, seed: int = 1, at: float = 0.0
) -> LiveSnapshot:
    """A busy moment: every queue with callers waiting, agents spread over the live states."""
    rng = random.Random(seed)
    names = [f"q{i:02d}" for i in range(queues)]
    people = []
    per_queue: dict[str, dict[MemberState, int]] = {q: {} for q in names}
    for a in range(agents):
        state = rng.choice(_LIVE_STATES)
        mine = (names[a % queues], names[(a + 7) % queues])
        people.append(
            AgentLive(
                agent_interface(a),
                f"Agent {a}",
                state,
                mine,
                paused_reason="lunch" if state == "paused" else None,
            )
        )
        for q in mine:
            per_queue[q][state] = per_queue[q].get(state, 0) + 1
    return LiveSnapshot(
        at=at,
        queues=tuple(QueueLive(q, rng.randrange(0, 12), rng.uniform(0, 120), per_queue[q]) for q in names),
        agents=tuple(people),
    )


class FixedKpiSource:
    """A KpiSource that returns the same KPIs every time (benchmarks, dashboard checks)."""

    def __init__(self, kpis: Kpis) -> None:
        self.kpis = kpis

    async def compute(self, now: float) -> Kpis:
        return replace(self.kpis, at=now)


def synthetic_kpis(*, agents: int = 500, queues: int = 20, seed: int = 1, at: float = 0.0) -> Kpis:
    """Plausible window KPIs for every queue and agent of the synthetic call center."""
    rng = random.Random(seed)

    def windows() -> dict[str, WindowKpi]:
        out = {}
        for w in WINDOWS:
            repeat = rng.uniform(0.05, 0.3)
            answered = rng.randrange(50, 5000)
            sales = rng.randrange(0, answered // 5 + 1)
            out[w] = WindowKpi(
                answered=answered,
                service_level=rng.uniform(0.6, 0.95),
                repeat_contact_ratio=repeat,
                fcr=1 - repeat,
                cutoff_ratio=rng.uniform(0, 0.05),
                notes_completeness=rng.uniform(0.5, 1.0),
                resolved_ratio=rng.uniform(0.4, 0.9),
                dispositions={"sale": sales, "resolved": answered // 2, "none": answered // 10},
                credit={"own_call": sales * 4.0, "original": 10.0, "closer": 10.0, "intermediate": 0.0},
                credit_disputed=rng.randrange(0, 3),
            )
        return out

    return Kpis(
        at=at,
        queues={f"q{i:02d}": windows() for i in range(queues)},
        agents={f"Agent {a}": windows() for a in range(agents)},
    )


async def sample_metrics(
    settings: Settings, *, agents: int = 40, queues: int = 4, calls: int = 3000
) -> Metrics:
    """A Metrics with every family populated: a synthetic day of effects, a live snapshot, window
    KPIs, health calls (AMI up, events, DB writes) and one routing decision of each reason."""
    snap = synthetic_snapshot(agents=agents, queues=queues)
    m = Metrics(settings, live=lambda: snap, db_backlog=lambda: 12)
    for effect in synthetic_day(agents=agents, queues=queues, calls=calls):
        m.observe(effect)
    for i, reason in enumerate(sorted(AFFINITY_RESULTS)):
        queue = f"q{i % queues:02d}"
        m.observe(
            AffinityDecided(
                f"9{i}.1",
                f"9{i}.1",
                (f"9{i}.1",),
                queue,
                "queue",
                reason,
                i % 2 == 1,
                None,
                None,
                None,
                "",
                0.0,
                0.0,
            )
        )
    for result in ("agent", "queue", "ping", "bad_request"):
        m.observe_lookup(result, 0.002)
    m.set_ami_timestamps(True)
    m.set_ami_connected(True)
    for name in ("Newchannel", "Hangup", "QueueCallerJoin", "Bogus"):
        m.count_event(name)
    m.handler_error("consumer")
    m.observe_db_write(0.004, 100)
    m.registry.register(DurabilityCollector(lambda: sample_writer_stats()))
    sample_pipeline(m)
    refresher = KpiRefresher(FixedKpiSource(synthetic_kpis(agents=agents, queues=queues)))
    m.attach_kpis(refresher)
    await refresher.refresh_once()
    center = KpiRefresher(FixedKpiSource(synthetic_kpis(agents=agents, queues=queues)))
    m.attach_center_kpis(center, lambda: True)  # this node holds the kpi lock
    await center.refresh_once()
    return m


def sample_pipeline(m: Metrics) -> None:
    """A consumer with events waiting and a timestamped event handled, and an AMI session with a
    problem of every kind: every pipeline series."""
    from acd.ami.connection import AmiStats
    from acd.consumer import Consumer
    from acd.metrics.pipeline import PipelineMetrics

    consumer = Consumer(
        lambda headers, at: [],
        lambda headers, received: received,
        lambda effects: None,
        count_event=lambda name, n: None,
        on_marker=lambda item, received: None,
        on_error=lambda headers, exc: None,
    )
    consumer.put({"Event": "Newchannel"}, 0.0)
    consumer.asterisk_lag = 0.004
    stats = AmiStats(anomalies=2, handler_errors=1, auth_failures=3, ping_timeouts=1, action_timeouts=4)
    pipeline = PipelineMetrics(m.registry, consumer, lambda: stats, lambda: 2, asterisk_clock=True)
    pipeline.lag.observe(0.003)


def sample_writer_stats() -> WriterStats:
    """A writer with records waiting on disk and in memory, some dropped: every durability series."""
    from acd.store.journal import JournalStats
    from acd.store.writer import WriterStats

    journal = JournalStats(
        depth=120, on_disk=100, in_memory_only=20, bytes=123_456, dropped=3, commits=900, failures=4,
        state="disk_full", last_commit_seconds=0.002,
    )  # fmt: skip
    return WriterStats(
        backlog=120, spooled=100, written=5000, failures=2, writes=40, write_seconds_total=1.5,
        last_write_seconds=0.01, database_ok=True, journal=journal,
    )  # fmt: skip
