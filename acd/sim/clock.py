"""Simulated time: a heap of timers in simulated seconds, advanced by the simulator's clock edge.

Nothing here reads a clock: ``run_due(t)`` fires what is due up to ``t`` in order, so a manual
test clock, a sped-up run and a max-speed run all go through the same code.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any


class Timer:
    __slots__ = ("args", "cancelled", "fn", "when")

    def __init__(self, when: float, fn: Callable[..., None], args: tuple[Any, ...]):
        self.when = when
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    """Timers in simulated seconds. ``run_due(t)`` fires everything due up to ``t`` in order."""

    def __init__(self, now: float):
        self.now = now
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()

    def at(self, when: float, fn: Callable[..., None], *args: Any) -> Timer:
        t = Timer(max(when, self.now), fn, args)
        heapq.heappush(self._heap, (t.when, next(self._seq), t))
        return t

    def after(self, delay: float, fn: Callable[..., None], *args: Any) -> Timer:
        return self.at(self.now + max(delay, 0.0), fn, *args)

    def next_time(self) -> float | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def run_due(self, until: float) -> int:
        n = 0
        while self._heap and self._heap[0][0] <= until:
            when, _, t = heapq.heappop(self._heap)
            if t.cancelled:
                continue
            self.now = max(self.now, when)
            t.fn(*t.args)
            n += 1
        self.now = max(self.now, until)
        return n

    def clear(self) -> None:
        self._heap.clear()
