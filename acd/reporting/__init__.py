"""``acd report``: per-queue and per-agent numbers over a period, from acd's own records."""

from acd.reporting.compute import Report, compute_report
from acd.reporting.load import load_report

__all__ = ["Report", "compute_report", "load_report"]
