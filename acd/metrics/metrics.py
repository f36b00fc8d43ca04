"""Counters and histograms fed by the core's effects: volume, quality and daemon health.

The daemon's consumer calls :meth:`Metrics.observe` for every effect, so it is built to be cheap:
one dispatch on the effect type, per-queue label children created once and cached, no string
formatting and no allocation beyond what prometheus_client does per ``inc``. Live state (waiting
callers, agent states) is not mirrored here: :class:`acd.metrics.live.LiveCollector` reads the
core's snapshot at scrape time, so nothing goes stale.

Counting rules (the dashboards and alerts rely on them):

- A queue entry is counted when it finishes (``CallFinished``), so for every queue
  ``offered == answered + abandoned + exited`` at any scrape.
- Personal affinity queues (``acd-agent-*``) are never a ``queue`` label. Their entries are folded
  into the customer call's shared queue when it is known (an earlier entry with the same Linkedid,
  or the queue of the cut-off call being called back): an answered personal entry counts as an
  answered call of that shared queue; one that timed out is not counted as volume, because the
  caller goes on to the shared queue and is counted there. Both feed the affinity wait histogram.
- Service level, as ``acd report`` defines it: answered within the queue's threshold over offered
  minus short abandons: ``acd_calls_answered_in_sl_total / (acd_calls_offered_total -
  acd_calls_abandoned_total{kind="short"})``.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from acd.core.effects import (
    AffinityDecided,
    Anomaly,
    CallFinished,
    CallRecord,
    CallStarted,
    Effect,
    GapRecorded,
    MemberSession,
    MemberStateChanged,
    OutcomeReported,
    ResyncDone,
    WithdrawRequested,
)
from acd.core.live import LiveSnapshot
from acd.metrics.health import HealthCollector
from acd.metrics.kpi import KpiCollector, KpiRefresher
from acd.metrics.labels import OTHER, LabelCap, cause_class, is_personal_queue
from acd.metrics.live import LiveCollector
from acd.metrics.routing import RoutingMetrics
from acd.settings import QueueSettings, Settings

__all__ = ["AFFINITY_RESULTS", "EXIT_REASONS", "Metrics"]

EXIT_REASONS: frozenset[str] = frozenset({"timeout", "empty", "key", "withdraw", "redirect"})
AFFINITY_RESULTS: frozenset[str] = frozenset(
    {
        "original_agent",
        "fallback_busy_timeout",
        "fallback_unavailable",
        "fallback_no_answer",
        "no_history",
        "ineligible",
        "abandoned",
    }
)
ENDED_BY: frozenset[str] = frozenset({"caller", "agent", "transfer", "system"})
SESSION_KINDS: frozenset[str] = frozenset({"login", "logout", "pause", "unpause"})

_WAIT_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)
_TALK_BUCKETS = (10.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0)
_WRAPUP_BUCKETS = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0)
_AFFINITY_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)
_DB_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


_V = TypeVar("_V")


def _buckets(base: Iterable[float], extra: Iterable[float]) -> tuple[float, ...]:
    return tuple(sorted({float(b) for b in (*base, *extra) if b > 0}))


def _queue_settings(settings: Settings) -> list[QueueSettings]:
    return [settings.queue_defaults, *(settings.queue(name) for name in settings.queues)]


class _Bounded(dict[str, _V]):
    """An insertion-ordered map that forgets its oldest entries beyond ``limit``, and, given a clock,
    those remembered before a time (:meth:`expire`): what metrics remember about calls must stop
    growing once its window is full, whatever the center's call rate."""

    def __init__(self, limit: int, clock: Callable[[], float] | None = None) -> None:
        super().__init__()
        self.limit = limit
        self._clock = clock
        self._born: dict[str, float] = {}

    def remember(self, key: str, value: _V) -> None:
        if key in self:
            del self[key]
            self._born.pop(key, None)
        elif len(self) >= self.limit:
            oldest = next(iter(self))
            del self[oldest]
            self._born.pop(oldest, None)
        self[key] = value
        if self._clock is not None:
            self._born[key] = self._clock()

    def expire(self, before: float) -> None:
        born = self._born
        while born:
            key = next(iter(born))
            if born[key] >= before:
                return
            del born[key]
            self.pop(key, None)


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


class _Recent:
    """What metrics must remember about recent calls to attribute later effects (bounded)."""

    __slots__ = ("agent", "agent_interface", "original_agent", "queue")

    def __init__(self, queue: str | None, agent: str | None, agent_interface: str | None) -> None:
        self.queue = queue
        self.agent = agent
        self.agent_interface = agent_interface
        self.original_agent: str | None = None


class Metrics:
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
        recent_calls: int = 50_000,
        memory_seconds: float | None = None,
    ) -> None:
        self.settings = settings
        # ``*_created`` series double the exposition (and the scrape's time in the loop) for a value
        # no dashboard or alert reads; prometheus_client only offers this process-wide switch.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        self.per_agent = self.settings.metrics_per_agent
        self.caps: dict[str, LabelCap] = {
            "queue": LabelCap(max_queues),
            "agent": LabelCap(self.settings.metrics_max_agents),
            "pause_reason": LabelCap(30),
            "gap_reason": LabelCap(20),
            "anomaly": LabelCap(50),
        }
        self._dispositions = frozenset(self.settings.dispositions)
        qsets = _queue_settings(self.settings)
        wait_buckets = _buckets(
            _WAIT_BUCKETS,
            [q.service_level_seconds for q in qsets] + [q.short_abandon_seconds for q in qsets],
        )
        wrapup_buckets = _buckets(_WRAPUP_BUCKETS, [q.wrapup_seconds for q in qsets])
        affinity_buckets = _buckets(_AFFINITY_BUCKETS, [q.affinity_wait_seconds for q in qsets])
        reg = self.registry

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, labels, registry=reg)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(name, doc, labels, registry=reg)

        # Volume
        self.calls_offered = counter("acd_calls_offered", "Queue entries finished (offered)", ("queue",))
        self.calls_answered = counter("acd_calls_answered", "Queue entries answered by an agent", ("queue",))
        self.calls_answered_in_sl = counter(
            "acd_calls_answered_in_sl",
            "Answered within the queue's service-level threshold (wait from first arrival)",
            ("queue",),
        )
        self.calls_abandoned = counter(
            "acd_calls_abandoned", "Callers who hung up while waiting, short or long", ("queue", "kind")
        )
        self.calls_exited = counter(
            "acd_calls_exited",
            "Callers who left the queue otherwise (timeout, empty, key, ...)",
            ("queue", "reason"),
        )
        self.calls_ended = counter(
            "acd_calls_ended", "Answered calls by the side that ended them", ("queue", "ended_by")
        )
        self.calls_partial = counter(
            "acd_calls_partial", "Calls acd did not see whole (attached mid-call, gap, restart)", ("queue",)
        )
        self.wait_seconds = Histogram(
            "acd_call_wait_seconds",
            "Time from first arrival to answer or leaving, by outcome",
            ("queue", "outcome"),
            buckets=wait_buckets,
            registry=reg,
        )
        self.talk_seconds = Histogram(
            "acd_call_talk_seconds",
            "Talk time of answered calls",
            ("queue",),
            buckets=_TALK_BUCKETS,
            registry=reg,
        )
        self.wrapup_seconds = Histogram(
            "acd_agent_wrapup_seconds",
            "Time agents spent in wrap-up after a call",
            ("queue",),
            buckets=wrapup_buckets,
            registry=reg,
        )
        self.sl_threshold = gauge(
            "acd_queue_service_level_threshold_seconds", "Configured service-level threshold", ("queue",)
        )
        self.sl_target = gauge("acd_queue_service_level_target_ratio", "Configured SL target", ("queue",))

        # Quality
        self.cutoffs = counter(
            "acd_cutoffs",
            "Answered calls cut off, by the side cut and the Q.850 cause class",
            ("queue", "side", "cause_class"),
        )
        self.calls_agent_released_short = counter(
            "acd_calls_agent_released_short", "Answered calls the agent ended quickly", ("queue",)
        )
        self.calls_repeat = counter(
            "acd_calls_repeat", "Calls from a caller key seen within the repeat window", ("queue",)
        )
        self.calls_callback = counter(
            "acd_calls_callback", "Calls that are callbacks of an earlier cut-off", ("queue",)
        )
        self.callback_results = counter(
            "acd_callback_results",
            "How callbacks ended: answered by the original agent, by another agent, or not answered",
            ("queue", "result"),
        )
        self.affinity_decisions = counter(
            "acd_affinity_decisions",
            "Callback routing decisions by reason; mode=shadow: decided and recorded, not acted on",
            ("queue", "reason", "mode"),
        )
        self.affinity_wait_seconds = Histogram(
            "acd_affinity_wait_seconds",
            "Time a callback waited for its preferred agent, by what happened",
            ("queue", "result"),
            buckets=affinity_buckets,
            registry=reg,
        )
        self.dispositions = counter(
            "acd_dispositions",
            "Call outcomes by disposition (configured list; others: other)",
            ("queue", "disposition"),
        )
        self.outcomes = counter("acd_outcomes", "Call outcomes reported", ("queue",))
        self.outcomes_notes_empty = counter(
            "acd_outcomes_notes_empty", "Call outcomes reported without notes", ("queue",)
        )
        self.outcomes_resolved = counter(
            "acd_outcomes_resolved", "Call outcomes by resolved yes/no/unknown", ("queue", "resolved")
        )
        self.credit_points = counter(
            "acd_credit_points",
            "Sale points by attribution: own call, or a callback's original agent / closer",
            ("attribution",),
        )

        # Agents (sessions always; identities only when per-agent series are on)
        self.member_sessions = counter("acd_member_sessions", "Agent logins, logouts, pauses", ("kind",))
        self.pauses = counter("acd_pauses", "Agent pauses by reason (bounded)", ("reason",))
        if self.per_agent:
            self.agent_answered = counter("acd_agent_calls_answered", "Calls answered, per agent", ("agent",))
            self.agent_talk = counter("acd_agent_talk_seconds", "Talk seconds, per agent", ("agent",))
            self.agent_cutoffs = counter(
                "acd_agent_cutoffs", "Cut-off calls, per agent and side cut", ("agent", "side")
            )
            self.agent_released_short = counter(
                "acd_agent_released_short_calls", "Short agent-released calls, per agent", ("agent",)
            )
            self.agent_outcomes = counter("acd_agent_outcomes", "Outcomes reported, per agent", ("agent",))
            self.agent_notes_empty = counter(
                "acd_agent_notes_empty", "Outcomes without notes, per agent", ("agent",)
            )
            self.agent_credit = counter(
                "acd_agent_credit_points", "Sale points credited, per agent", ("agent", "attribution")
            )
            self.agent_callbacks = counter(
                "acd_agent_callbacks_received",
                "Callbacks answered, per agent, by whether they were the original agent",
                ("agent", "original"),
            )

        # Health
        self.ami_up = gauge("acd_ami_up", "1 while logged in to AMI and fully booted")
        self.ami_reconnects = counter("acd_ami_reconnects", "AMI reconnections")
        self.ami_timestamps = gauge(
            "acd_ami_timestamps",
            "1 when AMI events carry Asterisk's Timestamp (timestampevents=yes), 0 when acd times "
            "them on receipt (then a stall in acd shifts every event read after it)",
        )
        self.resyncs = counter("acd_resyncs", "Resyncs with Asterisk (QueueStatus + CoreShowChannels)")
        self.gaps = counter("acd_gaps", "Times acd could not see Asterisk, by reason", ("reason",))
        self.gap_seconds = counter("acd_gap_seconds", "Seconds acd could not see Asterisk")
        self.gap_calls = counter("acd_gap_calls_reconciled", "Calls reconciled after a gap")
        self.anomalies = counter("acd_anomalies", "Expected oddities in the event stream", ("kind",))
        self.db_write_seconds = Histogram(
            "acd_db_write_seconds", "Duration of one database write batch", buckets=_DB_BUCKETS, registry=reg
        )
        self.db_rows_written = counter("acd_db_rows_written", "Rows written to the database")
        self.effects = counter("acd_effects", "Effects observed, by type", ("type",))
        build = gauge("acd_build_info", "acd version and Python version", ("version", "python"))
        build.labels(version or _version(), platform.python_version()).set(1)

        self.health = HealthCollector(self.caps, db_backlog)
        reg.register(self.health)
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
        # What metrics remember about calls, to attribute later effects (outcomes, callbacks, the
        # shared queue of a personal leg): bounded in count, and forgotten after ``memory_seconds``
        # of event time (default: the longest callback/repeat window, at least a day).
        self._now = 0.0
        self._observed = 0
        self.memory_seconds = (
            memory_seconds
            if memory_seconds is not None
            else max(
                86400.0,
                self.settings.repeat_window_seconds,
                *(q.callback_window_seconds for q in _queue_settings(self.settings)),
            )
        )
        clock = self._event_now
        self._recent: _Bounded[_Recent] = _Bounded(recent_calls, clock)
        self._linked_queue: _Bounded[str] = _Bounded(recent_calls, clock)
        self._linked_call: _Bounded[str] = _Bounded(recent_calls, clock)  # linkedid -> latest answered entry
        # linkedid -> arrival of a personal-queue entry the caller left unanswered: the shared entry
        # that follows counts its wait from there (Asterisk's HoldTime restarts in each queue).
        # The affinity wait is observed under the shared queue, known only once the caller gets there.
        self._personal_joined: _Bounded[tuple[float, float | None]] = _Bounded(recent_calls, clock)
        self._unresolved: _Bounded[CallRecord] = _Bounded(1000)  # answered, shared queue not yet known
        self._agent_names: _Bounded[str] = _Bounded(max(4 * self.settings.metrics_max_agents, 1000))
        self._wrapup_since: dict[tuple[str, str], float] = {}
        self._effect_children: dict[type[Any], Any] = {
            t: self.effects.labels(t.__name__)
            for t in (
                CallStarted,
                CallFinished,
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
        self._dispatch: dict[type[Any], Callable[[Any], None]] = {
            CallFinished: self._call_finished,
            CallStarted: self._call_started,
            MemberStateChanged: self._member_state,
            MemberSession: self._member_session,
            OutcomeReported: self._outcome,
            GapRecorded: self._gap,
            ResyncDone: self._resync,
            Anomaly: self._anomaly,
            AffinityDecided: self._affinity_decided,
            WithdrawRequested: lambda effect: None,  # counted in acd_effects_total only
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
            refresher, per_agent=self.per_agent, agent_cap=self.caps["agent"], queue_cap=self.caps["queue"]
        )
        self.registry.register(self._kpi_collector)

    def render(self, snapshot: LiveSnapshot | None) -> bytes:
        """The text exposition, with ``snapshot`` as the live state. Safe in a worker thread: it
        reads prometheus_client's values under their locks and never calls into the core."""
        with self.live.using(snapshot):
            return bytes(generate_latest(self.registry))

    def observe(self, effect: Effect) -> None:
        """Count one effect. Unknown effect types are ignored (a newer core must not break metrics)."""
        handler = self._dispatch.get(type(effect))
        if handler is not None:
            at = effect.record.ended_at if isinstance(effect, CallFinished) else getattr(effect, "at", None)
            if at is not None and at > self._now:
                self._now = at
            self._effect_children[type(effect)].inc()
            handler(effect)
            self._observed += 1
            if self._observed % 1000 == 0:
                self._expire()

    def count_event(self, name: str, n: int = 1) -> None:
        """Count AMI events by name (hot path: one dict increment)."""
        self.health.count_event(name, n)

    def handler_error(self, handler: str) -> None:
        """Count an exception caught in a handler (``handler``: a code-defined name, bounded)."""
        self.health.handler_error(handler)

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
    def _queue_label(
        self, queue: str, linkedid: str | None = None, callback_of: str | None = None
    ) -> str | None:
        """The queue label for a queue name: personal queues folded into the shared one, or None."""
        if is_personal_queue(queue):
            shared = self._linked_queue.get(linkedid) if linkedid else None
            if shared is None and callback_of is not None:
                recent = self._recent.get(callback_of)
                shared = recent.queue if recent is not None else None
            return shared
        return self.caps["queue"](queue)

    def _series(self, label: str) -> _QueueSeries:
        series = self._queues.get(label)
        if series is None:
            qs = self.settings.queue(label) if label in self.settings.queues else self.settings.queue_defaults
            series = self._queues[label] = _QueueSeries(self, label, qs)
        return series

    def _agent_label(self, interface: str | None, name: str | None) -> str | None:
        if not (interface or name):
            return None
        display = name or self._agent_names.get(interface or "") or interface or ""
        return self.caps["agent"](display)

    def _remember(self, call_id: str, recent: _Recent) -> None:
        self._recent.remember(call_id, recent)

    def _event_now(self) -> float:
        return self._now

    def _expire(self) -> None:
        before = self._now - self.memory_seconds
        for memory in (self._recent, self._linked_queue, self._linked_call, self._personal_joined):
            memory.expire(before)

    # ----------------------------------------------------------------- effect handlers
    def _call_started(self, effect: CallStarted) -> None:
        if not is_personal_queue(effect.queue):
            self._resolve_linked(effect.linkedid, self.caps["queue"](effect.queue))

    def _affinity_decided(self, effect: AffinityDecided) -> None:
        """Count the decision (``mode=shadow`` when it was only recorded, so an operator can compare
        before enabling); routing names the shared queue a caller asked for, so personal legs of
        that call fold into it."""
        if is_personal_queue(effect.queue):
            return
        label = self.caps["queue"](effect.queue)
        reason = effect.reason if effect.reason in AFFINITY_RESULTS else OTHER
        self.affinity_decisions.labels(label, reason, "shadow" if effect.shadow else "live").inc()
        for key in (effect.linkedid, effect.uniqueid):
            if key:
                self._resolve_linked(key, label)

    def _resolve_linked(self, linkedid: str, label: str) -> None:
        """The customer call's shared queue is now known: count what waited for it."""
        self._linked_queue.remember(linkedid, label)
        pending = self._personal_joined.get(linkedid)
        if pending is not None and pending[1] is not None:
            self.affinity_wait_seconds.labels(label, "fallback").observe(pending[1])
            self._personal_joined[linkedid] = (pending[0], None)
        rec = self._unresolved.pop(linkedid, None)
        if rec is None:
            return
        if rec.wait_seconds is not None:
            self.affinity_wait_seconds.labels(label, "answered").observe(rec.wait_seconds)
        recent = self._recent.get(rec.id)
        if recent is None:
            recent = _Recent(label, rec.agent_name or rec.agent, rec.agent)
        recent.queue = label
        agent = self._agent_label(rec.agent, rec.agent_name) if self.per_agent else None
        self._count_volume(rec, self._series(label), label, recent, agent, rec.wait_seconds)

    def _call_finished(self, effect: CallFinished) -> None:
        rec = effect.record
        personal = is_personal_queue(rec.queue)
        label = self._queue_label(rec.queue, rec.linkedid, rec.callback_of)
        if rec.agent and rec.agent_name:
            self._agent_names.remember(rec.agent, rec.agent_name)
        agent = self._agent_label(rec.agent, rec.agent_name) if self.per_agent else None
        recent = _Recent(label, rec.agent_name or rec.agent, rec.agent)
        if rec.callback_of is not None:
            original = self._recent.get(rec.callback_of)
            recent.original_agent = original.agent if original is not None else None
        self._remember(rec.id, recent)
        if not personal and label is not None:
            self._linked_queue.remember(rec.linkedid, label)
        if rec.outcome == "answered":
            self._linked_call.remember(rec.linkedid, rec.id)
        wait = rec.wait_seconds
        if personal:
            if rec.outcome != "answered":
                if label is not None and wait is not None:
                    self.affinity_wait_seconds.labels(label, "fallback").observe(wait)
                pending = None if label is not None else wait
                self._personal_joined.remember(rec.linkedid, (rec.joined_at, pending))
                return
            if label is None:  # counted once the customer call's shared queue is known
                self._unresolved.remember(rec.linkedid, rec)
                return
            if wait is not None:
                self.affinity_wait_seconds.labels(label, "answered").observe(wait)
        else:
            first = self._personal_joined.pop(rec.linkedid, None)
            if first is not None:
                if first[1] is not None and label is not None:
                    self.affinity_wait_seconds.labels(label, "fallback").observe(first[1])
                if rec.joined_at >= first[0] and wait is not None:
                    wait += rec.joined_at - first[0]
        if label is None:
            return
        self._count_volume(rec, self._series(label), label, recent, agent, wait)

    def _count_volume(
        self,
        rec: CallRecord,
        s: _QueueSeries,
        label: str,
        recent: _Recent,
        agent: str | None,
        wait: float | None,
    ) -> None:
        """Count one leg; ``wait`` runs from the customer call's first arrival (affinity wait included)."""
        s.offered.inc()
        if rec.partial:
            s.partial.inc()
        if rec.repeat_of is not None:
            s.repeats.inc()
        if rec.callback_of is not None:
            s.callbacks.inc()
        outcome = rec.outcome
        if outcome == "answered":
            s.answered.inc()
            if wait is not None:  # unknown (adopted): out of ASA and service level
                s.wait["answered"].observe(wait)
            s.talk.observe(rec.talk_seconds)
            if wait is not None and wait <= s.settings.service_level_seconds:
                s.answered_in_sl.inc()
            s.ended[rec.ended_by if rec.ended_by is not None else "unknown"].inc()
            side = rec.ended_by if rec.ended_by is not None else "unknown"
            if rec.cut_off:
                klass = cause_class(rec.cause, rec.partial, rec.agent_released_short)
                self.cutoffs.labels(label, side, klass).inc()
            if rec.agent_released_short:
                s.agent_released_short.inc()
            if agent is not None:
                self.agent_answered.labels(agent).inc()
                self.agent_talk.labels(agent).inc(rec.talk_seconds)
                if rec.cut_off:
                    self.agent_cutoffs.labels(agent, side).inc()
                if rec.agent_released_short:
                    self.agent_released_short.labels(agent).inc()
            if rec.callback_of is not None:
                self._callback_answered(label, recent, agent)
        elif outcome == "abandoned":
            short = wait is not None and wait < s.settings.short_abandon_seconds  # by the leg's wait
            (s.abandoned_short if short else s.abandoned_long).inc()
            if wait is not None:
                s.wait["abandoned"].observe(wait)
            if rec.callback_of is not None:
                self.callback_results.labels(label, "abandoned").inc()
        else:
            reason = rec.exit_reason if rec.exit_reason in EXIT_REASONS else OTHER
            s.exited[reason or OTHER].inc()
            if wait is not None:
                s.wait["exited"].observe(wait)
            if rec.callback_of is not None:
                self.callback_results.labels(label, "exited").inc()

    def _callback_answered(self, label: str, recent: _Recent, agent: str | None) -> None:
        if recent.original_agent is None:
            result = "original_unknown"
        elif recent.original_agent == recent.agent:
            result = "original_agent"
        else:
            result = "other_agent"
        self.callback_results.labels(label, result).inc()
        if agent is not None and result != "original_unknown":
            self.agent_callbacks.labels(agent, "yes" if result == "original_agent" else "no").inc()

    def _member_state(self, effect: MemberStateChanged) -> None:
        if is_personal_queue(effect.queue):
            return
        self._agent_names.remember(effect.agent, effect.name)
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
        # The outcome names a channel (its first entry's id) or a customer call (Linkedid): the
        # entry it is about is the latest answered entry of that customer call when there is one.
        recent = None
        if effect.linkedid is not None:
            latest = self._linked_call.get(effect.linkedid)
            recent = self._recent.get(latest) if latest is not None else None
        if recent is None and effect.call_uniqueid is not None:
            recent = self._recent.get(effect.call_uniqueid)
        label = recent.queue if recent is not None else None
        if label is None and effect.linkedid is not None:
            label = self._linked_queue.get(effect.linkedid)
        label = label if label is not None else "unknown"
        disposition = effect.disposition if effect.disposition in self._dispositions else None
        self.dispositions.labels(label, disposition or (OTHER if effect.disposition else "none")).inc()
        self.outcomes.labels(label).inc()
        empty = not (effect.notes and effect.notes.strip())
        if empty:
            self.outcomes_notes_empty.labels(label).inc()
        resolved = "unknown" if effect.resolved is None else ("yes" if effect.resolved else "no")
        self.outcomes_resolved.labels(label, resolved).inc()
        closer_name = recent.agent if recent is not None else None
        if closer_name is None and effect.agent is not None:
            closer_name = self._agent_names.get(effect.agent, effect.agent)
        if self.per_agent and closer_name is not None:
            closer = self.caps["agent"](closer_name)
            self.agent_outcomes.labels(closer).inc()
            if empty:
                self.agent_notes_empty.labels(closer).inc()
        if effect.points:
            original = recent.original_agent if recent is not None else None
            self._credit(effect.points, original, closer_name)

    def _credit(self, points: float, original: str | None, closer: str | None) -> None:
        shares: list[tuple[str, str | None, float]]
        if original is None or original == closer:
            shares = [("own", closer, points)]
        elif self.settings.credit_policy == "original":
            shares = [("original", original, points)]
        elif self.settings.credit_policy == "closer":
            shares = [("closer", closer, points)]
        else:
            shares = [("original", original, points / 2), ("closer", closer, points / 2)]
        for attribution, who, amount in shares:
            self.credit_points.labels(attribution).inc(amount)
            if self.per_agent and who is not None:
                self.agent_credit.labels(self.caps["agent"](who), attribution).inc(amount)

    def _gap(self, effect: GapRecorded) -> None:
        self.gaps.labels(self.caps["gap_reason"](effect.reason)).inc()
        if effect.started_at is not None and effect.ended_at > effect.started_at:
            self.gap_seconds.inc(effect.ended_at - effect.started_at)
        if effect.calls_reconciled > 0:
            self.gap_calls.inc(effect.calls_reconciled)

    def _resync(self, effect: ResyncDone) -> None:
        self.resyncs.inc()

    def _anomaly(self, effect: Anomaly) -> None:
        self.anomalies.labels(self.caps["anomaly"](effect.kind)).inc()


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("acd")
    except Exception:
        return "unknown"
