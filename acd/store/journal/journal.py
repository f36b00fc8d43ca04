"""The journal as the daemon sees it: records accepted on the event loop, fed to the database in
order, forgotten once committed.

Why this side is separate from the disk: the event loop must never wait on a file, and the
database must be fed whether or not the disk takes records. So :meth:`Journal.append` only numbers
a record, keeps it in memory and hands it to the journal thread (``acd.store.journal.group_commit``);
:meth:`Journal.read` gives the writer records in sequence order, from memory while they are there,
else from the segments (``acd.store.journal.segments``, in a worker thread); :meth:`Journal.ack`
lets go of what the database committed. Memory holds at most ``memory_records``: records already
durable leave it first (they are read back from disk), and only while the journal cannot write
are records beyond it dropped, each counted and logged.

:meth:`Journal.open` takes the directory (one process only: an exclusive ``flock`` on ``LOCK``)
and recovers what a previous run left; :meth:`Journal.close` writes what waits and stops the
thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from acd.store.codec import StoredEffect
from acd.store.journal import checkpoint, legacy_spool
from acd.store.journal.frames import Item
from acd.store.journal.group_commit import GroupCommit
from acd.store.journal.health import State
from acd.store.journal.segments import Segments

__all__ = ["Journal", "JournalBusy", "JournalStats"]

log = structlog.get_logger("acd.store.journal")

LOCK = "LOCK"


class JournalBusy(Exception):
    """Another process holds this journal directory."""


@dataclass(frozen=True, slots=True)
class JournalStats:
    """For metrics and the status line."""

    depth: int  # records accepted and not yet committed to the database
    on_disk: int  # of those, records durable in the journal
    in_memory_only: int  # of those, records the journal could not write yet
    bytes: int  # size of the journal's segments
    dropped: int  # records that could neither be written nor kept in memory, or not read back (since start)
    commits: int
    failures: int  # failed write or fsync attempts
    state: State
    last_commit_seconds: float | None


class Journal:
    """One per daemon. ``append()`` on the event loop; ``read()``/``ack()`` from the writer."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int = 1 << 30,
        memory_records: int = 10_000,
        segment_bytes: int | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.memory_records = max(memory_records, 1)
        self.segment_bytes = segment_bytes or max(64 << 10, min(4 << 20, max_bytes // 8))
        self._segments = Segments(self.directory, max_bytes=max_bytes, segment_bytes=self.segment_bytes)
        self._committer = GroupCommit(
            self.directory,
            self._segments,
            acked=lambda: self._acked,
            dropped=lambda: self._dropped,
            report=self._notify_loop,
        )
        self._mem: deque[Item] = deque()
        self._disk_only_upto = 0  # records <= this (and > acked) are only on disk
        self._next_seq = 1
        self._acked = 0
        self._durable = 0  # highest seq known durable (set on the loop from the thread's reports)
        self._dropped = 0
        self._unreadable: set[int] = set()  # records on disk this version cannot decode
        self._grown: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._last_seen: float | None = None  # from the checkpoint: the previous run's covered time
        self._lock_fd: int | None = None
        self._on_state: list[Callable[[State], None]] = []

    # ------------------------------------------------------------------ opening and closing

    def open(self) -> int:
        """Take the directory, recover what a previous run left (torn tails cut, acknowledged
        segments deleted, legacy spool moved in) and start the journal thread. Blocking file I/O:
        call it once at start-up. Returns the number of records waiting for the database."""
        self.directory.mkdir(parents=True, exist_ok=True)
        # Read-only: a descriptor open for writing would keep the file system from being
        # remounted read-only (an operator's move the journal must survive).
        self._lock_fd = os.open(self.directory / LOCK, os.O_RDONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise JournalBusy(f"journal {self.directory} is in use by another acd process") from None
        acked, self._last_seen = checkpoint.read(self.directory)
        highest = self._segments.recover(acked)
        checkpoint.discard_unfinished(self.directory)
        self._acked = acked
        self._next_seq = highest + 1
        self._durable = self._committer.durable = highest
        self._disk_only_upto = highest
        self._committer.covered_at = self._last_seen
        moved = legacy_spool.move_in(self.directory, self._next_seq, self._committer.write_now)
        if moved:
            self._next_seq += moved
            self._durable = self._committer.durable
            self._disk_only_upto = self._next_seq - 1
        self._committer.start()
        return self.depth

    async def close(self, timeout: float = 10.0) -> None:
        """Write what waits, fsync, checkpoint and stop the thread (SIGTERM). What the disk cannot
        take by ``timeout`` is lost with the process and logged."""
        if self._closed:
            return
        self._closed = True
        self._committer.stop()
        if self._committer.started:
            await asyncio.to_thread(self._committer.join, timeout)
        if self._loop is not None:
            # Reports the thread queued for the loop just before it stopped.
            await asyncio.sleep(0)
        unsynced = self._committer.waiting()
        if unsynced:
            log.error("journal_lost_at_exit", records=unsynced, state=self.state)
        self._release()

    def _release(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    def flush_sync(self, timeout: float) -> int:
        """Write and fsync what waits, from the calling thread, giving up after ``timeout``: the
        last thing a forced exit does. Returns how many records stayed unwritten."""
        return self._committer.flush(timeout)

    # ------------------------------------------------------------------ accepting records

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to the event loop that calls append/read/ack (done on first use)."""
        if self._loop is None:
            self._loop = loop
            self._grown = asyncio.Event()

    def append(self, effect: StoredEffect) -> int | None:
        """Accept ``effect`` for writing: a sequence number, or None when it had to be dropped
        (the journal cannot write and memory is full). O(1), no I/O, never raises."""
        if self._closed:
            return self._append_after_close(effect)
        mem = self._mem
        if len(mem) >= self.memory_records:
            self._evict(self.memory_records - 1)
            # Memory holds records the journal cannot write: beyond its bound they are let go.
            # (While the journal works, a burst may outrun the fsyncs for a moment: kept.)
            if len(mem) >= self.memory_records and self.state != "ok":
                self._drop()
                return None
        seq = self._next_seq
        self._next_seq = seq + 1
        mem.append((seq, effect))
        self._committer.submit((seq, effect))
        if self._grown is not None:
            self._grown.set()
        return seq

    def _append_after_close(self, effect: StoredEffect) -> int | None:
        """Late records during shutdown: written at once, from the caller's thread."""
        seq = self._next_seq
        self._next_seq += 1
        try:
            self._committer.write_now([(seq, effect)])
        except OSError as exc:
            log.error("journal_late_record_lost", error=str(exc))
            self._drop()
            return None
        self._durable = seq
        self._disk_only_upto = seq
        return seq

    def _evict(self, keep: int) -> None:
        """Records already durable need not stay in memory: the writer reads them from disk."""
        mem = self._mem
        durable = self._durable
        while len(mem) > keep and mem[0][0] <= durable:
            self._disk_only_upto = mem.popleft()[0]

    def _drop(self) -> None:
        self._dropped += 1
        if self._dropped == 1 or self._dropped % 1000 == 0:
            log.error(
                "journal_records_dropped",
                dropped=self._dropped,
                state=self.state,
                kept_in_memory=len(self._mem),
            )

    def mark(self, at: float) -> None:
        """Every record from events up to event time ``at`` has been appended: once they are
        durable, ``at`` is where the next start's gap begins."""
        self._committer.mark(self._next_seq - 1, at)

    # ------------------------------------------------------------------ feeding the database

    async def read(self, after: int, limit: int) -> list[Item]:
        """Up to ``limit`` records with a sequence number above ``after``, in order."""
        out: list[Item] = []
        after = start = max(after, self._acked)  # acknowledged records are gone
        while after < self._disk_only_upto and len(out) < limit:
            upto = min(self._disk_only_upto, after + limit - len(out))
            items, unreadable = await asyncio.to_thread(self._segments.read, after, upto)
            out += items
            for seq, error in unreadable:
                if seq not in self._unreadable:  # counted and logged once, however often read
                    self._unreadable.add(seq)
                    self._dropped += 1
                    log.error("journal_record_unreadable", seq=seq, error=error)
            after = upto  # a sequence number no segment holds (corruption) is skipped, logged
        mem = self._mem
        if len(out) < limit and mem:
            first = max(0, after + 1 - mem[0][0])
            out += [mem[i] for i in range(first, min(len(mem), first + limit - len(out)))]
        if not out and after > start:
            self.ack(after)  # nothing readable there: those records can never be written
        return out

    async def wait_for_more(self, after: int, timeout: float | None = None) -> bool:
        """Until a record above ``after`` exists (or ``timeout``)."""
        if self._grown is None:
            self.attach(asyncio.get_running_loop())
        assert self._grown is not None
        while self._next_seq - 1 <= after:
            self._grown.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._grown.wait()
            except TimeoutError:
                return False
        return True

    def ack(self, seq: int) -> None:
        """The database committed every record up to ``seq``."""
        if seq <= self._acked:
            return
        self._acked = seq
        if self._unreadable:
            self._unreadable = {s for s in self._unreadable if s > seq}
        mem = self._mem
        while mem and mem[0][0] <= seq:
            mem.popleft()
        if self._disk_only_upto < seq:
            self._disk_only_upto = seq
        self._committer.wake()

    # ------------------------------------------------------------------ what it reports

    @property
    def acked(self) -> int:
        return self._acked

    @property
    def last_seq(self) -> int:
        return self._next_seq - 1

    @property
    def depth(self) -> int:
        return self._next_seq - 1 - self._acked

    @property
    def healthy(self) -> bool:
        """False while the journal cannot write: acd's guarantee is suspended (the API says 503)."""
        return self.state == "ok"

    @property
    def state(self) -> State:
        return self._committer.health.state

    @property
    def last_seen(self) -> float | None:
        """Event time up to which the previous run had made every record durable (None: unknown,
        e.g. the first start)."""
        return self._last_seen

    def on_state(self, callback: Callable[[State], None]) -> None:
        """Call ``callback(state)`` on the loop when the journal starts or stops failing."""
        self._on_state.append(callback)

    def stats(self) -> JournalStats:
        size = self._segments.total()
        depth = self.depth
        unsynced = max(0, self._next_seq - 1 - max(self._durable, self._acked))
        committer = self._committer
        return JournalStats(
            depth=depth,
            on_disk=max(0, depth - unsynced),
            in_memory_only=unsynced,
            bytes=size,
            dropped=self._dropped,
            commits=committer.commits,
            failures=committer.health.failures,
            state=self.state,
            last_commit_seconds=committer.last_commit,
        )

    def _report(self, durable: int, state: State) -> None:
        """On the loop: what the thread achieved."""
        if durable > self._durable:
            self._durable = durable
            if len(self._mem) > self.memory_records:
                self._evict(self.memory_records)
        for callback in self._on_state:
            try:
                callback(state)
            except Exception:  # a metrics hook must not break the journal
                log.exception("journal_state_callback_failed")

    def _notify_loop(self, durable: int, state: State) -> None:
        """From the journal thread: hand its report to the loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            if durable > self._durable:
                self._durable = durable
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._report, durable, state)
