"""What the durability machinery is doing, read from the writer and its journal at scrape time.

The operator's questions: is every record acd accepts on disk (``acd_journal_up``), how much waits
for the database and where (``acd_journal_records``, ``acd_db_backlog_records`` in health.py), how
big the journal is (``acd_journal_bytes``), and did acd have to let any record go
(``acd_journal_dropped_records_total``: the disk could not take it and memory was full). Read at
scrape time like the live state, so nothing here costs the event loop anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, get_args

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from acd.store.writer import WriterStats

__all__ = ["JOURNAL_STATES", "DurabilityCollector"]


def _states() -> tuple[str, ...]:
    from acd.store.journal import State

    return get_args(State)


JOURNAL_STATES: tuple[str, ...] = _states()


class DurabilityCollector(Collector):
    """Exports the journal's and the database writer's state; ``stats`` is ``writer.stats``."""

    def __init__(self, stats: Callable[[], WriterStats | None]) -> None:
        self.stats = stats
        self.errors = 0

    def describe(self) -> Iterator[Metric]:
        return iter(())  # families depend on the writer existing: nothing to declare up front

    def collect(self) -> Iterator[Metric]:
        try:
            stats = self.stats()
        except Exception:  # a broken source must not fail the whole scrape
            self.errors += 1
            stats = None
        if stats is None or stats.journal is None:
            return
        j = stats.journal
        records = GaugeMetricFamily(
            "acd_journal_records",
            "Records accepted and not yet in the database, by where they are: fsync'd in the "
            "journal (disk) or only in memory because the journal cannot write (memory)",
            labels=["where"],
        )
        records.add_metric(["disk"], j.on_disk)
        records.add_metric(["memory"], j.in_memory_only)
        yield records
        yield GaugeMetricFamily("acd_journal_bytes", "Size of the journal's segments on disk", value=j.bytes)
        yield CounterMetricFamily(
            "acd_journal_dropped_records",
            "Records acd could not keep: the journal could not write them and memory was full, "
            "or could not read them back",
            value=j.dropped,
        )
        yield CounterMetricFamily(
            "acd_journal_write_failures", "Failed journal writes or fsyncs (each retried)", value=j.failures
        )
        yield CounterMetricFamily("acd_journal_commits", "Journal group commits (fsyncs)", value=j.commits)
        yield GaugeMetricFamily(
            "acd_journal_up",
            "1 while the journal writes and fsyncs: every accepted record survives a crash",
            value=1 if j.state == "ok" else 0,
        )
        state = GaugeMetricFamily(
            "acd_journal_state",
            "1 for the journal's current state (ok, disk_full, read_only, bound, error)",
            labels=["state"],
        )
        for name in JOURNAL_STATES:
            state.add_metric([name], 1 if j.state == name else 0)
        yield state
        yield GaugeMetricFamily(
            "acd_db_up", "1 while the last database write succeeded", value=1 if stats.database_ok else 0
        )
