"""Reconnect delays: exponential, jittered, bounded. Pure: no clock, no sleeping.

Why jitter: when Asterisk restarts, every client it had (acd, dashboards, dialers) reconnects at
once; spreading the attempts keeps them from arriving in lock-step on a PBX that is still booting.
Why a floor: ``reconnect_min`` is the quickest retry the operator allows, so no jitter goes below
it, and ``reconnect_max`` is a hard cap, so a long outage is noticed within that many seconds of
its end.

A wrong secret is not a network fault: it gets its own slow, fixed delay (``auth_retry``) so a
bad credential never turns into a tight loop of refused logins in Asterisk's security log.
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["Backoff"]


class Backoff:
    """Delay before the n-th consecutive failed attempt: ``min * 2**n`` capped at ``max``, with
    equal jitter (a uniform draw from the upper half of that step), never below ``min``.

    ``uniform`` is injectable so tests can pin the draw.
    """

    __slots__ = ("_failures", "_uniform", "maximum", "minimum")

    def __init__(
        self,
        minimum: float,
        maximum: float,
        *,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        if minimum <= 0 or maximum < minimum:
            raise ValueError(f"need 0 < minimum <= maximum, got {minimum!r}, {maximum!r}")
        self.minimum = float(minimum)
        self.maximum = float(maximum)
        self._uniform = uniform
        self._failures = 0

    @property
    def failures(self) -> int:
        return self._failures

    def reset(self) -> None:
        """A connection proved stable: the next failure starts again from ``minimum``."""
        self._failures = 0

    def ceiling(self) -> float:
        """The un-jittered delay for the next attempt."""
        # 2**n overflows float only past n ~ 1000; cap the exponent long before that.
        step = self.minimum * (2.0 ** min(self._failures, 60))
        return min(self.maximum, step)

    def next_delay(self) -> float:
        """Delay before the next attempt; counts one more failure."""
        top = self.ceiling()
        self._failures += 1
        delay = self._uniform(top / 2.0, top)
        return min(self.maximum, max(self.minimum, delay))
