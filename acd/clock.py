"""The daemon's one clock (docs/architecture.md, "One clock").

Event time is Asterisk's ``Timestamp`` header when present, else the time the event was read.
Between events the clock runs at ``speed`` times the wall clock from the last stamp it saw: when the
simulator runs 60x faster and stamps events in simulated time, timers (wrap-ups, holds, windows)
follow simulated time, and a sped-up run produces the same records as a real-time one. Bounds that
protect real callers (the routing lookup's bound) use the wall clock, never this.

Event times never go backwards, and neither does :meth:`now`; but the two are kept apart, so that
reading ``now()`` between events (ticks, scrapes) never pushes the next event's time forward.
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
        self._last_event = start
        self._last_now = start
        self._stamped = False

    def now(self) -> float:
        """Current time in event time; never goes backwards."""
        t = self._anchor_event + (self._wall() - self._anchor_wall) * self.speed
        t = max(t, self._last_event, self._last_now)
        self._last_now = t
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
                # The first stamp sets the clock, even backwards: Asterisk's (or the simulator's)
                # time is the truth, however far it is from this machine's wall clock.
                if not self._stamped:
                    self._stamped = True
                    self._last_now = t
                elif t < self._last_event:
                    t = self._last_event
                self._anchor_event, self._anchor_wall = t, received_wall
                self._last_event = t
                return t
        t = self._anchor_event + (received_wall - self._anchor_wall) * self.speed
        if t < self._last_event:
            t = self._last_event
        self._last_event = t
        return t
