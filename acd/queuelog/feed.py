"""The daemon's queue_log reader: after each resync, the lines of the gap are read off the event loop
and handed to the core in order with everything else.

The core says when a gap waits for queue_log (``core.gapfill.pending``, set by the resync) and from
when to read (``window()``: the gap's start, or the journal's record of how far the previous run
saw everything, less a look-back for the calls still open then). The read and the parse run in a
worker thread; the result goes through the consumer's queue as a marker, so the core applies it
between two AMI events like anything else. A missing or unreadable file is logged once per state
change and the gap is recorded as before (vanished calls lost in it), marked ``unreadable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import structlog

from acd.core.callcenter import Core
from acd.core.effects import Effect
from acd.core.gapfill import GapFill
from acd.core.queuelog import QueueLogFacts
from acd.queuelog.files import load_facts
from acd.settings import QueueLogSettings

__all__ = ["QueueLogFeed"]

log = structlog.get_logger("acd.queuelog")


class QueueLogFeed:
    def __init__(self, settings: QueueLogSettings, core: Core, last_seen: float | None) -> None:
        self.path = Path(settings.path)
        self.core = core
        core.gapfill = GapFill(settings.lookback_seconds)
        if last_seen is not None and core.gap_started is None:
            core.gap_started = last_seen  # the previous run saw everything up to here
        self._results: deque[tuple[QueueLogFacts | None, float]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._readable: bool | None = None
        self.reads = 0

    def poll(self, enqueue: Callable[[], None]) -> None:
        """Start reading when a gap waits for queue_log (cheap when none does)."""
        fill = self.core.gapfill
        if fill is None or not fill.pending or fill.requested:
            return
        window = fill.window()
        if window is None:
            return
        fill.requested = True
        self._task = asyncio.get_running_loop().create_task(self._read(window[0], enqueue))

    async def _read(self, since: float, enqueue: Callable[[], None]) -> None:
        started = time.monotonic()
        try:
            facts = await asyncio.to_thread(load_facts, self.path, since)
        except Exception as exc:  # a bug in reading must not lose the gap: record it unread
            log.exception("queue_log_read_failed", path=str(self.path), error=str(exc))
            facts = None
        self.reads += 1
        if (facts is not None) != self._readable:
            self._readable = facts is not None
            if facts is None:
                log.warning(
                    "queue_log_unreadable",
                    path=str(self.path),
                    hint="calls acd could not see are lost to it; check ACD_QUEUE_LOG__PATH and "
                    "the file's group (see README, Run it in production)",
                )
        self._results.append((facts, time.monotonic() - started))
        enqueue()

    def apply(self, now: float) -> list[Effect]:
        """The next read's facts into the core (on the consumer, in order with AMI events)."""
        if not self._results or self.core.gapfill is None:
            return []
        facts, seconds = self._results.popleft()
        effects = self.core.fill_gap(facts, now)
        gap = next((e for e in effects if type(e).__name__ == "GapRecorded"), None)
        log.info(
            "queue_log_gap_filled",
            lines=facts.lines if facts is not None else None,
            recovered=getattr(gap, "calls_recovered", 0),
            merged=getattr(gap, "calls_merged", 0),
            read_seconds=round(seconds, 3),
        )
        return effects

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
