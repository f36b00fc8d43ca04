"""The writer task: the core's effects become rows, without ever holding up the event loop.

``submit()`` is called from the daemon's consumer for every effect: it only appends to a deque (no
I/O, no await, never raises). ``run()`` takes batches off the front, in submission order, and
writes each in one transaction through :class:`~acd.store.sink.Store` (idempotent upserts).

When the database is down or slow, records wait in memory up to ``database.queue_size``; beyond
that they are spilled, oldest first, to the on-disk spool (fsync'd segments). A batch whose write
fails is spooled too. While anything is in the spool it is replayed first, in order, and a segment
is deleted only after its records are committed. Because every record carries a sequence number
and segments are named by their first one, the replay order is the submission order even when a
failed batch is spooled after newer records were spilled. Nothing is lost: a record is always in
memory, in flight, or on disk; and nothing doubles: every write is an upsert on the record's key.

``close(deadline)`` (SIGTERM) lets the writer drain for up to ``deadline`` seconds, then spools
whatever is left, so a restart writes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.core.effects import AffinityDecided, Effect
from acd.settings import Settings
from acd.store.codec import StoredEffect, is_stored
from acd.store.sink import Store
from acd.store.spool import Spool, SpoolCorrupt

__all__ = ["Writer", "WriterStats"]

log = structlog.get_logger("acd.store.writer")

Item = tuple[int, StoredEffect]


@dataclass(frozen=True, slots=True)
class WriterStats:
    """For metrics: ``backlog`` (records in memory or in flight), ``spooled`` (on disk)."""

    backlog: int
    spooled: int
    written: int  # records committed (a replayed duplicate counts again: it was written again)
    failures: int  # failed write attempts
    writes: int  # committed transactions
    write_seconds_total: float
    last_write_seconds: float | None
    database_ok: bool


class Writer:
    """One per daemon. Start ``run()`` as a task, ``submit()`` effects, ``await close()`` last."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine | None = None,
        *,
        store: Store | None = None,
        write_timeout: float = 10.0,
        retry_min: float = 0.2,
        retry_max: float = 5.0,
    ) -> None:
        if store is None:
            if engine is None:
                raise ValueError("Writer needs an engine or a store")
            store = Store(engine, settings.server_id, settings.credit_policy)
        self._store = store
        self._batch_size = settings.database.batch_size
        self._queue_size = settings.database.queue_size
        self._deadline = settings.database.flush_deadline
        self._spool = Spool(settings.database.spool_dir)
        self._seq = self._spool.last_seq
        self._memory: deque[Item] = deque()
        self._inflight: list[Item] = []
        self._spilling: list[Item] = []
        self._wake = asyncio.Event()
        self._spill_wanted = asyncio.Event()
        self._close_requested = asyncio.Event()
        self._write_timeout = write_timeout
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._stop_at = float("inf")
        self._spiller_stop = False
        self._closed = False
        self._written = 0
        self._failures = 0
        self._writes = 0
        self._write_seconds = 0.0
        self._last_write: float | None = None
        self._db_ok = True

    # -- called from the event loop's hot path ---------------------------------------------------

    def submit(self, effect: Effect | AffinityDecided) -> None:
        """Queue ``effect`` for writing if it becomes a row. O(1), no I/O; never raises."""
        try:
            if not is_stored(effect):
                return
            self._seq += 1
            self._memory.append((self._seq, effect))  # type: ignore[arg-type]
            if self._closed:
                self._spill_now_sync()
                return
            if len(self._memory) > self._queue_size:
                self._spill_wanted.set()
            self._wake.set()
        except Exception:  # pragma: no cover - defensive: the consumer must never see an error
            log.exception("writer.submit_failed")

    def stats(self) -> WriterStats:
        return WriterStats(
            backlog=len(self._memory) + len(self._inflight) + len(self._spilling),
            spooled=self._spool.count(),
            written=self._written,
            failures=self._failures,
            writes=self._writes,
            write_seconds_total=self._write_seconds,
            last_write_seconds=self._last_write,
            database_ok=self._db_ok,
        )

    # -- the task --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Write until :meth:`close`; meant to run as its own task for the daemon's lifetime."""
        if self._closed:
            return  # close() ran before this task started: everything is already on disk
        self._task = asyncio.current_task()
        spiller = asyncio.create_task(self._spiller(), name="acd-writer-spill")
        delay = self._retry_min
        try:
            while True:
                if self._closing and time.monotonic() >= self._stop_at:
                    break  # close()'s deadline: what is left goes to the spool
                if not self._has_work():
                    if self._closing:
                        break
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                if await self._step():
                    delay = self._retry_min
                else:
                    await self._pause(delay)
                    delay = min(delay * 2, self._retry_max)
        except asyncio.CancelledError:
            if not self._closing:
                self._save_everything_sync()
                raise
            # Cancelled by close() because a write hung past the deadline: a normal end.
        finally:
            # Let a spill in progress finish (its records are only in that file write), then
            # put whatever is in flight or in memory on disk too.
            self._spiller_stop = True
            self._spill_wanted.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(spiller)
            self._save_everything_sync()

    async def close(self, deadline: float | None = None) -> None:
        """Flush for up to ``deadline`` seconds (default ``database.flush_deadline``), then spool
        whatever is still unwritten. Safe to call when ``run()`` was never started."""
        budget = self._deadline if deadline is None else deadline
        self._stop_at = time.monotonic() + budget
        self._closing = True
        self._wake.set()
        self._close_requested.set()
        task = self._task
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=budget + 0.05)
            while not task.done():  # a write stuck in the driver: cancel it (and insist)
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
        self._save_everything_sync()
        self._closed = True
        stats = self.stats()
        log.info("writer.closed", written=stats.written, spooled=stats.spooled, failures=stats.failures)

    async def drain(self, timeout: float) -> bool:
        """Wait until memory and spool are empty (tests, ``acd replay --database``)."""
        end = time.monotonic() + timeout
        while self._has_work() or self._spilling:
            if time.monotonic() >= end:
                return False
            await asyncio.sleep(0.01)
        return True

    # -- internals -------------------------------------------------------------------------------

    def _has_work(self) -> bool:
        return bool(self._memory) or bool(self._spool.segments())

    async def _pause(self, delay: float) -> None:
        """Back off after a failure. New records do not cut it short (that would hammer a dead
        database at the event rate); a close request does, to retry once more before the deadline."""
        if self._closing:
            await asyncio.sleep(min(delay, max(self._stop_at - time.monotonic(), 0.0)))
            return
        # asyncio.wait, not wait_for: on 3.11 wait_for can swallow a cancellation that races
        # with the event being set, and close() would then wait forever.
        waiter = asyncio.ensure_future(self._close_requested.wait())
        try:
            await asyncio.wait({waiter}, timeout=delay)
        finally:
            waiter.cancel()

    async def _step(self) -> bool:
        segments = self._spool.segments()
        if segments:
            return await self._replay(segments[0])
        batch = [self._memory.popleft() for _ in range(min(self._batch_size, len(self._memory)))]
        self._inflight = batch
        try:
            ok = await self._write(batch)
            if not ok:
                # Keep order: spool the failed batch under its own (lower) sequence number.
                await asyncio.to_thread(self._spool.append, batch)
            return ok
        finally:
            self._inflight = []

    async def _replay(self, segment: Any) -> bool:
        try:
            items = await asyncio.to_thread(self._spool.read, segment)
        except SpoolCorrupt as exc:
            log.error("writer.spool_corrupt", error=str(exc))
            self._failures += 1
            return True
        except FileNotFoundError:
            return True
        for start in range(0, len(items), self._batch_size):
            if not await self._write(items[start : start + self._batch_size]):
                return False  # committed batches are written again on retry: upserts make that safe
        await asyncio.to_thread(self._spool.remove, segment)
        log.info("writer.spool_replayed", segment=segment.name, records=len(items))
        return True

    async def _write(self, batch: Sequence[Item]) -> bool:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._write_timeout):
                await self._store.write([effect for _, effect in batch])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failures += 1
            if self._db_ok:
                log.warning("writer.database_unavailable", error=_short(exc), backlog=len(batch))
            self._db_ok = False
            return False
        elapsed = time.perf_counter() - started
        if not self._db_ok:
            log.info("writer.database_back")
        self._db_ok = True
        self._written += len(batch)
        self._writes += 1
        self._write_seconds += elapsed
        self._last_write = elapsed
        return True

    async def _spiller(self) -> None:
        """Moves memory to disk once the in-memory bound is passed (runs beside the writes)."""
        while not self._spiller_stop:
            await self._spill_wanted.wait()
            self._spill_wanted.clear()
            if self._spiller_stop or len(self._memory) <= self._queue_size:
                continue
            self._spilling = list(self._memory)
            self._memory.clear()
            try:
                await asyncio.to_thread(self._spool.append, self._spilling)
            except OSError as exc:
                log.error("writer.spill_failed", error=str(exc), records=len(self._spilling))
                self._memory.extendleft(reversed(self._spilling))
                self._spilling = []
                await asyncio.sleep(self._retry_max)
                self._spill_wanted.set()
            self._spilling = []
            self._wake.set()

    def _spill_now_sync(self) -> None:
        items = list(self._memory)
        self._memory.clear()
        self._spool.append(items)

    def _save_everything_sync(self) -> None:
        """Shutdown: whatever is in flight or in memory goes to disk (blocking, bounded by size)."""
        leftovers = sorted([*self._inflight, *self._spilling, *self._memory], key=lambda item: item[0])
        self._inflight, self._spilling = [], []
        self._memory.clear()
        if leftovers:
            self._spool.append(leftovers)
            log.warning("writer.spooled_at_shutdown", records=len(leftovers))


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) < 300 else text[:297] + "..."
