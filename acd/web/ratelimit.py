"""Sign-in attempts per client address, in a sliding minute.

Tokens are long random strings, so guessing is slow anyway; the limit keeps a script from trying
thousands a second and keeps the logs small. In memory only: a restart forgives, which is fine
for a limit measured in seconds. The table is bounded so a flood of addresses cannot grow it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

__all__ = ["AttemptLimiter"]


class AttemptLimiter:
    def __init__(
        self, per_minute: int, clock: Callable[[], float], *, window: float = 60.0, max_keys: int = 10_000
    ) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.window = window
        self.max_keys = max_keys
        self._seen: dict[str, deque[float]] = {}

    def attempt(self, key: str) -> float:
        """Count an attempt from ``key``: 0 when allowed, else the seconds until the next one is."""
        now = self.clock()
        times = self._seen.get(key)
        if times is None:
            if len(self._seen) >= self.max_keys:
                self._prune(now)
            times = self._seen.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.per_minute:
            return times[0] + self.window - now
        times.append(now)
        return 0.0

    def _prune(self, now: float) -> None:
        for key in [k for k, t in self._seen.items() if not t or t[-1] <= now - self.window]:
            del self._seen[key]
        while len(self._seen) >= self.max_keys:  # all active: forget the oldest
            del self._seen[next(iter(self._seen))]
