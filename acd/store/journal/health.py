"""Whether the journal can write, and what it says while it cannot.

A full disk, a read-only file system, the journal's own size bound or any other I/O error must not
stop acd: records wait in memory and still reach the database, and the journal retries by itself.
What an operator needs meanwhile is one state (``ok``, ``disk_full``, ``read_only``, ``bound``,
``error``: ``/healthz``, the status line and the API's 503 read it), a count of failed attempts,
and a log that says so once when it starts, every 20th failure while it lasts, and once when it is
over, not once per retry.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from typing import Literal

import structlog

__all__ = ["Health", "State", "classify"]

log = structlog.get_logger("acd.store.journal")

State = Literal["ok", "disk_full", "read_only", "bound", "error"]


def classify(exc: OSError) -> State:
    code = exc.errno
    if code == errno.EFBIG:  # the journal's own size bound (acd.store.journal.segments)
        return "bound"
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "disk_full"
    if code == errno.EROFS:
        return "read_only"
    return "error"


class Health:
    """The journal thread's verdict on its disk. ``waiting`` and ``dropped`` say, for the logs,
    how many records wait in memory and how many were let go."""

    def __init__(self, *, waiting: Callable[[], int], dropped: Callable[[], int]) -> None:
        self.state: State = "ok"
        self.failures = 0  # failed write or fsync attempts
        self._since: float | None = None
        self._waiting = waiting
        self._dropped = dropped

    def failed(self, exc: OSError) -> bool:
        """Count a failed attempt and log it; True when the state changed."""
        self.failures += 1
        state = classify(exc)
        now = time.monotonic()
        changed = state != self.state
        if self.state == "ok":
            self._since = now
            log.error(
                "journal_cannot_write",
                reason=state,
                error=f"{type(exc).__name__}: {exc}",
                waiting_in_memory=self._waiting(),
                hint="records are kept in memory and written to the database; acd retries by itself",
            )
        elif self.failures % 20 == 0:
            log.warning(
                "journal_still_cannot_write",
                reason=state,
                waiting_in_memory=self._waiting(),
                dropped=self._dropped(),
                for_seconds=round(now - (self._since or now), 1),
            )
        self.state = state
        return changed

    def recovered(self) -> bool:
        """The journal wrote again; True when it had been failing."""
        if self.state == "ok":
            return False
        since = self._since
        self.state = "ok"
        self._since = None
        log.warning(
            "journal_recovered",
            after_seconds=round(time.monotonic() - since, 1) if since is not None else None,
            dropped=self._dropped(),
        )
        return True
