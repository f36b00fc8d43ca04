"""The on-disk spool: records that could not reach the database yet, in order, durable.

Layout: one segment file per spill, ``<first seq, 20 digits>.jsonl``, each line
``{"seq": n, "effect": {...}}``. A segment is written to a ``.tmp`` name, fsync'd, renamed and the
directory fsync'd, so a reader never sees half a segment and a crash never leaves a torn line.
Segments sort by their first sequence number, which is the order the records were submitted in; a
segment is deleted only after all its records are committed. A segment that cannot be read is
renamed ``.bad`` and kept for the operator (never silently dropped).

All methods are blocking file I/O: the writer calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from acd.store.codec import StoredEffect, dumps, loads

__all__ = ["Spool", "SpoolCorrupt"]

SUFFIX = ".jsonl"


class SpoolCorrupt(Exception):
    """A segment could not be decoded; it was set aside as ``<name>.bad``."""


class Spool:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._counts: dict[Path, int] = {}
        self._last_seq = 0
        for path in self._list():
            with path.open("rb") as handle:
                lines = sum(1 for line in handle if line.strip())
            self._counts[path] = lines
            self._last_seq = max(self._last_seq, int(path.stem) + lines)
        for leftover in self.directory.glob("*.tmp"):
            leftover.unlink()  # a spill interrupted before its rename: its records were still in memory

    @property
    def last_seq(self) -> int:
        """Highest sequence number that may be on disk (new submissions must number above it)."""
        return self._last_seq

    def _list(self) -> list[Path]:
        return sorted(self.directory.glob("*" + SUFFIX))

    def count(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def segments(self) -> list[Path]:
        with self._lock:
            return sorted(self._counts)

    def append(self, items: Sequence[tuple[int, StoredEffect]]) -> Path | None:
        """Write ``items`` (ascending seq) as one durable segment."""
        if not items:
            return None
        first = items[0][0]
        final = self.directory / f"{first:020d}{SUFFIX}"
        tmp = final.with_suffix(".tmp")
        data = "".join(dumps(seq, effect) + "\n" for seq, effect in items).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if final.exists():  # the same records spooled twice (a retried spill): keep one copy
            tmp.unlink()
            return final
        os.replace(tmp, final)
        self._fsync_dir()
        with self._lock:
            self._counts[final] = len(items)
            self._last_seq = max(self._last_seq, items[-1][0])
        return final

    def read(self, path: Path) -> list[tuple[int, StoredEffect]]:
        try:
            text = path.read_text()
            return [loads(line) for line in text.splitlines() if line.strip()]
        except (ValueError, KeyError, TypeError) as exc:
            bad = path.with_suffix(".bad")
            os.replace(path, bad)
            with self._lock:
                self._counts.pop(path, None)
            raise SpoolCorrupt(f"spool segment {path.name} unreadable ({exc}); kept as {bad.name}") from None

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self._fsync_dir()
        with self._lock:
            self._counts.pop(path, None)

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
