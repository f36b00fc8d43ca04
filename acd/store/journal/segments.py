"""The journal's segment files: which exist, which one takes the next commit, the size bound, and
reading them back in order.

Why segments: the journal is forgotten from the front as the database commits records and grows at
the back as calls end, so it is a run of files, ``<first seq, 20 digits>.wal``, each holding frames
(``acd.store.journal.frames``) in sequence order. A new segment starts when the active one reaches
``segment_bytes``; a segment whose records are all acknowledged is deleted whole (the active one
only once it is full, while the journal is failing, or at the end). All segments together never
exceed ``max_bytes``: an append that would is refused with ``EFBIG``, which the journal treats like a
full disk. A segment is opened for each append and closed after it, so acd holds no file open for
writing between commits and an operator can remount the file system read-only.

The index is shared between the journal thread (appends, deletes) and the reader (the writer's
reads, in a worker thread): it is kept under one lock, and files are read outside it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import structlog

from acd.store.codec import loads
from acd.store.journal import disk, frames
from acd.store.journal.frames import Item

__all__ = ["SUFFIX", "Segment", "Segments"]

log = structlog.get_logger("acd.store.journal")

SUFFIX = ".wal"


@dataclass(slots=True)
class Segment:
    path: Path
    first: int
    last: int  # highest seq durable in it (first - 1 while empty)
    size: int  # bytes of valid, durable frames
    sealed: bool = False  # a failed write could not be cut back: append nothing more to it


class Segments:
    """The segment files of one journal directory."""

    def __init__(self, directory: Path, *, max_bytes: int, segment_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._segments: list[Segment] = []
        self._cursor: tuple[Path | None, int, int] = (None, 0, 0)  # reader: (segment, seq, byte after it)

    def recover(self, acked: int) -> int:
        """Take over what a previous run left: torn tails cut, segments holding only acknowledged
        records deleted. Returns the highest sequence number on disk (``acked`` if none is higher)."""
        highest = acked
        for path in sorted(self.directory.glob("*" + SUFFIX)):
            try:
                first = int(path.stem)
            except ValueError:
                continue
            items, size, clean = frames.read_frames(path)
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
            self._segments.append(Segment(path, first, last, size))
            highest = max(highest, last)
        return highest

    def total(self) -> int:
        """Bytes of all segments' valid frames (what the size bound counts)."""
        with self._lock:
            return sum(s.size for s in self._segments)

    def append(self, items: list[Item]) -> int:
        """Write and fsync as many of ``items`` as fit in the active segment (or a new one) and
        under the size bound; returns how many (at least one), or raises ``OSError``."""
        with self._lock:
            total = sum(s.size for s in self._segments)
            active = self._segments[-1] if self._segments else None
        created = active is None or active.sealed or active.size >= self.segment_bytes
        if created:
            first = items[0][0]
            path = self.directory / f"{first:020d}{SUFFIX}"
            active = Segment(path, first, first - 1, 0)
        assert active is not None
        room = min(self.segment_bytes - active.size, self.max_bytes - total)
        chunk: list[bytes] = []
        size = 0
        for seq, effect in items:
            frame = frames.encode(seq, effect)
            if chunk and size + len(frame) > room:
                break
            chunk.append(frame)
            size += len(frame)
        if total + size > self.max_bytes:
            raise OSError(errno.EFBIG, "journal size bound reached")
        if created:
            active.path.unlink(missing_ok=True)  # an earlier failed attempt left nothing durable
        fd = os.open(active.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            try:
                disk.write_all(fd, b"".join(chunk))
                disk.sync(fd)
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
            disk.fsync_dir(self.directory)
        with self._lock:
            active.size += size
            active.last = items[len(chunk) - 1][0]
            if created:
                self._segments.append(active)
        return len(chunk)

    def delete_acknowledged(self, acked: int, *, everything: bool, failing: bool) -> None:
        """Delete the segments whose records are all acknowledged (up to ``acked``)."""
        with self._lock:
            if not self._segments:
                return
            last = self._segments[-1]
            done = [s for s in self._segments if s.last <= acked and (s is not last or s.sealed)]
            # The active segment goes too once everything in it is acknowledged and it is full,
            # while the journal is failing (give the space back), or at the end.
            if (
                last.last <= acked
                and last not in done
                and (everything or last.size >= self.segment_bytes or failing)
            ):
                done.append(last)
            if not done:
                return
            self._segments = [s for s in self._segments if s not in done]
        for segment in done:
            with contextlib.suppress(OSError):
                segment.path.unlink()

    def read(self, after: int, upto: int) -> tuple[list[Item], list[tuple[int, str]]]:
        """Records with after < seq <= upto (a worker thread), and the frames there that could not
        be decoded (seq, why). The writer reads in order, so where the last read stopped is
        remembered: each frame is read once."""
        with self._lock:
            segments = [s for s in self._segments if s.last > after and s.first <= upto]
        out: list[Item] = []
        unreadable: list[tuple[int, str]] = []
        seen = after
        for segment in segments:
            path, cursor_seq, cursor_pos = self._cursor
            start = cursor_pos if path == segment.path and cursor_seq <= seen else 0
            try:
                found, pos, clean = frames.read_frames(segment.path, stop_after=upto, start=start)
            except FileNotFoundError:
                continue
            if not clean and (not found or found[-1][0] < min(segment.last, upto)):
                log.error("journal_corrupt_segment", segment=segment.path.name, readable=len(found))
            if found:
                self._cursor = (segment.path, found[-1][0], pos)
            for seq, payload in found:
                if seen < seq <= upto:
                    try:
                        out.append(loads(payload.decode()))
                    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
                        unreadable.append((seq, f"{segment.path.name}: {exc}"))
                    seen = seq
            if seen >= upto:
                break
        return out, unreadable
