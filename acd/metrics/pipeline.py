"""Whether acd keeps up with Asterisk and whether its AMI session is healthy, read at scrape time.

The operator's questions:
- is the consumer keeping up? ``acd_event_queue_depth`` (events read and not yet handled),
  ``acd_event_queue_oldest_seconds`` (how long the oldest of them has waited),
  ``acd_event_handling_lag_seconds`` (receipt to handling, sampled once per consumer batch, so a
  stall between two scrapes still shows) and ``acd_event_asterisk_lag_seconds`` (Asterisk's own
  ``Timestamp`` to handling: network, Asterisk's write queue and acd together; exported only when
  events carry a Timestamp and acd runs at speed 1, where Asterisk's clock is the wall clock);
- what goes wrong on the AMI session? ``acd_ami_problems_total`` by kind, from the client's own
  counters (wire anomalies, handler errors, refused logins, Ping and action timeouts), and
  ``acd_resync_failures_total`` (a resync that did not complete; retried with back-off).

Everything but the histogram is read from the consumer and the AMI client when Prometheus scrapes,
so none of it costs the event path anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from acd.ami.connection import AmiStats
    from acd.consumer import Consumer

__all__ = ["AMI_PROBLEMS", "PipelineMetrics"]

LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# kind label -> the AmiStats counter it reads
AMI_PROBLEMS: dict[str, str] = {
    "wire_anomaly": "anomalies",
    "handler_error": "handler_errors",
    "login_failure": "auth_failures",
    "ping_timeout": "ping_timeouts",
    "action_timeout": "action_timeouts",
}


class PipelineMetrics(Collector):
    """Registers itself and the handling-lag histogram on ``registry``; the daemon builds one."""

    def __init__(
        self,
        registry: CollectorRegistry,
        consumer: Consumer,
        ami_stats: Callable[[], AmiStats],
        resync_failures: Callable[[], int],
        *,
        asterisk_clock: bool,
    ) -> None:
        self.consumer = consumer
        self.ami_stats = ami_stats
        self.resync_failures = resync_failures
        self.asterisk_clock = asterisk_clock
        self.lag = Histogram(
            "acd_event_handling_lag_seconds",
            "Receipt to handling of AMI events, sampled once per consumer batch (its oldest event)",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        consumer.lag_observer = self.lag.observe
        registry.register(self)

    def describe(self) -> Iterator[Metric]:
        return iter(())  # the Asterisk lag exists only once a Timestamp was seen

    def collect(self) -> Iterator[Metric]:
        consumer = self.consumer
        depth = GaugeMetricFamily("acd_event_queue_depth", "AMI events read and not yet handled")
        depth.add_metric([], len(consumer.queue))
        yield depth
        oldest = GaugeMetricFamily(
            "acd_event_queue_oldest_seconds", "How long the oldest event not yet handled has waited"
        )
        oldest.add_metric([], consumer.oldest_wait())
        yield oldest
        if self.asterisk_clock and consumer.asterisk_lag is not None:
            lag = GaugeMetricFamily(
                "acd_event_asterisk_lag_seconds",
                "Asterisk's event Timestamp to handling, for the last timestamped event handled",
            )
            lag.add_metric([], consumer.asterisk_lag)
            yield lag
        stats = self.ami_stats()
        problems = CounterMetricFamily(
            "acd_ami_problems",
            "Problems on the AMI session by kind: malformed wire data, handler exceptions, refused "
            "logins, unanswered Pings and actions",
            labels=["kind"],
        )
        for kind, field in AMI_PROBLEMS.items():
            problems.add_metric([kind], getattr(stats, field))
        yield problems
        failures = CounterMetricFamily(
            "acd_resync_failures", "Resyncs that did not complete (each is retried with back-off)"
        )
        failures.add_metric([], self.resync_failures())
        yield failures
