"""The daemon's one clock (DESIGN.md, One clock).

Event time is Asterisk's ``Timestamp`` header when present, else the time the event was read.
Between events the clock runs at ``speed`` times the wall clock from the last stamp it saw: when the
simulator runs 60x faster and stamps events in simulated time, timers (wrap-ups, holds, windows)
follow simulated time, and a sped-up run produces the same records as a real-time one. Bounds that
protect real callers (the FastAGI deadline) use the wall clock, never this.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

__all__ = ["EventClock"]


class EventClock:
    def __init__(self, speed: float = 1.0, wall: Callable[[], float] = time.time) -> None:
        self.speed = speed
        self._wall = wall
        start = wall()
        self._anchor_event = start
        self._anchor_wall = start
        self._last = start

    def now(self) -> float:
        """Current time in event time; never goes backwards."""
        t = self._anchor_event + (self._wall() - self._anchor_wall) * self.speed
        if t < self._last:
            return self._last
        self._last = t
        return t

    def stamp(self, headers: Mapping[str, str], received_wall: float) -> float:
        """Event time for one event read at ``received_wall``."""
        raw = headers.get("Timestamp")
        if raw:
            try:
                t = float(raw)
            except ValueError:
                t = None
            if t is not None:
                self._anchor_event, self._anchor_wall = t, received_wall
                if t < self._last:
                    t = self._last
                self._last = t
                return t
        t = self._anchor_event + (received_wall - self._anchor_wall) * self.speed
        if t < self._last:
            t = self._last
        self._last = t
        return t
