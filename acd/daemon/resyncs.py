"""The resync of the present AMI connection, driven for the daemon: at most one at a time, its
snapshot fed to the core between markers, tried again with back-off until one completes.

Why retried on the same connection and not only at the next reconnect: a PBX that answered
QueueStatus slowly once is usually fine a moment later. Why cancelled with the connection: a
snapshot that straddles two connections describes neither. The items themselves reach the core
through the consumer's queue in wire order (:mod:`acd.ami.resync`); the markers around them
(:data:`BEGIN`, then :data:`END`, or :data:`ABORT` for a snapshot that must not reconcile) go on
the same queue and are read back by the daemon.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

from acd.ami.actions import AmiNotConnected
from acd.ami.backoff import Backoff
from acd.ami.connection import AmiClient
from acd.ami.resync import resync

__all__ = ["ABORT", "BEGIN", "END", "RESYNC_RETRY_MAX", "RESYNC_RETRY_MIN", "Resyncs"]

log = structlog.get_logger("acd.daemon")

BEGIN = "resync-begin"
END = "resync-end"
ABORT = "resync-abort"
RESYNC_RETRY_MIN = 1.0  # seconds
RESYNC_RETRY_MAX = 60.0


class Counted(Protocol):
    """Where the attempts are counted (the daemon's stats, read by ``/metrics`` and the tests)."""

    resyncs: int
    resync_failures: int


class Resyncs:
    def __init__(
        self,
        ami: AmiClient,
        put: Callable[[str, float], None],
        stats: Counted,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._ami = ami
        self._put = put
        self._stats = stats
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None

    @property
    def idle(self) -> bool:
        return self._task is None or self._task.done()

    def start(self) -> None:
        """Resync now unless one is under way."""
        if self.idle:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        """Resync until one completes; the connection's end (cancel, AmiNotConnected) stops it."""
        backoff = Backoff(RESYNC_RETRY_MIN, RESYNC_RETRY_MAX)
        while not await self._once():
            delay = backoff.next_delay()
            log.warning("resync_retry", retry_in=round(delay, 2), failures=self._stats.resync_failures)
            await self._sleep(delay)

    async def _once(self) -> bool:
        """One resync between markers; True when done or when retrying is pointless."""
        self._put(BEGIN, time.time())
        done = ABORT
        try:
            result = await resync(self._ami)
            done = END
            log.info(
                "resync_done",
                queues=result.queues,
                members=result.members,
                callers=result.callers,
                channels=result.channel_count,
            )
            return True
        except asyncio.CancelledError:
            log.info("resync_abandoned", reason="connection lost or stopping")
            raise
        except AmiNotConnected:  # the connection is gone: its next FullyBooted resyncs
            log.info("resync_abandoned", reason="connection lost")
            return True
        except Exception as exc:  # timed out twice, or Asterisk refused: tried again after a pause
            self._stats.resync_failures += 1
            log.warning("resync_failed", error=str(exc))
            return False
        finally:
            # A partial snapshot must never reconcile: members missing from it would be logged out.
            self._put(done, time.time())
            self._stats.resyncs += 1
