"""The journal's own thread: group commit, so the event loop never waits on the disk.

The loop hands records over (:meth:`GroupCommit.submit`, O(1) under a condition); this thread
writes whatever waits to the segments and fdatasyncs it in one go. Whatever arrives while one
commit runs, or within ``COMMIT_SPACING`` of its start, goes into the next: under load that is at
most 50 fsyncs a second (each costs CPU beside the event loop), a lone record on an idle journal
is committed at once, and a record waits for its fsync at most that spacing plus two fsync times
(bench/bench_journal.py measures it).

Around the commits the thread also deletes acknowledged segments, advances the event time the
journal covers (from the loop's marks) and writes the checkpoint at most once a second. When a
commit fails the records go back to the front of the queue and the thread retries with back-off
(``RETRY_MIN`` to ``RETRY_MAX``); when nothing waits it learns whether the disk is back by writing
the checkpoint. What it achieves it reports to the loop through ``report(durable, state)``; it
never raises into the loop.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from acd.store.journal import checkpoint
from acd.store.journal.frames import Item
from acd.store.journal.health import Health, State
from acd.store.journal.segments import Segments

__all__ = ["COMMIT_SPACING", "GroupCommit"]

RETRY_MIN, RETRY_MAX = 0.25, 5.0  # retry pace while the journal cannot write
CHECKPOINT_EVERY = 1.0
# Group commit: records arriving within this long of a commit's start go into the next one. Under
# load that is at most 50 fsyncs a second (each costs CPU beside the event loop); a lone record on
# an idle journal is committed at once; a record waits at most this plus one fsync.
COMMIT_SPACING = 0.02


class GroupCommit:
    """The thread and what it shares with the loop. ``acked`` and ``dropped`` read the loop's
    counts (plain ints); ``report`` must be safe to call from this thread."""

    def __init__(
        self,
        directory: Path,
        segments: Segments,
        *,
        acked: Callable[[], int],
        dropped: Callable[[], int],
        report: Callable[[int, State], None],
    ) -> None:
        self.directory = directory
        self.segments = segments
        self._acked = acked
        self._dropped = dropped
        self._report = report
        # Shared with the loop (under cond).
        self.cond = threading.Condition()
        self._pending: list[Item] = []
        self._marks: deque[tuple[int, float]] = deque()
        self._stopping = False
        # The thread's own (read on the loop for stats: ints and strings only).
        self._thread: threading.Thread | None = None
        self._io_lock = threading.Lock()
        self.health = Health(waiting=self.waiting, dropped=dropped)
        self.commits = 0
        self.last_commit: float | None = None
        self.durable = 0  # highest seq made durable
        self.covered_at: float | None = None  # event time up to which every record is durable

    # ------------------------------------------------------------------ the loop's side

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="acd-journal", daemon=True)
        self._thread.start()

    def submit(self, item: Item) -> None:
        with self.cond:
            self._pending.append(item)
            if len(self._pending) == 1:
                self.cond.notify()

    def mark(self, seq: int, at: float) -> None:
        """Records up to ``seq`` carry the events up to event time ``at``."""
        with self.cond:
            self._marks.append((seq, at))

    def wake(self) -> None:
        """Something was acknowledged: segments may go."""
        with self.cond:
            self.cond.notify()

    def stop(self) -> None:
        """Write what waits, checkpoint, then end (the thread gives up early only while failing)."""
        with self.cond:
            self._stopping = True
            self.cond.notify_all()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def started(self) -> bool:
        return self._thread is not None

    def waiting(self) -> int:
        """Records handed over and not written yet."""
        with self.cond:
            return len(self._pending)

    def flush(self, timeout: float) -> int:
        """Write and fsync what waits, from the calling thread, giving up after ``timeout``: the
        last thing a forced exit does. Returns how many records stayed unwritten."""
        if not self._io_lock.acquire(timeout=timeout):
            return len(self._pending)
        try:
            with self.cond:
                batch, self._pending = self._pending, []
            with contextlib.suppress(OSError):
                if batch:
                    self._commit(batch)
            return len(self._pending)
        finally:
            self._io_lock.release()

    def write_now(self, batch: list[Item]) -> None:
        """All of ``batch``, durably, or ``OSError`` (start-up and after close only)."""
        done = 0
        while done < len(batch):
            done += self._write_piece(batch[done:])

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        delay = RETRY_MIN
        last_checkpoint = 0.0
        checkpointed: tuple[int, float | None] = (self._acked(), self.covered_at)
        while True:
            with self.cond:
                if not self._pending and not self._stopping:
                    self.cond.wait(timeout=0.5)
                stopping = self._stopping
                batch, self._pending = self._pending, []
            failed = False
            with self._io_lock:
                acked = self._acked()
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
                self.segments.delete_acknowledged(
                    self._acked(), everything=stopping, failing=self.health.state != "ok"
                )
                if not batch and self.health.state != "ok":
                    failed = not self._probe()
                now = time.monotonic()
                state = (self._acked(), self.covered_at)
                if state != checkpointed and (stopping or now - last_checkpoint >= CHECKPOINT_EVERY):
                    with contextlib.suppress(OSError):
                        checkpoint.write(self.directory, *state)
                        checkpointed, last_checkpoint = state, now
            if stopping and (failed or not self.waiting()):
                return
            if failed:
                self._sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
            elif batch:
                self._wait_until(started + COMMIT_SPACING)

    def _wait_until(self, deadline: float) -> None:
        """Let records gather for the next commit (a stop request ends the wait)."""
        with self.cond:
            while not self._stopping and (rest := deadline - time.monotonic()) > 0:
                self.cond.wait(timeout=rest)

    def _sleep(self, seconds: float) -> None:
        with self.cond:
            if not self._stopping:
                self.cond.wait(timeout=seconds)

    def _commit(self, batch: list[Item]) -> None:
        """Write ``batch`` and fsync (the thread, or a forced exit holding ``_io_lock``). On an
        error what was made durable stays so and the rest goes back to the front of the queue."""
        started = time.perf_counter()
        done = 0
        try:
            while done < len(batch):
                done += self._write_piece(batch[done:])
        except OSError:
            with self.cond:
                self._pending[:0] = batch[done:]
            raise
        finally:
            if done:
                self.last_commit = time.perf_counter() - started
                self.commits += 1
                self._report(batch[done - 1][0], "ok")

    def _write_piece(self, items: list[Item]) -> int:
        written = self.segments.append(items)
        self.durable = items[written - 1][0]
        return written

    def _failed(self, exc: OSError) -> None:
        if self.health.failed(exc):
            self._report(self.durable, self.health.state)

    def _recovered(self) -> None:
        if self.health.recovered():
            self._report(self.durable, "ok")

    def _probe(self) -> bool:
        """Nothing waits to be written (the database took it all from memory), so whether the
        journal can write again is learnt without a record: its size under the bound, or a
        checkpoint written and synced. (Declaring recovery just because nothing waits would say
        "ok" on a disk that is still full, and flap with every record.)"""
        if self.health.state == "bound":
            if self.segments.total() >= self.segments.max_bytes:
                return False
        else:
            try:
                checkpoint.write(self.directory, self._acked(), self.covered_at)
            except OSError as exc:
                self._failed(exc)
                return False
        self._recovered()
        return True

    def _cover(self) -> None:
        """Advance the covered event time over marks whose records are all durable (or already in
        the database). Once a record was dropped it stops: the next start then reads Asterisk's
        queue_log from before the first drop, and the dropped calls come back from there."""
        durable = max(self.durable, self._acked())
        with self.cond:
            marks = self._marks
            while marks and marks[0][0] <= durable:
                _, at = marks.popleft()
                if self._dropped():
                    marks.clear()
                    return
                if self.covered_at is None or at > self.covered_at:
                    self.covered_at = at
