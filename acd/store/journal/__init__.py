"""The durable local journal: every record the core finished, on disk before the database has it.

Why it exists: the database may be down, slow, or far away, and acd may die at any moment (SIGKILL,
the OOM killer, a watchdog kill, a second SIGTERM, a crash). A record counts as *accepted* once the
journal's fsync for it returned; from then on nothing but a lost disk loses it. The database is fed
from the journal, and a record leaves the journal only after the database committed it. A replay
after a crash writes some records a second time; the store's keys make that a no-op. The journal
is bounded (``max_bytes``); when it cannot write (disk full, read-only file system, the bound
reached, any I/O error) acd keeps running, feeds the database from memory, counts what it could
not keep, and recovers by itself once space returns. It never raises into the event loop.

Shape (as Prometheus's WAL and Vector's disk buffer), one job per module:

- ``journal``       :class:`Journal`, the loop's side: ``append`` (O(1), no I/O), the memory
                    bound and dropped records, ``read``/``ack`` for the writer, stats, open/close;
- ``group_commit``  the journal's own thread: group commit (fdatasync at most every 20 ms under
                    load, at once when idle), retries, checkpoints, the covered event time;
- ``health``        the state while it cannot write (``disk_full``, ``read_only``, ``bound``,
                    ``error``), its failure count and logs;
- ``segments``      the ``*.wal`` files: rotation, the size bound, deletion once acknowledged,
                    recovery after a crash, ordered reads;
- ``frames``        the on-disk format (``<length u32><crc32 u32><JSON>``) and torn tails;
- ``disk``          the writes and syncs (the seam the tests make fail);
- ``checkpoint``    ``checkpoint.json``: the acknowledged sequence and the covered event time;
- ``legacy_spool``  the ``*.jsonl`` spool of earlier versions, moved in on first start.
"""

from __future__ import annotations

from acd.store.journal.health import State
from acd.store.journal.journal import Journal, JournalBusy, JournalStats

__all__ = ["Journal", "JournalBusy", "JournalStats", "State"]
