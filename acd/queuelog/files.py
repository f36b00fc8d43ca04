"""Reading Asterisk's queue_log file and its rotated copies (the I/O edge; parsing is acd.core.queuelog).

Asterisk appends to ``queue_log`` (``/var/log/asterisk/queue_log`` by default; with realtime
queue_log only when ``queue_log_to_file=yes``). logrotate or Asterisk's own ``logger rotate`` move
it aside as ``queue_log.1``, ``queue_log.2.gz``, ``queue_log-20260105(.gz)``, ``queue_log.<epoch>``
... The name says little about the order across strategies, so the copies are ordered by the time
of their first line. A read of the lines since a moment takes the newest copy that begins at or
before it and every newer one, so a rotation in the middle of a gap loses nothing; within the plain
current file it seeks by bisection (lines are in time order), so a big file costs little. A line
seen twice (``copytruncate`` copies before it truncates) is read once.

All functions are blocking file I/O: the daemon calls them from a worker thread.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from acd.core.queuelog import QueueLogFacts, parse_line, read_facts

__all__ = ["QueueLogRead", "first_timestamp", "iter_file_lines", "load_facts", "read_since", "rotations"]

_HEAD_BYTES = 64 << 10


@dataclass(frozen=True, slots=True)
class QueueLogRead:
    lines: list[str]
    files: list[Path]  # what was read, oldest first
    covers_start: bool  # a file began at or before the start asked for (nothing older is missing)


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile reads as IO[bytes]
    return path.open("rb")


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def first_timestamp(path: Path) -> int | None:
    """Time of the first queue_log line of ``path`` (plain or gzip), None when there is none."""
    try:
        with _open(path) as fh:
            head = fh.read(_HEAD_BYTES)
    except (OSError, EOFError):
        return None
    for raw in head.splitlines():
        line = parse_line(_decode(raw))
        if line is not None:
            return line.at
    return None


def rotations(path: Path) -> list[Path]:
    """``path``'s rotated copies, oldest first (by their first line), then ``path`` itself when it
    exists."""
    parent, name = path.parent, path.name
    copies: list[tuple[int, str, Path]] = []
    try:
        candidates = [p for p in parent.iterdir() if p.name.startswith((name + ".", name + "-"))]
    except OSError:
        candidates = []
    for p in candidates:
        if p == path or not p.is_file() or p.name.endswith((".tmp", ".lock")):
            continue
        at = first_timestamp(p)
        if at is not None:
            copies.append((at, p.name, p))
    out = [p for _, _, p in sorted(copies)]
    if path.exists():
        out.append(path)
    return out


def iter_file_lines(path: Path, start: float | None = None) -> Iterator[str]:
    """The lines of one file (plain or gzip); in a plain file, from about ``start`` on."""
    with _open(path) as fh:
        if start is not None and path.suffix != ".gz":
            _seek(fh, start)
        for raw in fh:
            yield _decode(raw)


def _seek(fh: IO[bytes], start: float) -> None:
    """Position ``fh`` at a line boundary at or before the first line dated ``start`` or later."""
    size = fh.seek(0, os.SEEK_END)
    lo, hi = 0, size
    while hi - lo > 4096:
        mid = (lo + hi) // 2
        fh.seek(mid)
        fh.readline()  # to the next line boundary
        at = None
        for _ in range(8):  # skip a few unreadable lines
            raw = fh.readline()
            if not raw:
                break
            line = parse_line(_decode(raw))
            if line is not None:
                at = line.at
                break
        if at is None or at >= start:
            hi = mid
        else:
            lo = mid
    fh.seek(lo)
    if lo:
        fh.readline()


def read_since(path: Path, start: float | None) -> QueueLogRead:
    """Every line dated ``start`` or later (all lines with ``start`` None), across rotations."""
    files = rotations(path)
    chosen = files
    covers = start is None
    if start is not None:
        begins = [(p, first_timestamp(p)) for p in files]
        older = [i for i, (_, at) in enumerate(begins) if at is not None and at <= start]
        if older:
            chosen = files[older[-1] :]
            covers = True
    lines: list[str] = []
    seen: set[str] = set()
    for p in chosen:
        try:
            for text in iter_file_lines(p, start):
                if text in seen:
                    continue
                seen.add(text)
                if start is not None:
                    line = parse_line(text)
                    if line is not None and line.at < start:
                        continue
                lines.append(text)
        except (OSError, EOFError):
            continue  # a copy rotated away or truncated under us: what was read stays
    return QueueLogRead(lines, chosen, covers)


def load_facts(path: Path, since: float | None) -> QueueLogFacts | None:
    """The facts of every line since ``since`` (None: the file cannot be read, or is missing)."""
    if not path.is_file():
        return None
    try:
        with path.open("rb"):
            pass
    except OSError:
        return None
    return read_facts(read_since(path, since).lines)
