"""How far in event time this node has seen everything, written into the journal beside the
records, and how far the database holds it all.

Why: after a restart or a takeover the gap to fill from Asterisk's queue_log starts at the last
mark whose records are durable; without marks the next run would not know where its gap starts
and would recover nothing. The heartbeat writes :meth:`JournalMarks.covered` for the next leader.
The conditions under which the daemon may mark (nothing queued, no gap open, no resync under
way) are the daemon's; this is what a mark is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from acd.ha.coverage import Coverage

__all__ = ["JournalMarks"]


class JournalMarks:
    def __init__(self) -> None:
        self.coverage = Coverage()

    def mark(self, writer: Any, now: float) -> None:
        """Everything up to ``now`` (event time) has been seen: once the records before this
        mark are durable, a restart fills only what came after."""
        writer.journal.mark(now)
        self.coverage.mark(writer.journal.last_seq, now)

    def first(self, writer: Any, waiting: Iterable[tuple[Any, float]]) -> None:
        """A journal that never marked (a first start) marks where this run's events begin, just
        before the oldest ``waiting`` event: a run killed before its first ordinary mark (events
        held while the lock was decided, a backlog under load) still tells its successor where to
        start reading queue_log; without it the successor's gap has no start and recovers nothing."""
        if writer.journal.last_seen is not None:
            return
        for item, _received in waiting:
            if item.__class__ is dict and item.get("Timestamp"):
                try:
                    at = float(item["Timestamp"]) - 1.0
                except ValueError:
                    return
                self.mark(writer, at)
            return

    def covered(self, writer: Any) -> float | None:
        """Event time up to which the database has every record of this server."""
        stats = writer.journal.stats()
        return self.coverage.advance(writer.journal.acked, dropped=stats.dropped > 0)
