"""Spool segments of earlier acd versions, moved into the journal on its first start.

Earlier versions kept records the database could not take in ``<first seq, 20 digits>.jsonl``
files, one ``{"seq": n, "effect": {...}}`` line per record, in the directory that now holds the
journal (``ACD_DATABASE__SPOOL_DIR``). An upgrade must not lose them: :func:`move_in` gives them
journal sequence numbers, writes them durably, and only then deletes the old files. A segment that
cannot be read is renamed ``.bad`` and kept for the operator, never silently dropped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import structlog

from acd.store.codec import StoredEffect, loads
from acd.store.journal import disk
from acd.store.journal.frames import Item

__all__ = ["legacy_segments", "move_in", "read_legacy_segment"]

log = structlog.get_logger("acd.store.journal")

SUFFIX = ".jsonl"


def legacy_segments(directory: Path) -> list[Path]:
    """The old spool's segments, in the order their records were submitted."""
    return sorted(p for p in directory.glob("*" + SUFFIX) if p.stem.isdigit())


def read_legacy_segment(path: Path) -> list[tuple[int, StoredEffect]]:
    """Its records; raises ``ValueError`` after setting an unreadable segment aside as ``.bad``."""
    try:
        text = path.read_text()
        return [loads(line) for line in text.splitlines() if line.strip()]
    except (ValueError, KeyError, TypeError) as exc:
        bad = path.with_suffix(".bad")
        os.replace(path, bad)
        raise ValueError(f"spool segment {path.name} unreadable ({exc}); kept as {bad.name}") from None


def move_in(directory: Path, first_seq: int, write: Callable[[list[Item]], None]) -> int:
    """Number the old spool's records from ``first_seq`` on, ``write`` them (durably, or
    ``OSError``), then delete the old segments. Returns how many records moved in."""
    paths = legacy_segments(directory)
    if not paths:
        return 0
    items: list[Item] = []
    for path in paths:
        try:
            records = read_legacy_segment(path)
        except ValueError as exc:
            log.error("journal_legacy_spool_unreadable", segment=path.name, error=str(exc))
            continue
        for _, effect in records:
            items.append((first_seq + len(items), effect))
    if items:
        write(items)
    for path in paths:
        if path.exists():
            path.unlink()
    disk.fsync_dir(directory)
    log.info("journal_spool_migrated", segments=len(paths), records=len(items))
    return len(items)
