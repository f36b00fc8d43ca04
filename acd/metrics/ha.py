"""Leadership metrics, read at scrape time from the daemon's leadership (acd/ha).

- ``acd_leader{node}``: 1 while this node leads its server, 0 on a standby. Per server, the sum
  over nodes is 1; 0 means no node leads ("no leader"), more than 1 that two nodes believe they
  lead (the fence keeps the deposed one from acting, but it should not last).
- ``acd_leader_heartbeat_age_seconds``: since the leader's last heartbeat that confirmed its lock
  (a leader steps down past ``ACD_HA__STEP_DOWN_SECONDS``).
- ``acd_takeovers_total``: leaderships this node took from a node that had not released the lock
  (it died, stalled or lost the database); ``acd_stepdowns_total{reason}``: why this node stopped
  leading; ``acd_fenced_total{what}``: actions and writes refused because this node no longer led;
  ``acd_stalls_total``: times its loop resumed from a stall; ``acd_leadership_failures_total``:
  failed heartbeats and lock attempts; ``acd_kpi_exporter``: 1 on the one node exporting the
  center-wide KPIs (the holder of the ``kpi`` lock).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["FENCED", "STEPDOWN_REASONS", "HaCollector", "HaState"]

STEPDOWN_REASONS = ("lost_lock", "heartbeat_late", "connection_lost", "ami_lost", "stopping")
FENCED = ("ami_action", "decision")


@dataclass(frozen=True, slots=True)
class HaState:
    node: str
    leader: bool
    heartbeat_age: float | None
    takeovers: int
    stalls: int
    failures: int
    kpi_exporter: bool
    stepdowns: Mapping[str, int] = field(default_factory=dict)
    fenced: Mapping[str, int] = field(default_factory=dict)


class HaCollector(Collector):
    def __init__(self, state: Callable[[], HaState]) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        s = self.state()
        leader = GaugeMetricFamily(
            "acd_leader", "1 while this node leads its server (0: standby)", labels=["node"]
        )
        leader.add_metric([s.node], 1.0 if s.leader else 0.0)
        yield leader
        if s.heartbeat_age is not None:
            yield GaugeMetricFamily(
                "acd_leader_heartbeat_age_seconds",
                "Seconds since the leader's last heartbeat confirmed its lock",
                value=s.heartbeat_age,
            )
        yield CounterMetricFamily(
            "acd_takeovers", "Leaderships taken from a node that had not released the lock", value=s.takeovers
        )
        stepdowns = CounterMetricFamily(
            "acd_stepdowns", "Times this node stopped leading, by reason", labels=["reason"]
        )
        for reason in STEPDOWN_REASONS:
            stepdowns.add_metric([reason], float(s.stepdowns.get(reason, 0)))
        yield stepdowns
        fenced = CounterMetricFamily(
            "acd_fenced", "Actions and writes refused because this node no longer led", labels=["what"]
        )
        for what in FENCED:
            fenced.add_metric([what], float(s.fenced.get(what, 0)))
        yield fenced
        yield CounterMetricFamily("acd_stalls", "Times this node's loop resumed from a stall", value=s.stalls)
        yield CounterMetricFamily(
            "acd_leadership_failures", "Failed leadership heartbeats and lock attempts", value=s.failures
        )
        yield GaugeMetricFamily(
            "acd_kpi_exporter",
            "1 on the one node that exports the center-wide KPIs (holder of the kpi lock)",
            value=1.0 if s.kpi_exporter else 0.0,
        )
