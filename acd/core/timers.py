"""The core's timers: decisions that settle when time passes without news. Pure: time is given.

A timer is (when, kind, key); it fires once ``now`` reaches ``when``. Kinds: ``exit`` (a caller
who left the queue: abandoned, exited or answered?), ``finish`` (a completed call's grace for its
last hang-ups), ``complete`` (an adopted call all hung up, waiting for its AgentComplete),
``wrapup`` (an agent's wrap-up ends). A timer whose subject moved on meanwhile does nothing.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Literal

__all__ = ["TimerKind", "Timers"]

TimerKind = Literal["exit", "finish", "complete", "wrapup"]


class Timers:
    __slots__ = ("_seq", "heap")

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, TimerKind, str]] = []  # (when, seq, kind, key)
        self._seq = 0

    def __len__(self) -> int:
        return len(self.heap)

    def at(self, when: float, kind: TimerKind, key: str) -> None:
        self._seq += 1
        heapq.heappush(self.heap, (when, self._seq, kind, key))

    def due(self, now: float) -> Iterator[tuple[TimerKind, str]]:
        """Pop every timer due by ``now``, earliest first (ones added while iterating included)."""
        heap = self.heap
        while heap and heap[0][0] <= now:
            _, _, kind, key = heapq.heappop(heap)
            yield kind, key

    def rekey(self, old: str, new: str) -> None:
        """A subject changed its key: its timers fire for the new one too."""
        for when, _, kind, key in list(self.heap):
            if key == old:
                self.at(when, kind, new)
