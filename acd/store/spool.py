"""Spool segments of earlier acd versions, read once so the journal can take their records over.

Earlier versions kept records the database could not take in ``<first seq, 20 digits>.jsonl``
files, one ``{"seq": n, "effect": {...}}`` line per record, in the directory that now holds the
journal (``ACD_DATABASE__SPOOL_DIR``). :class:`acd.store.journal.Journal` moves them in on its
first start and deletes them; a segment that cannot be read is renamed ``.bad`` and kept for the
operator, never silently dropped.
"""

from __future__ import annotations

import os
from pathlib import Path

from acd.store.codec import StoredEffect, loads

__all__ = ["legacy_segments", "read_legacy_segment"]

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
