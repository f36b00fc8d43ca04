"""Every metric family acd exports, declared once, on a registry of its own (never the process-global
one): names, help texts, labels and buckets. What updates them is :class:`acd.metrics.metrics.Metrics`;
the dashboards and alerts read them by these names."""

from __future__ import annotations

import platform
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from acd.settings import QueueSettings, Settings

__all__ = ["Families", "queue_settings"]

_WAIT_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)
_TALK_BUCKETS = (10.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0)
_WRAPUP_BUCKETS = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0)
_AFFINITY_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)
_DB_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _buckets(base: Iterable[float], extra: Iterable[float]) -> tuple[float, ...]:
    return tuple(sorted({float(b) for b in (*base, *extra) if b > 0}))


def queue_settings(settings: Settings) -> list[QueueSettings]:
    return [settings.queue_defaults, *(settings.queue(name) for name in settings.queues)]


class Families:
    """The families, as attributes; per-agent ones only when ``metrics_per_agent`` is on. Wait,
    wrap-up and affinity histograms get each queue's own thresholds as bucket bounds, so service
    level and short abandons can be read from the buckets exactly."""

    def __init__(self, settings: Settings, *, version: str | None = None) -> None:
        self.settings = settings
        self.per_agent = settings.metrics_per_agent
        # ``*_created`` series double the exposition (and the scrape's time in the loop) for a value
        # no dashboard or alert reads; prometheus_client only offers this process-wide switch.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        qsets = queue_settings(self.settings)
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
        self.outcome_writes = counter(
            "acd_outcome_writes", "Call outcomes written (API, pages or the dialplan's UserEvent)"
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
        self.gap_queue_log = counter(
            "acd_gap_queue_log_reads",
            "Gaps filled from Asterisk's queue_log, by result: read, or unreadable (the calls that "
            "began or ended in that gap may be missing)",
            ("result",),
        )
        self.gap_calls_filled = counter(
            "acd_gap_calls_from_queue_log",
            "Calls of gaps queue_log told about: recovered (acd saw nothing of them) or merged "
            "(closed or completed with what queue_log said)",
            ("how",),
        )
        # From the start at zero: the alert on an unreadable queue_log must see the first one.
        for result in ("read", "unreadable"):
            self.gap_queue_log.labels(result)
        for how in ("recovered", "merged"):
            self.gap_calls_filled.labels(how)
        self.anomalies = counter("acd_anomalies", "Expected oddities in the event stream", ("kind",))
        self.db_write_seconds = Histogram(
            "acd_db_write_seconds", "Duration of one database write batch", buckets=_DB_BUCKETS, registry=reg
        )
        self.db_rows_written = counter("acd_db_rows_written", "Rows written to the database")
        self.effects = counter("acd_effects", "Effects observed, by type", ("type",))
        self.history_lag = Histogram(
            "acd_history_lag_seconds",
            "From another acd process committing a call to this core knowing it (shared history)",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=reg,
        )
        build = gauge("acd_build_info", "acd version and Python version", ("version", "python"))
        build.labels(version or _version(), platform.python_version()).set(1)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("acd")
    except Exception:
        return "unknown"
