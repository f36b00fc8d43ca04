"""Which reps stand apart from their team: Tukey's fences (1.5 times the interquartile range).

A supervisor's page marks them so a look starts there; it is a way to read the report's numbers,
not a number of its own. Quartiles by linear interpolation (as numpy's default and spreadsheets'
QUARTILE.INC); fewer than four reps make no fences, since a quartile of three means little.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["fences", "outside"]

MIN_TEAM = 4


def _quantile(ordered: Sequence[float], q: float) -> float:
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def fences(values: Sequence[float]) -> tuple[float, float] | None:
    """(low, high): values outside are outliers; None for a team too small to tell."""
    if len(values) < MIN_TEAM:
        return None
    ordered = sorted(values)
    q1, q3 = _quantile(ordered, 0.25), _quantile(ordered, 0.75)
    spread = q3 - q1
    return q1 - 1.5 * spread, q3 + 1.5 * spread


def outside(values: Mapping[str, float | None]) -> dict[str, str]:
    """name -> "high" or "low" for the names whose value lies outside the team's fences (names
    without a value are neither counted nor marked)."""
    known = {name: v for name, v in values.items() if v is not None}
    bounds = fences(list(known.values()))
    if bounds is None:
        return {}
    low, high = bounds
    marks = {}
    for name, value in known.items():
        if value > high:
            marks[name] = "high"
        elif value < low:
            marks[name] = "low"
    return marks
