"""Live call-center state, read from the core's snapshot when Prometheus scrapes.

Gauges set on every state change go stale: an agent who logs off keeps a series at its last value
until the process restarts. Reading ``Core.live(now)`` at scrape time (as prometheus_client's own
process collector reads /proc) exports exactly who is there now, and costs nothing between scrapes.
While acd is out of step with Asterisk (AMI down, not yet resynced) nothing live is exported.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import get_args

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from acd.core.effects import MemberState
from acd.core.live import LiveSnapshot
from acd.metrics.labels import OTHER, LabelCap, is_personal_queue

__all__ = ["MEMBER_STATES", "LiveCollector"]

MEMBER_STATES: tuple[str, ...] = get_args(MemberState)

log = structlog.get_logger("acd.metrics.live")


class LiveCollector(Collector):
    """Custom collector: callers waiting, longest wait and agents by state, per queue, now."""

    def __init__(
        self,
        source: Callable[[], LiveSnapshot] | None,
        *,
        per_agent: bool,
        agent_cap: LabelCap,
        queue_cap: LabelCap,
    ) -> None:
        self.source = source
        self.per_agent = per_agent
        self._agent_cap = agent_cap
        self._queue_cap = queue_cap
        self.errors = 0
        self._local = threading.local()

    def take(self) -> LiveSnapshot | None:
        """Take the snapshot now (in the loop that owns the core). None when there is no source or
        it failed: a broken snapshot is counted and logged, and must not fail the whole scrape."""
        if self.source is None:
            return None
        try:
            return self.source()
        except Exception:
            self.errors += 1
            log.exception("live_snapshot_failed", errors=self.errors)
            return None

    @contextlib.contextmanager
    def using(self, snapshot: LiveSnapshot | None) -> Iterator[None]:
        """Within this block, collections on this thread export ``snapshot`` instead of calling the
        source: the snapshot is taken in the loop and rendered in a worker thread, which must never
        touch the core's mutable state."""
        self._local.snapshot = snapshot
        self._local.active = True
        try:
            yield
        finally:
            self._local.active = False
            self._local.snapshot = None

    def describe(self) -> Iterator[Metric]:
        # Declared up front so the registry knows the names without calling the source.
        yield from self._families()

    def _families(self) -> tuple[GaugeMetricFamily, ...]:
        waiting = GaugeMetricFamily(
            "acd_queue_callers_waiting", "Callers waiting in the queue now", labels=["queue"]
        )
        longest = GaugeMetricFamily(
            "acd_queue_longest_wait_seconds", "Wait of the longest-waiting caller now", labels=["queue"]
        )
        agents = GaugeMetricFamily(
            "acd_queue_agents", "Agents in the queue by state now", labels=["queue", "state"]
        )
        total = GaugeMetricFamily("acd_agents", "Agents by state now, each counted once", labels=["state"])
        families = [waiting, longest, agents, total]
        if self.per_agent:
            families.append(
                GaugeMetricFamily(
                    "acd_agent_state", "1 for each present agent's current state", labels=["agent", "state"]
                )
            )
        return tuple(families)

    def collect(self) -> Iterator[Metric]:
        if getattr(self._local, "active", False):
            snap: LiveSnapshot | None = self._local.snapshot
        else:
            snap = self.take()
        # While acd is not in step with Asterisk (AMI down, or reconnected and not yet resynced)
        # the live families are absent, not frozen: a dead PBX must not look busy on a wallboard
        # or feed an alert. They return with the resync.
        if snap is not None and snap.in_sync:
            yield from self._export(snap)
        yield self._error_family()

    def _export(self, snap: LiveSnapshot) -> Iterator[Metric]:
        families = self._families()
        waiting, longest, agents, total = families[:4]
        seen: dict[str, tuple[int, float, dict[str, int]]] = {}
        state: str
        queue_cap = self._queue_cap
        for q in snap.queues:
            if is_personal_queue(q.name):
                continue
            label = queue_cap(q.name)
            count, wait, states = seen.get(label, (0, 0.0, {}))
            for state, n in q.agents_by_state.items():
                states[state] = states.get(state, 0) + n
            seen[label] = (count + q.waiting, max(wait, q.longest_wait_seconds), states)
        for label, (count, wait, states) in seen.items():
            waiting.add_metric([label], count)
            longest.add_metric([label], wait)
            for state in MEMBER_STATES:
                agents.add_metric([label, state], states.get(state, 0))
        by_state: dict[str, int] = dict.fromkeys(MEMBER_STATES, 0)
        for a in snap.agents:
            by_state[a.state] = by_state.get(a.state, 0) + 1
        for state, n in by_state.items():
            total.add_metric([state], n)
        if self.per_agent:
            per_agent = families[4]
            cap = self._agent_cap
            folded: dict[tuple[str, str], int] = {}
            for a in snap.agents:
                key = (cap(a.name or a.agent), a.state)
                folded[key] = folded.get(key, 0) + 1
            for (agent, state), n in folded.items():
                # 'other' sums the agents beyond the cap; a named agent is always 1.
                per_agent.add_metric([agent, state], n if agent == OTHER else 1)
        yield from families

    def _error_family(self) -> CounterMetricFamily:
        return CounterMetricFamily(
            "acd_live_snapshot_errors", "Scrapes where the live snapshot could not be read", value=self.errors
        )
