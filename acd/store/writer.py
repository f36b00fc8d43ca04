"""The writer task: the journal's records become rows, without ever holding up the event loop.

``submit()`` is called from the daemon's consumer for every effect: it hands the ones that become
rows to the durable journal (:class:`~acd.store.journal.Journal`; an O(1) append, no I/O, never
raises). ``run()`` reads the journal in sequence order, writes each batch in one transaction
through :class:`~acd.store.upsert.RowUpserter` (idempotent upserts) and acknowledges it, so the journal
forgets a record only once the database has committed it.

When the database is down or slow the records simply stay in the journal (on disk, bounded by
``database.journal_max_bytes``) and the writer retries with back-off; new records do not cut the
back-off short. A record is always in the journal until committed, and nothing doubles: every
write is an upsert on the record's key, so a batch written again after a crash changes nothing.

``close(deadline)`` (SIGTERM) lets the writer drain for up to ``deadline`` seconds, then closes the
journal (what waits is fsync'd there), so the next start writes it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.core.effects import Effect
from acd.settings import Settings
from acd.store.codec import StoredEffect, is_stored
from acd.store.journal import Journal, JournalStats
from acd.store.upsert import RowUpserter

__all__ = ["Writer", "WriterStats", "open_writer"]

log = structlog.get_logger("acd.store.writer")

Item = tuple[int, StoredEffect]


@dataclass(frozen=True, slots=True)
class WriterStats:
    """For metrics and the status line."""

    backlog: int  # records accepted and not yet committed to the database (the journal's depth)
    spooled: int  # of those, records durable in the journal on disk
    written: int  # records committed (a replayed duplicate counts again: it was written again)
    failures: int  # failed write attempts
    writes: int  # committed transactions
    write_seconds_total: float
    last_write_seconds: float | None
    database_ok: bool
    journal: JournalStats | None = None


class Writer:
    """One per daemon. Start ``run()`` as a task, ``submit()`` effects, ``await close()`` last."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine | None = None,
        *,
        store: RowUpserter | None = None,
        journal: Journal | None = None,
        write_timeout: float = 10.0,
        retry_min: float = 0.2,
        retry_max: float = 5.0,
    ) -> None:
        if store is None:
            if engine is None:
                raise ValueError("Writer needs an engine or a store")
            store = RowUpserter(
                engine, settings.server_id, settings.credit_policy, settings.credit_original_share
            )
        self._store = store
        db = settings.database
        self._batch_size = db.batch_size
        self._deadline = db.flush_deadline
        if journal is None:  # tests and tools: opened here, in the caller's thread
            journal = Journal(db.spool_dir, max_bytes=db.journal_max_bytes, memory_records=db.queue_size)
            journal.open()
        self.journal = journal
        self._close_requested = asyncio.Event()
        self._write_timeout = write_timeout
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._stop_at = float("inf")
        self._closed = False
        self._inflight = 0
        self._written = 0
        self._failures = 0
        self._writes = 0
        self._write_seconds = 0.0
        self._last_write: float | None = None
        self._db_ok = True
        # Told of every committed batch (seconds, rows): the daemon's acd_db_write_seconds and
        # acd_db_rows_written_total.
        self.on_write: Callable[[float, int], None] | None = None

    # -- called from the event loop's hot path ---------------------------------------------------

    def submit(self, effect: Effect) -> None:
        """Hand ``effect`` to the journal if it becomes a row. O(1), no I/O; never raises."""
        try:
            if is_stored(effect):
                self.journal.append(effect)  # type: ignore[arg-type]
        except Exception:  # pragma: no cover - defensive: the consumer must never see an error
            log.exception("writer_submit_failed")

    @property
    def fence(self) -> Callable[[], int | None] | None:
        """The fencing token source for fenced rows (acd.store.upsert); None: no fencing."""
        fence: Callable[[], int | None] | None = getattr(self._store, "fence", None)
        return fence

    @fence.setter
    def fence(self, source: Callable[[], int | None] | None) -> None:
        self._store.fence = source

    @property
    def sender(self) -> str:
        """Who this writer's history notifications come from (acd.store.history_feed)."""
        return str(getattr(self._store, "sender", ""))

    @sender.setter
    def sender(self, name: str) -> None:
        self._store.sender = name

    @property
    def fenced(self) -> int:
        return int(getattr(self._store, "fenced", 0))

    def stats(self) -> WriterStats:
        journal = self.journal.stats()
        return WriterStats(
            backlog=journal.depth,
            spooled=journal.on_disk,
            written=self._written,
            failures=self._failures,
            writes=self._writes,
            write_seconds_total=self._write_seconds,
            last_write_seconds=self._last_write,
            database_ok=self._db_ok,
            journal=journal,
        )

    def flush_sync(self, timeout: float) -> int:
        """A forced exit's last act: fsync what waits in the journal (returns what could not be)."""
        return self.journal.flush_sync(timeout)

    # -- the task --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Write until :meth:`close`; meant to run as its own task for the daemon's lifetime."""
        if self._closed:
            return  # close() ran before this task started: everything is already in the journal
        self._task = asyncio.current_task()
        journal = self.journal
        journal.attach(asyncio.get_running_loop())
        cursor = journal.acked
        delay = self._retry_min
        while True:
            if self._closing and time.monotonic() >= self._stop_at:
                return  # close()'s deadline: the rest waits in the journal
            batch = await journal.read(cursor, self._batch_size)
            if not batch and journal.acked > cursor:
                cursor = journal.acked  # the journal let go of records it could not read
                continue
            if not batch:
                if self._closing:
                    return
                await self._wait_for_records(cursor)
                continue
            self._inflight = len(batch)
            try:
                ok = await self._write(batch)
            finally:
                self._inflight = 0
            if ok:
                cursor = batch[-1][0]
                journal.ack(cursor)
                delay = self._retry_min
            else:
                await self._pause(delay)
                delay = min(delay * 2, self._retry_max)

    async def close(self, deadline: float | None = None) -> None:
        """Flush to the database for up to ``deadline`` seconds (default ``database.flush_deadline``),
        then close the journal: whatever is still unwritten waits there for the next start. Safe to
        call when ``run()`` was never started."""
        budget = self._deadline if deadline is None else deadline
        self._stop_at = time.monotonic() + budget
        self._closing = True
        self._close_requested.set()
        task = self._task
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=budget + 0.05)
            while not task.done():  # a write stuck in the driver: cancel it (and insist)
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
        await self.journal.close()
        self._closed = True
        stats = self.stats()
        log.info(
            "writer_closed",
            written=stats.written,
            waiting_in_journal=stats.backlog,
            failures=stats.failures,
        )

    async def caught_up(self, timeout: float) -> bool:
        """Wait until the database holds every record accepted so far; False after ``timeout``
        seconds, or at once while the database is failing (waiting would not help). A rep saves
        the outcome the moment the call ends: the check that it was theirs must read the call's
        finished record, not the half stored while it rang."""
        target = self.journal.last_seq
        end = time.monotonic() + timeout
        while self.journal.acked < target:
            if not self._db_ok or time.monotonic() >= end:
                return False
            await asyncio.sleep(0.01)
        return True

    async def drain(self, timeout: float) -> bool:
        """Wait until the database has every record (tests, ``acd replay --database``)."""
        end = time.monotonic() + timeout
        while self.journal.depth:
            if time.monotonic() >= end:
                return False
            await asyncio.sleep(0.01)
        return True

    # -- internals -------------------------------------------------------------------------------

    async def _wait_for_records(self, cursor: int) -> None:
        more = asyncio.ensure_future(self.journal.wait_for_more(cursor))
        closing = asyncio.ensure_future(self._close_requested.wait())
        try:
            await asyncio.wait({more, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            more.cancel()
            closing.cancel()

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
                log.warning("writer_database_unavailable", error=_short(exc), waiting=self.journal.depth)
            self._db_ok = False
            return False
        elapsed = time.perf_counter() - started
        if not self._db_ok:
            log.info("writer_database_back", waiting=self.journal.depth)
        self._db_ok = True
        self._written += len(batch)
        self._writes += 1
        self._write_seconds += elapsed
        self._last_write = elapsed
        if self.on_write is not None:
            self.on_write(elapsed, len(batch))
        return True


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) < 300 else text[:297] + "..."


async def open_writer(settings: Settings, engine: AsyncEngine) -> Writer:
    """The daemon's writer, its journal opened (recovery reads the disk) off the event loop."""
    db = settings.database
    journal = Journal(db.spool_dir, max_bytes=db.journal_max_bytes, memory_records=db.queue_size)
    pending = await asyncio.to_thread(journal.open)
    if pending:
        log.info("writer_journal_recovered", waiting=pending)
    return Writer(settings, engine, journal=journal)
