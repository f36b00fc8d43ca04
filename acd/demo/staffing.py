"""How many reps a call rate needs: Erlang C, as workforce planners size a queue.

Why: a demo staffed by guesswork shows a center drowning (8 reps for 12 Erlangs of work answered
a quarter of calls in time) or idle. The demo asks for the fewest reps whose expected service level
reaches the target, so its figures look like a center that is run by someone.
"""

from __future__ import annotations

import math

__all__ = ["erlang_c", "reps_for", "service_level"]


def erlang_c(load: float, reps: int) -> float:
    """Probability that a caller waits at all, for ``load`` Erlangs offered to ``reps`` servers."""
    if reps <= load:
        return 1.0
    term = 1.0  # load**k / k!, built up without overflow
    below = 1.0
    for k in range(1, reps):
        term *= load / k
        below += term
    top = term * load / reps * reps / (reps - load)
    return top / (below + top)


def service_level(rate_per_min: float, handle_seconds: float, reps: int, threshold: float) -> float:
    """Expected share of callers answered within ``threshold`` seconds (no abandons assumed, so a
    slight underestimate: impatient callers leave and lighten the load)."""
    if rate_per_min <= 0:
        return 1.0
    load = rate_per_min / 60.0 * handle_seconds
    if reps <= load:
        return 0.0
    waits = erlang_c(load, reps)
    return 1.0 - waits * math.exp(-(reps - load) * threshold / handle_seconds)


def reps_for(rate_per_min: float, handle_seconds: float, threshold: float, target: float) -> int:
    """The fewest reps whose expected service level reaches ``target`` (at least 2)."""
    reps = 2
    while service_level(rate_per_min, handle_seconds, reps, threshold) < target:
        reps += 1
    return reps
