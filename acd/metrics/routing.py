"""Metrics of the routing lookup, updated from the lookup's own threads.

prometheus_client's counters and histograms take a lock per update, so the lookup threads may
update them directly; the results are a fixed set (any other is counted as ``other``), so a flood
of odd requests cannot grow the series.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["LOOKUP_RESULTS", "RoutingMetrics"]

# agent/queue: answered with a decision; ping: acd check; the rest answered "shared queue", unrecorded
# (not_leading: an HA node that may not act answered between losing its lock and closing its port)
LOOKUP_RESULTS = (
    "agent",
    "queue",
    "ping",
    "bad_request",
    "overload",
    "unknown_queue",
    "not_leading",
    "empty",
    "unsent",
)
_LOOKUP_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class RoutingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.lookups = Counter(
            "acd_routing_lookups",
            "Routing lookups from Asterisk's CURL(), by result (agent/queue: decided; the others "
            "were answered 'shared queue' and not recorded)",
            ("result",),
            registry=registry,
        )
        self.lookup_seconds = Histogram(
            "acd_routing_lookup_seconds",
            "From accepting a lookup to its answer being sent, as acd sees it",
            buckets=_LOOKUP_BUCKETS,
            registry=registry,
        )
        self._children = {r: self.lookups.labels(r) for r in (*LOOKUP_RESULTS, "other")}

    def observe_lookup(self, result: str, seconds: float) -> None:
        self._children.get(result, self._children["other"]).inc()
        if result not in ("empty", "unsent"):
            self.lookup_seconds.observe(seconds)
