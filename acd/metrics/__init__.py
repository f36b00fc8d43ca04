"""Prometheus metrics for acd: effect counters, live state at scrape time, cached window KPIs.

The daemon builds one :class:`Metrics` (its own registry), calls ``observe(effect)`` for each effect,
``count_event(name)`` for each AMI event, attaches the live snapshot and DB backlog callables, starts a
:class:`KpiRefresher` and serves :func:`metrics_route`.
"""

from acd.metrics.http import metrics_route
from acd.metrics.kpi import WINDOWS, KpiRefresher, Kpis, KpiSource, WindowKpi
from acd.metrics.metrics import Metrics

__all__ = ["WINDOWS", "KpiRefresher", "KpiSource", "Kpis", "Metrics", "WindowKpi", "metrics_route"]
