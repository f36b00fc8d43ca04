"""Counters and histograms fed by the core's effects: volume, quality and daemon health.

The daemon's consumer calls :meth:`Metrics.observe` for every effect, so it is built to be cheap:
one dispatch on the effect type, per-queue label children created once and cached, no string
formatting and no allocation beyond what prometheus_client does per ``inc``. Live state (waiting
callers, agent states) is not mirrored here: :class:`acd.metrics.live.LiveCollector` reads the
core's snapshot at scrape time, so nothing goes stale.

Counting rules (the dashboards and alerts rely on them):

- Metrics keep no model of calls: the core's customer-call stage (acd/core/customer.py) says, once
  per queue entry (``LegSettled``), where it counts: its shared queue (a personal affinity queue is
  never a ``queue`` label), whether it is a leg of its own, its wait from the customer call's first
  arrival, and for a callback whether the original rep took it. Counters count those, once; so for
  every queue ``offered == answered + abandoned + exited`` at any scrape.
- An unanswered personal-queue entry whose caller went on to the shared queue is no leg: its wait is
  in the next leg's, and it feeds the affinity wait histogram only. A wait Asterisk never told (a
  call adopted in a resync) is left out of the wait histogram and of service level.
- Service level, as ``acd report`` defines it: answered within the queue's threshold over offered
  minus short abandons: ``acd_calls_answered_in_sl_total / (acd_calls_offered_total -
  acd_calls_abandoned_total{kind="short"})``.
- What outcomes decide (dispositions, notes completeness, resolved, sales credit) changes after the
  fact (a re-post, a supervisor's adjustment), so it is never a counter: the window KPIs read it
  from the database (acd/metrics/kpi.py, acd/reads/summary.py). Outcome writes are counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import (
    generate_latest,
)

from acd.core.affinity import REASONS
from acd.core.definitions import is_personal_queue
from acd.core.effects import (
    AffinityDecided,
    Anomaly,
    CallFinished,
    CallStarted,
    CustomerCallUpdated,
    Effect,
    GapRecorded,
    LegSettled,
    MemberSession,
    MemberStateChanged,
    OutcomeReported,
    ResyncDone,
    WithdrawRequested,
)
from acd.core.live import LiveSnapshot
from acd.metrics.exposition import Exposition
from acd.metrics.families import Families
from acd.metrics.ha import HaCollector, HaState
from acd.metrics.health import HealthCollector
from acd.metrics.kpi import KpiCollector, KpiRefresher
from acd.metrics.labels import OTHER, LabelCap, cause_class
from acd.metrics.live import LiveCollector
from acd.metrics.routing import RoutingMetrics
from acd.settings import QueueSettings, Settings

__all__ = ["AFFINITY_RESULTS", "EXIT_REASONS", "Metrics"]

EXIT_REASONS: frozenset[str] = frozenset({"timeout", "empty", "key", "withdraw", "redirect"})
# A routing decision's final reason: the core's, or abandoned when the caller hung up first.
AFFINITY_RESULTS: frozenset[str] = frozenset({*REASONS, "abandoned"})
ENDED_BY: frozenset[str] = frozenset({"caller", "agent", "transfer", "system"})
SESSION_KINDS: frozenset[str] = frozenset({"login", "logout", "pause", "unpause"})


class _QueueSeries:
    """The label children of one queue, bound once so the hot path is a dict lookup and an inc."""

    __slots__ = (
        "abandoned_long",
        "abandoned_short",
        "agent_released_short",
        "answered",
        "answered_in_sl",
        "callbacks",
        "ended",
        "exited",
        "offered",
        "partial",
        "repeats",
        "settings",
        "talk",
        "wait",
    )

    def __init__(self, m: Metrics, queue: str, qs: QueueSettings) -> None:
        self.settings = qs
        self.offered = m.calls_offered.labels(queue)
        self.answered = m.calls_answered.labels(queue)
        self.answered_in_sl = m.calls_answered_in_sl.labels(queue)
        self.abandoned_short = m.calls_abandoned.labels(queue, "short")
        self.abandoned_long = m.calls_abandoned.labels(queue, "long")
        self.exited = {r: m.calls_exited.labels(queue, r) for r in (*EXIT_REASONS, OTHER)}
        self.ended = {e: m.calls_ended.labels(queue, e) for e in (*ENDED_BY, "unknown")}
        self.wait = {o: m.wait_seconds.labels(queue, o) for o in ("answered", "abandoned", "exited")}
        self.talk = m.talk_seconds.labels(queue)
        self.repeats = m.calls_repeat.labels(queue)
        self.callbacks = m.calls_callback.labels(queue)
        self.agent_released_short = m.calls_agent_released_short.labels(queue)
        self.partial = m.calls_partial.labels(queue)
        m.sl_threshold.labels(queue).set(qs.service_level_seconds)
        m.sl_target.labels(queue).set(qs.service_level_target)
        # Rare series exist at zero from the queue's first call on: a series that appears already
        # at 1 hides its first observation from increase()/rate().
        for result in ("answered", "fallback"):
            m.affinity_wait_seconds.labels(queue, result)


class Metrics(Families):
    """acd's Prometheus metrics on a registry of their own (never the process-global one).

    ``live`` is called at scrape time for the live-state families (``lambda: core.live(clock())``);
    ``db_backlog`` returns the number of records waiting for the database. Both can also be attached
    later with :meth:`attach_live` / :meth:`attach_db_backlog` when the daemon builds them after this.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        live: Callable[[], LiveSnapshot] | None = None,
        db_backlog: Callable[[], int] | None = None,
        version: str | None = None,
        max_queues: int = 200,
    ) -> None:
        super().__init__(settings, version=version)
        # Every series says its server and this node's role; a standby shows only its health.
        self.role = "leader"
        self.exposition = Exposition(self.registry, settings.server_id, lambda: self.role)
        self.caps: dict[str, LabelCap] = {
            "queue": LabelCap(max_queues),
            "agent": LabelCap(self.settings.metrics_max_agents),
            "pause_reason": LabelCap(30),
            "gap_reason": LabelCap(20),
            "anomaly": LabelCap(50),
        }

        reg = self.registry
        self.health = HealthCollector(self.caps, db_backlog)
        reg.register(self.health)
        # Leadership (acd/ha): a sole node leads until the daemon attaches its leadership.
        sole = HaState(
            node="", leader=True, heartbeat_age=0.0, takeovers=0, stalls=0, failures=0, kpi_exporter=True
        )
        self.ha = HaCollector(lambda: sole)
        reg.register(self.ha)
        self.routing = RoutingMetrics(reg)
        self.live = LiveCollector(
            live,
            per_agent=self.per_agent,
            agent_cap=self.caps["agent"],
            queue_cap=self.caps["queue"],
        )
        reg.register(self.live)

        self._kpi_collector: KpiCollector | None = None
        self._queues: dict[str, _QueueSeries] = {}
        self._wrapup_since: dict[tuple[str, str], float] = {}
        self._effect_children: dict[type[Any], Any] = {
            t: self.effects.labels(t.__name__)
            for t in (
                CallStarted,
                CallFinished,
                CustomerCallUpdated,
                LegSettled,
                MemberStateChanged,
                MemberSession,
                OutcomeReported,
                GapRecorded,
                ResyncDone,
                Anomaly,
                AffinityDecided,
                WithdrawRequested,
            )
        }
        ignore: Callable[[Any], None] = lambda _effect: None  # noqa: E731 - counted by type only
        self._dispatch: dict[type[Any], Callable[[Any], None]] = {
            LegSettled: self._leg,
            MemberStateChanged: self._member_state,
            MemberSession: self._member_session,
            OutcomeReported: self._outcome,
            GapRecorded: self._gap,
            ResyncDone: self._resync,
            Anomaly: self._anomaly,
            AffinityDecided: self._affinity_decided,
            WithdrawRequested: ignore,  # counted in acd_effects_total only
            CallStarted: ignore,
            CallFinished: ignore,
            CustomerCallUpdated: ignore,
        }

    # ----------------------------------------------------------------- hookups the daemon calls
    def attach_live(self, live: Callable[[], LiveSnapshot] | None) -> None:
        """Set the snapshot source read at scrape time (``lambda: core.live(clock())``)."""
        self.live.source = live

    def attach_db_backlog(self, backlog: Callable[[], int] | None) -> None:
        """Set the callable returning the database writer's backlog (memory queue + spool)."""
        self.health.db_backlog = backlog

    def attach_kpis(self, refresher: KpiRefresher) -> None:
        """Export a refresher's cached window KPIs (once; the daemon starts and stops the refresher)."""
        if self._kpi_collector is not None:
            raise RuntimeError("window KPIs are already attached")
        self._kpi_collector = KpiCollector(
            refresher,
            per_agent=self.per_agent,
            agent_cap=self.caps["agent"],
            queue_cap=self.caps["queue"],
            dispositions=frozenset(self.settings.dispositions),
        )
        self.registry.register(self._kpi_collector)

    def attach_center_kpis(self, refresher: KpiRefresher, active: Callable[[], bool]) -> None:
        """Export the center's window KPIs (every server sharing the database) beside this
        server's, with scope="center", while ``active()`` (this node holds the "kpi" lock)."""
        collector = KpiCollector(
            refresher,
            per_agent=self.per_agent,
            agent_cap=self.caps["agent"],
            queue_cap=self.caps["queue"],
            dispositions=frozenset(self.settings.dispositions),
        )
        self.exposition.center = lambda: collector.collect() if active() else ()

    def render(self, snapshot: LiveSnapshot | None) -> bytes:
        """The text exposition, with ``snapshot`` as the live state. Safe in a worker thread: it
        reads prometheus_client's values under their locks and never calls into the core."""
        with self.live.using(snapshot):
            return bytes(generate_latest(self.exposition))

    def observe(self, effect: Effect) -> None:
        """Count one effect. Unknown effect types are ignored (a newer core must not break metrics)."""
        handler = self._dispatch.get(type(effect))
        if handler is not None:
            self._effect_children[type(effect)].inc()
            handler(effect)

    def count_event(self, name: str, n: int = 1) -> None:
        """Count AMI events by name (hot path: one dict increment)."""
        self.health.count_event(name, n)

    def handler_error(self, handler: str) -> None:
        """Count an exception caught in a handler (``handler``: a code-defined name, bounded)."""
        self.health.handler_error(handler)

    def attach_ha(self, state: Callable[[], HaState]) -> None:
        """Read the node's leadership at scrape time (acd.metrics.ha)."""
        self.ha.state = state

    def set_role(self, role: str) -> None:
        """This node leads its server ("leader") or stands by ("standby": health only)."""
        self.role = role

    def set_ami_connected(self, up: bool) -> None:
        self.ami_up.set(1 if up else 0)

    def ami_reconnected(self) -> None:
        self.ami_reconnects.inc()

    def set_ami_timestamps(self, on: bool) -> None:
        self.ami_timestamps.set(1 if on else 0)

    def observe_lookup(self, result: str, seconds: float) -> None:
        """One routing lookup answered (called from the lookup's threads)."""
        self.routing.observe_lookup(result, seconds)

    def observe_db_write(self, seconds: float, rows: int) -> None:
        """One database batch written: its duration and row count."""
        self.db_write_seconds.observe(seconds)
        self.db_rows_written.inc(rows)

    # ----------------------------------------------------------------- labels
    def _series(self, label: str) -> _QueueSeries:
        series = self._queues.get(label)
        if series is None:
            qs = self.settings.queue(label) if label in self.settings.queues else self.settings.queue_defaults
            series = self._queues[label] = _QueueSeries(self, label, qs)
        return series

    def _agent_label(self, interface: str | None, name: str | None) -> str | None:
        if not (interface or name):
            return None
        return self.caps["agent"](name or interface or "")

    # ----------------------------------------------------------------- effect handlers
    def _affinity_decided(self, effect: AffinityDecided) -> None:
        """Count the decision (``mode=shadow`` when it was only recorded, so an operator can compare
        before enabling)."""
        if is_personal_queue(effect.queue):
            return
        label = self.caps["queue"](effect.queue)
        reason = effect.reason if effect.reason in AFFINITY_RESULTS else OTHER
        self.affinity_decisions.labels(label, reason, "shadow" if effect.shadow else "live").inc()

    def _leg(self, effect: LegSettled) -> None:
        """One queue entry, counted once where the core says it counts (module docstring)."""
        rec = effect.record
        if is_personal_queue(effect.queue):
            return  # its shared queue was never learned: no queue label to count it under
        label = self.caps["queue"](effect.queue)
        s = self._series(label)
        wait = effect.wait_seconds
        if is_personal_queue(rec.queue) and rec.wait_seconds is not None:
            result = "answered" if rec.outcome == "answered" else "fallback"
            self.affinity_wait_seconds.labels(label, result).observe(rec.wait_seconds)
        if not effect.counted:
            return
        agent = self._agent_label(rec.agent, rec.agent_name) if self.per_agent else None
        s.offered.inc()
        if rec.partial:
            s.partial.inc()
        if rec.repeat_of is not None:
            s.repeats.inc()
        if rec.callback_of is not None:
            s.callbacks.inc()
            if effect.callback_result is not None:
                self.callback_results.labels(label, effect.callback_result).inc()
        outcome = rec.outcome
        if outcome == "answered":
            s.answered.inc()
            if wait is not None:  # unknown (adopted): out of ASA and service level
                s.wait["answered"].observe(wait)
                if wait <= s.settings.service_level_seconds:
                    s.answered_in_sl.inc()
            s.talk.observe(rec.talk_seconds)
            side = rec.ended_by if rec.ended_by is not None else "unknown"
            s.ended[side].inc()
            short = rec.agent_released_short and not rec.cut_off
            if rec.cut_off:
                klass = cause_class(rec.cause, rec.partial, "agent_released_short" in rec.cut_off_reasons)
                self.cutoffs.labels(label, side, klass).inc()
            if short:
                s.agent_released_short.inc()
            if agent is not None:
                self.agent_answered.labels(agent).inc()
                self.agent_talk.labels(agent).inc(rec.talk_seconds)
                if rec.cut_off:
                    self.agent_cutoffs.labels(agent, side).inc()
                if short:
                    self.agent_released_short.labels(agent).inc()
                if effect.callback_result in ("original_agent", "other_agent"):
                    original = "yes" if effect.callback_result == "original_agent" else "no"
                    self.agent_callbacks.labels(agent, original).inc()
        elif outcome == "abandoned":
            short = wait is not None and wait < s.settings.short_abandon_seconds  # by the leg's wait
            (s.abandoned_short if short else s.abandoned_long).inc()
            if wait is not None:
                s.wait["abandoned"].observe(wait)
        else:
            reason = rec.exit_reason if rec.exit_reason in EXIT_REASONS else OTHER
            s.exited[reason or OTHER].inc()
            if wait is not None:
                s.wait["exited"].observe(wait)

    def _member_state(self, effect: MemberStateChanged) -> None:
        if is_personal_queue(effect.queue):
            return
        key = (effect.queue, effect.agent)
        if effect.state == "wrapup":
            self._wrapup_since[key] = effect.at
            return
        since = self._wrapup_since.pop(key, None)
        if since is not None and effect.at >= since:
            label = self.caps["queue"](effect.queue)
            self.wrapup_seconds.labels(label).observe(effect.at - since)

    def _member_session(self, effect: MemberSession) -> None:
        if is_personal_queue(effect.queue):
            return
        self.member_sessions.labels(effect.kind if effect.kind in SESSION_KINDS else OTHER).inc()
        if effect.kind == "pause":
            self.pauses.labels(self.caps["pause_reason"](effect.reason or "none")).inc()
        elif effect.kind == "logout":
            self._wrapup_since.pop((effect.queue, effect.agent), None)

    def _outcome(self, effect: OutcomeReported) -> None:
        self.outcome_writes.inc()

    def _gap(self, effect: GapRecorded) -> None:
        self.gaps.labels(self.caps["gap_reason"](effect.reason)).inc()
        if effect.started_at is not None and effect.ended_at > effect.started_at:
            self.gap_seconds.inc(effect.ended_at - effect.started_at)
        if effect.calls_reconciled > 0:
            self.gap_calls.inc(effect.calls_reconciled)
        if effect.queue_log in ("read", "unreadable"):
            self.gap_queue_log.labels(effect.queue_log).inc()
        if effect.calls_recovered:
            self.gap_calls_filled.labels("recovered").inc(effect.calls_recovered)
        if effect.calls_merged:
            self.gap_calls_filled.labels("merged").inc(effect.calls_merged)

    def _resync(self, effect: ResyncDone) -> None:
        self.resyncs.inc()

    def _anomaly(self, effect: Anomaly) -> None:
        self.anomalies.labels(self.caps["anomaly"](effect.kind)).inc()
