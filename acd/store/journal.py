"""The durable local journal: every record the core finished, on disk before the database has it.

Why it exists: the database may be down, slow, or far away, and acd may die at any moment (SIGKILL,
the OOM killer, a watchdog kill, a second SIGTERM, a crash). A record counts as *accepted* once the
journal's fsync for it returned; from then on nothing but a lost disk loses it. The database is fed
from the journal, and a record leaves the journal only after the database committed it. A replay
after a crash writes some records a second time; the store's keys make that a no-op.

Shape (as Prometheus's WAL and Vector's disk buffer):

- Records are appended on the event loop (:meth:`Journal.append`: an O(1) hand-off, no I/O). One
  thread of the journal's own encodes them, writes them to the active segment and fdatasyncs;
  whatever arrives while one commit runs, or within 20 ms of its start, goes into the next (group
  commit: commits at most 50 a second under load, a lone record at once when idle), so a record
  waits for its fsync at most 20 ms plus two fsync times (bench/bench_journal.py measures it). The
  loop never waits on disk.
- A segment is ``<first seq, 20 digits>.wal``: frames of ``<length u32><crc32 u32><JSON>``, the
  JSON being the stored-effect codec's line (``acd.store.codec``), so effect types added later ride
  the journal unchanged. A torn or corrupt frame ends what is read of its segment.
- The writer reads records in sequence order (from memory while they are there, else from disk)
  and acknowledges what the database committed (:meth:`Journal.ack`); a segment whose records are
  all acknowledged is deleted. ``checkpoint.json`` remembers the acknowledged sequence (so a restart
  does not rewrite the whole journal) and the event time up to which every record was durable (the
  start of the gap the next start must fill from Asterisk's queue_log).
- The journal is bounded (``max_bytes``). When it cannot write (disk full, read-only file system,
  the bound reached, any I/O error) acd keeps running: records wait in memory (``memory_records``
  at most; beyond that new records are dropped and counted), the writer still feeds the database
  from memory, the failure is logged and exported, and the journal retries by itself, writing what
  it holds once space returns. It never raises into the event loop.
- A segment is opened for each commit and closed after it: acd holds no file open for writing
  between commits, so an operator can remount the file system read-only.
- Spool segments of earlier versions (``*.jsonl`` in the same directory) are moved into the journal
  on first start.

Only one process may own a journal directory (an exclusive ``flock`` on ``LOCK``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog

from acd.store.codec import StoredEffect, dumps, loads
from acd.store.spool import legacy_segments, read_legacy_segment

__all__ = ["Journal", "JournalBusy", "JournalStats"]

log = structlog.get_logger("acd.store.journal")

SUFFIX = ".wal"
CHECKPOINT = "checkpoint.json"
LOCK = "LOCK"
_HEADER = struct.Struct("<II")
_MAX_FRAME = 64 << 20  # a frame longer than this is corruption, not a record
RETRY_MIN, RETRY_MAX = 0.25, 5.0  # retry pace while the journal cannot write
CHECKPOINT_EVERY = 1.0
# Group commit: records arriving within this long of a commit's start go into the next one. Under
# load that is at most 50 fsyncs a second (each costs CPU beside the event loop); a lone record on
# an idle journal is committed at once; a record waits at most this plus one fsync.
COMMIT_SPACING = 0.02

State = Literal["ok", "disk_full", "read_only", "bound", "error"]
Item = tuple[int, StoredEffect]


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


@dataclass(slots=True)
class _Segment:
    path: Path
    first: int
    last: int  # highest seq durable in it (first - 1 while empty)
    size: int  # bytes of valid, durable frames
    sealed: bool = False  # a failed write could not be cut back: append nothing more to it


def _frame(seq: int, effect: StoredEffect) -> bytes:
    payload = dumps(seq, effect).encode()
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _seq_of(payload: bytes) -> int:
    """The sequence number of a frame without decoding its effect (the codec's line starts with it)."""
    if payload.startswith(b'{"seq":'):
        end = payload.find(b",", 7)
        if end > 7:
            return int(payload[7:end])
    return int(json.loads(payload)["seq"])


def _frames(
    path: Path, stop_after: int | None = None, start: int = 0
) -> tuple[list[tuple[int, bytes]], int, bool]:
    """Frames of one segment from byte ``start``, undecoded: ((seq, payload) pairs, the byte after
    the last valid one, whether the segment ended cleanly there)."""
    frames: list[tuple[int, bytes]] = []
    with path.open("rb") as fh:
        if start:
            fh.seek(start)
        data = fh.read()
    pos = 0
    end = len(data)
    while pos + _HEADER.size <= end:
        length, crc = _HEADER.unpack_from(data, pos)
        begin = pos + _HEADER.size
        if length > _MAX_FRAME or begin + length > end:
            return frames, start + pos, False
        payload = data[begin : begin + length]
        if zlib.crc32(payload) != crc:
            return frames, start + pos, False
        try:
            seq = _seq_of(payload)
        except (ValueError, KeyError, TypeError):
            return frames, start + pos, False
        frames.append((seq, payload))
        pos = begin + length
        if stop_after is not None and seq >= stop_after:
            return frames, start + pos, True
    return frames, start + pos, pos == end


def _scan(path: Path, stop_after: int | None = None) -> tuple[list[Item], int, bool]:
    """Records of one segment: (records, bytes of valid frames, whether it ended cleanly)."""
    frames, pos, clean = _frames(path, stop_after)
    return [loads(payload.decode()) for _, payload in frames], pos, clean


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _sync(fd: int) -> None:
    os.fdatasync(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _classify(exc: BaseException) -> State:
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "disk_full"
    if code == errno.EROFS:
        return "read_only"
    return "error"


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
        # Shared with the journal thread (under _cond).
        self._cond = threading.Condition()
        self._pending: list[Item] = []
        self._marks: deque[tuple[int, float]] = deque()
        self._stopping = False
        # Segment index (under _index_lock): the thread appends and deletes, readers look.
        self._index_lock = threading.Lock()
        self._segments: list[_Segment] = []
        # Loop side.
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
        # Thread side (read on the loop for stats: ints and strings only).
        self._thread: threading.Thread | None = None
        self._io_lock = threading.Lock()
        self._state: State = "ok"
        self._commits = 0
        self._failures = 0
        self._last_commit: float | None = None
        self._thread_durable = 0  # highest seq the thread made durable
        self._covered_at: float | None = None  # event time up to which every record is durable
        self._last_seen: float | None = None  # from the checkpoint: the previous run's covered time
        self._degraded_since: float | None = None
        self._lock_fd: int | None = None
        self._cursor: tuple[Path | None, int, int] = (None, 0, 0)  # reader: (segment, seq, byte after it)
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
        acked, self._last_seen = self._read_checkpoint()
        highest = acked
        for path in sorted(self.directory.glob("*" + SUFFIX)):
            try:
                first = int(path.stem)
            except ValueError:
                continue
            items, size, clean = _frames(path)
            if not clean:
                log.warning("journal_torn_tail", segment=path.name, kept=len(items))
            last = items[-1][0] if items else first - 1
            if items and items[-1][0] <= acked:
                path.unlink()
                continue
            if not items:
                path.unlink()
                continue
            if not clean:
                with contextlib.suppress(OSError):
                    os.truncate(path, size)
            self._segments.append(_Segment(path, first, last, size))
            highest = max(highest, last)
        for leftover in self.directory.glob("*.tmp"):
            leftover.unlink(missing_ok=True)
        self._acked = acked
        self._next_seq = highest + 1
        self._durable = self._thread_durable = highest
        self._disk_only_upto = highest
        self._covered_at = self._last_seen
        self._migrate_legacy_spool()
        self._thread = threading.Thread(target=self._run, name="acd-journal", daemon=True)
        self._thread.start()
        return self.depth

    def _migrate_legacy_spool(self) -> None:
        """Spool segments of earlier versions become journal records (then the segments go)."""
        paths = legacy_segments(self.directory)
        if not paths:
            return
        moved = 0
        items: list[Item] = []
        for path in paths:
            try:
                records = read_legacy_segment(path)
            except ValueError as exc:
                log.error("journal_legacy_spool_unreadable", segment=path.name, error=str(exc))
                continue
            for _, effect in records:
                items.append((self._next_seq, effect))
                self._next_seq += 1
            moved += len(records)
        if items:
            self._write_sync(items)
            self._durable = self._thread_durable
            self._disk_only_upto = items[-1][0]
        for path in paths:
            if path.exists():
                path.unlink()
        _fsync_dir(self.directory)
        log.info("journal_spool_migrated", segments=len(paths), records=moved)

    async def close(self, timeout: float = 10.0) -> None:
        """Write what waits, fsync, checkpoint and stop the thread (SIGTERM). What the disk cannot
        take by ``timeout`` is lost with the process and logged."""
        if self._closed:
            return
        self._closed = True
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        thread = self._thread
        if thread is not None:
            await asyncio.to_thread(thread.join, timeout)
        if self._loop is not None:
            # Reports the thread queued for the loop just before it stopped.
            await asyncio.sleep(0)
        unsynced = len(self._pending)
        if unsynced:
            log.error("journal_lost_at_exit", records=unsynced, state=self._state)
        self._release()

    def _release(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    def flush_sync(self, timeout: float) -> int:
        """Write and fsync what waits, from the calling thread, giving up after ``timeout``: the
        last thing a forced exit does. Returns how many records stayed unwritten."""
        if not self._io_lock.acquire(timeout=timeout):
            return len(self._pending)
        try:
            with self._cond:
                batch, self._pending = self._pending, []
            with contextlib.suppress(OSError):
                if batch:
                    self._commit(batch)
            return len(self._pending)
        finally:
            self._io_lock.release()

    # ------------------------------------------------------------------ the loop's side

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
            if len(mem) >= self.memory_records and self._state != "ok":
                self._drop()
                return None
        seq = self._next_seq
        self._next_seq = seq + 1
        mem.append((seq, effect))
        with self._cond:
            self._pending.append((seq, effect))
            if len(self._pending) == 1:
                self._cond.notify()
        if self._grown is not None:
            self._grown.set()
        return seq

    def _append_after_close(self, effect: StoredEffect) -> int | None:
        """Late records during shutdown: written at once, from the caller's thread."""
        seq = self._next_seq
        self._next_seq += 1
        try:
            self._write_sync([(seq, effect)])
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
                state=self._state,
                kept_in_memory=len(self._mem),
            )

    def mark(self, at: float) -> None:
        """Every record from events up to event time ``at`` has been appended: once they are
        durable, ``at`` is where the next start's gap begins."""
        with self._cond:
            self._marks.append((self._next_seq - 1, at))

    async def read(self, after: int, limit: int) -> list[Item]:
        """Up to ``limit`` records with a sequence number above ``after``, in order."""
        out: list[Item] = []
        after = start = max(after, self._acked)  # acknowledged records are gone
        while after < self._disk_only_upto and len(out) < limit:
            upto = min(self._disk_only_upto, after + limit - len(out))
            items, unreadable = await asyncio.to_thread(self._read_disk, after, upto)
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
        with self._cond:
            self._cond.notify()

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
        return self._state == "ok"

    @property
    def state(self) -> State:
        return self._state

    @property
    def last_seen(self) -> float | None:
        """Event time up to which the previous run had made every record durable (None: unknown,
        e.g. the first start)."""
        return self._last_seen

    def on_state(self, callback: Callable[[State], None]) -> None:
        """Call ``callback(state)`` on the loop when the journal starts or stops failing."""
        self._on_state.append(callback)

    def stats(self) -> JournalStats:
        with self._index_lock:
            size = sum(s.size for s in self._segments)
        depth = self.depth
        unsynced = max(0, self._next_seq - 1 - max(self._durable, self._acked))
        return JournalStats(
            depth=depth,
            on_disk=max(0, depth - unsynced),
            in_memory_only=unsynced,
            bytes=size,
            dropped=self._dropped,
            commits=self._commits,
            failures=self._failures,
            state=self._state,
            last_commit_seconds=self._last_commit,
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
        loop = self._loop
        if loop is None or loop.is_closed():
            if durable > self._durable:
                self._durable = durable
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._report, durable, state)

    # ------------------------------------------------------------------ the journal thread

    def _run(self) -> None:
        delay = RETRY_MIN
        last_checkpoint = 0.0
        checkpointed: tuple[int, float | None] = (self._acked, self._covered_at)
        while True:
            with self._cond:
                if not self._pending and not self._stopping:
                    self._cond.wait(timeout=0.5)
                stopping = self._stopping
                batch, self._pending = self._pending, []
            failed = False
            with self._io_lock:
                acked = self._acked
                batch = [item for item in batch if item[0] > acked]
                started = time.monotonic()
                if batch:
                    try:
                        self._commit(batch)
                    except OSError as exc:
                        self._failed(exc)
                        failed = True
                    else:
                        delay = RETRY_MIN
                        self._recovered()
                self._cover()
                self._delete_acknowledged(everything=stopping)
                if not batch and self._state != "ok":
                    failed = not self._probe()
                now = time.monotonic()
                state = (self._acked, self._covered_at)
                if state != checkpointed and (stopping or now - last_checkpoint >= CHECKPOINT_EVERY):
                    with contextlib.suppress(OSError):
                        self._write_checkpoint(*state)
                        checkpointed, last_checkpoint = state, now
            if stopping and (failed or not self._pending_count()):
                return
            if failed:
                self._sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
            elif batch:
                self._wait_until(started + COMMIT_SPACING)

    def _wait_until(self, deadline: float) -> None:
        """Let records gather for the next commit (a stop request ends the wait)."""
        with self._cond:
            while not self._stopping and (rest := deadline - time.monotonic()) > 0:
                self._cond.wait(timeout=rest)

    def _pending_count(self) -> int:
        with self._cond:
            return len(self._pending)

    def _sleep(self, seconds: float) -> None:
        with self._cond:
            if not self._stopping:
                self._cond.wait(timeout=seconds)

    def _commit(self, batch: list[Item]) -> None:
        """Write ``batch`` and fsync (journal thread, or a forced exit holding ``_io_lock``). On an
        error what was made durable stays so and the rest goes back to the front of the queue."""
        started = time.perf_counter()
        done = 0
        try:
            while done < len(batch):
                done += self._write_piece(batch[done:])
        except OSError:
            with self._cond:
                self._pending[:0] = batch[done:]
            raise
        finally:
            if done:
                self._last_commit = time.perf_counter() - started
                self._commits += 1
                self._notify_loop(batch[done - 1][0], "ok")

    def _write_sync(self, batch: list[Item]) -> None:
        """All of ``batch``, durably, or ``OSError`` (start-up and after close only)."""
        done = 0
        while done < len(batch):
            done += self._write_piece(batch[done:])

    def _write_piece(self, items: list[Item]) -> int:
        """Write and fsync as many of ``items`` as fit in the active segment (or a new one) and
        under the size bound; returns how many (at least one), or raises ``OSError``."""
        with self._index_lock:
            total = sum(s.size for s in self._segments)
            active = self._segments[-1] if self._segments else None
        created = active is None or active.sealed or active.size >= self.segment_bytes
        if created:
            first = items[0][0]
            path = self.directory / f"{first:020d}{SUFFIX}"
            active = _Segment(path, first, first - 1, 0)
        assert active is not None
        room = min(self.segment_bytes - active.size, self.max_bytes - total)
        frames: list[bytes] = []
        size = 0
        for seq, effect in items:
            frame = _frame(seq, effect)
            if frames and size + len(frame) > room:
                break
            frames.append(frame)
            size += len(frame)
        if total + size > self.max_bytes:
            raise OSError(errno.EFBIG, "journal size bound reached")
        if created:
            active.path.unlink(missing_ok=True)  # an earlier failed attempt left nothing durable
        fd = os.open(active.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            try:
                _write_all(fd, b"".join(frames))
                _sync(fd)
            except OSError:
                # Cut what did not make it. If even that fails, nothing more goes into this
                # segment: readers stop at a torn frame and skip sequence numbers seen before.
                try:
                    os.ftruncate(fd, active.size)
                    os.fdatasync(fd)
                except OSError:
                    active.sealed = True
                raise
        finally:
            os.close(fd)
        if created:
            _fsync_dir(self.directory)
        last = items[len(frames) - 1][0]
        with self._index_lock:
            active.size += size
            active.last = last
            if created:
                self._segments.append(active)
        self._thread_durable = last
        return len(frames)

    def _failed(self, exc: OSError) -> None:
        self._failures += 1
        state: State = "bound" if exc.errno == errno.EFBIG else _classify(exc)
        now = time.monotonic()
        changed = state != self._state
        if self._state == "ok":
            self._degraded_since = now
            log.error(
                "journal_cannot_write",
                reason=state,
                error=f"{type(exc).__name__}: {exc}",
                waiting_in_memory=self._pending_count(),
                hint="records are kept in memory and written to the database; acd retries by itself",
            )
        elif self._failures % 20 == 0:
            log.warning(
                "journal_still_cannot_write",
                reason=state,
                waiting_in_memory=self._pending_count(),
                dropped=self._dropped,
                for_seconds=round(now - (self._degraded_since or now), 1),
            )
        self._state = state
        if changed:
            self._notify_loop(self._thread_durable, state)

    def _probe(self) -> bool:
        """Nothing waits to be written (the database took it all from memory), so whether the
        journal can write again is learnt without a record: its size under the bound, or a
        checkpoint written and synced. (Declaring recovery just because nothing waits would say
        "ok" on a disk that is still full, and flap with every record.)"""
        if self._state == "bound":
            with self._index_lock:
                if sum(s.size for s in self._segments) >= self.max_bytes:
                    return False
        else:
            try:
                self._write_checkpoint(self._acked, self._covered_at)
            except OSError as exc:
                self._failed(exc)
                return False
        self._recovered()
        return True

    def _recovered(self) -> None:
        if self._state == "ok":
            return
        since = self._degraded_since
        self._state = "ok"
        self._degraded_since = None
        log.warning(
            "journal_recovered",
            after_seconds=round(time.monotonic() - since, 1) if since is not None else None,
            dropped=self._dropped,
        )
        self._notify_loop(self._thread_durable, "ok")

    def _cover(self) -> None:
        """Advance the covered event time over marks whose records are all durable (or already in
        the database). Once a record was dropped it stops: the next start then reads Asterisk's
        queue_log from before the first drop, and the dropped calls come back from there."""
        durable = max(self._thread_durable, self._acked)
        with self._cond:
            marks = self._marks
            while marks and marks[0][0] <= durable:
                _, at = marks.popleft()
                if self._dropped:
                    marks.clear()
                    return
                if self._covered_at is None or at > self._covered_at:
                    self._covered_at = at

    def _delete_acknowledged(self, *, everything: bool = False) -> None:
        acked = self._acked
        with self._index_lock:
            if not self._segments:
                return
            last = self._segments[-1]
            done = [s for s in self._segments if s.last <= acked and (s is not last or s.sealed)]
            # The active segment goes too once everything in it is acknowledged and it is full,
            # while the journal is failing (give the space back), or at the end.
            if (
                last.last <= acked
                and last not in done
                and (everything or last.size >= self.segment_bytes or self._state != "ok")
            ):
                done.append(last)
            if not done:
                return
            self._segments = [s for s in self._segments if s not in done]
        for segment in done:
            with contextlib.suppress(OSError):
                segment.path.unlink()

    # ------------------------------------------------------------------ reading from disk

    def _read_disk(self, after: int, upto: int) -> tuple[list[Item], list[tuple[int, str]]]:
        """Records with after < seq <= upto from the segments (reader thread), and how many frames
        there could not be decoded (skipped, logged, counted as dropped). The writer reads in
        order, so where the last read stopped is remembered: each frame is read once."""
        with self._index_lock:
            segments = [s for s in self._segments if s.last > after and s.first <= upto]
        out: list[Item] = []
        unreadable: list[tuple[int, str]] = []
        seen = after
        for segment in segments:
            path, cursor_seq, cursor_pos = self._cursor
            start = cursor_pos if path == segment.path and cursor_seq <= seen else 0
            try:
                frames, pos, clean = _frames(segment.path, stop_after=upto, start=start)
            except FileNotFoundError:
                continue
            if not clean and (not frames or frames[-1][0] < min(segment.last, upto)):
                log.error("journal_corrupt_segment", segment=segment.path.name, readable=len(frames))
            if frames:
                self._cursor = (segment.path, frames[-1][0], pos)
            for seq, payload in frames:
                if seen < seq <= upto:
                    try:
                        out.append(loads(payload.decode()))
                    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
                        unreadable.append((seq, f"{segment.path.name}: {exc}"))
                    seen = seq
            if seen >= upto:
                break
        return out, unreadable

    # ------------------------------------------------------------------ checkpoint

    def _read_checkpoint(self) -> tuple[int, float | None]:
        path = self.directory / CHECKPOINT
        try:
            data = json.loads(path.read_text())
            acked = int(data.get("acked", 0))
            seen = data.get("covered_at")
            return acked, float(seen) if seen is not None else None
        except FileNotFoundError:
            return 0, None
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("journal_checkpoint_unreadable", error=str(exc))
            return 0, None

    def _write_checkpoint(self, acked: int, covered_at: float | None) -> None:
        path = self.directory / CHECKPOINT
        tmp = path.with_suffix(".tmp")
        body = json.dumps({"acked": acked, "covered_at": covered_at}).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
