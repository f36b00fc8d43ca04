"""``checkpoint.json``: what the journal remembers between runs beside its records.

Two numbers: the sequence number the database has acknowledged up to (so a restart does not feed
the whole journal to the database again), and the event time up to which every record was durable
(where the next start's gap, filled from Asterisk's queue_log, begins). It is written to a
temporary file, synced and renamed over the old one, so a crash leaves one checkpoint or the other,
never half of one; the temporary file a crash left is removed at the next start. A checkpoint that
cannot be read costs a replay of what is on disk (the store's keys make it a no-op) and a gap whose
start is unknown, never a record.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import structlog

from acd.store.journal import disk

__all__ = ["NAME", "discard_unfinished", "read", "write"]

log = structlog.get_logger("acd.store.journal")

NAME = "checkpoint.json"


def read(directory: Path) -> tuple[int, float | None]:
    """(acknowledged sequence number, covered event time); (0, None) when there is none."""
    path = directory / NAME
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


def write(directory: Path, acked: int, covered_at: float | None) -> None:
    """Durably, or ``OSError`` (the journal thread also uses it to learn whether the disk is back)."""
    path = directory / NAME
    tmp = path.with_suffix(".tmp")
    body = json.dumps({"acked": acked, "covered_at": covered_at}).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        disk.write_all(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def discard_unfinished(directory: Path) -> None:
    """What a crash in the middle of :func:`write` left."""
    for leftover in directory.glob("*.tmp"):
        leftover.unlink(missing_ok=True)
