"""How far the database covers this server's events: where the next leader's gap begins.

The journal already knows how far its own disk covers the events (``Journal.last_seen``, for this
node's next start). Another node taking over cannot read this node's disk: for it, what counts is
what the database committed. The daemon marks (journal sequence, event time) pairs as it marks the
journal; once the writer has acknowledged a mark's sequence, every record from events up to its
time is in the database. The leader's heartbeat writes that time to ``servers.covered_until``.
Once a record was dropped (the journal could not keep it) the time stops advancing, so the next
leader reads queue_log from before the loss.
"""

from __future__ import annotations

from collections import deque

__all__ = ["Coverage"]


class Coverage:
    def __init__(self, limit: int = 100_000) -> None:
        self._marks: deque[tuple[int, float]] = deque(maxlen=limit)
        self.committed: float | None = None
        self.frozen = False

    def mark(self, seq: int, at: float) -> None:
        """Every record from events up to ``at`` has a journal sequence <= ``seq``."""
        if not self.frozen:
            self._marks.append((seq, at))

    def advance(self, acked: int, *, dropped: bool = False) -> float | None:
        """The database committed every record up to ``acked``: the covered time now."""
        if dropped:
            self.frozen = True
            self._marks.clear()
        marks = self._marks
        while marks and marks[0][0] <= acked:
            _, at = marks.popleft()
            if self.committed is None or at > self.committed:
                self.committed = at
        return self.committed
