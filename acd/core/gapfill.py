"""Filling acd's blind spots with Asterisk's queue_log: the core's side (the shell reads the file).

After every start and every AMI gap the resync tells acd what exists *now*; what happened in
between is only in queue_log. When the shell reads it (acd.queuelog), the core keeps, from the
resync until :meth:`GapFill.fill`: the gap itself (recorded once its counts are known), the calls
acd saw start whose channels vanished (parked), and the calls the resync adopted (their records
held back if they end first). Then, with the facts of the lines read (acd.core.queuelog):

1. A parked call (acd saw it start) is closed with queue_log's true end: outcome, agent, end
   time, hold and talk ("merged"); with no end in queue_log it is lost in the gap, as without it.
2. An adopted call (acd saw its end, or will) takes its true arrival, wait, agent and entry
   number from queue_log ("merged"); knowing its start, it is no longer partial.
3. A call acd saw nothing of that ended in the gap is recorded from queue_log ("queue_log",
   partial), finished by the same code as every other record, so callback and repeat links,
   metrics and the store treat it like any other.
4. What queue_log cannot tell is named in the record's ``unknown``: the hang-up cause and so
   whether it was a cut-off; who ended it after COMPLETECALLER (also what Asterisk logs when the
   agent's leg was hung up over AMI); an agent whose name no member of acd's carries. What is
   deduced is named in ``inferred``: an ABANDON or COMPLETE* within RESTART_SECONDS before a
   QUEUESTART, or a call still open at one, was Asterisk's shutdown: ``exited`` (system) for a
   waiting caller, a cut-off lost to the restart for an answered one.
5. Nothing doubles: the caller channel's Uniqueid and the entry number are the key; a call acd
   finished itself is never recorded again from queue_log.

Queue_log's times are whole seconds: compared with a second's tolerance.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

from acd.core.effects import CallFinished, CallRecord, Effect, GapRecorded
from acd.core.entities import Entry
from acd.core.queue_entries import QueueEntries
from acd.core.queuelog import QlEntry, QueueLogFacts
from acd.core.queuelog_merge import (
    adopt_open,
    apply_outcome,
    close_from_queue_log,
    end_of,
    entry_from_queue_log,
    merge_live,
    merged_record,
)

__all__ = ["GapFill"]
TOLERANCE = 1.0
RECENT = 50_000  # ids of records acd made itself, so queue_log never repeats one


@dataclass(slots=True)
class _Parked:
    entry: Entry
    was_partial: bool


class GapFill:
    """The core's memory between a resync and the queue_log read that completes it."""

    def __init__(self, lookback: float = 3600.0) -> None:
        self.lookback = lookback  # how far before the gap the lines of calls still open are read
        self.gap: GapRecorded | None = None
        self.parked: dict[str, _Parked] = {}
        self.adopted: dict[str, Entry] = {}
        self.held: dict[str, tuple[Entry, CallRecord]] = {}
        self.seen_start: set[str] = set()  # adopted ids acd saw join (answered in the gap)
        self.requested = False  # the shell has started reading for the pending gap
        self._recent: OrderedDict[str, None] = OrderedDict()

    # -- what the core tells it ------------------------------------------------------------------

    @property
    def pending(self) -> bool:
        return self.gap is not None

    def open(
        self, gap: GapRecorded, adopted: list[Entry], unseen: tuple[Entry, ...] | list[Entry] = ()
    ) -> None:
        """``adopted``: calls the resync found and acd never saw start; ``unseen``: calls acd saw
        waiting that were answered in the gap."""
        if self.gap is not None:  # a second resync before the first read came back: one gap
            first = self.gap
            starts = [t for t in (first.started_at, gap.started_at) if t is not None]
            gap = replace(
                gap,
                started_at=min(starts) if starts else None,
                calls_reconciled=first.calls_reconciled + gap.calls_reconciled,
            )
        self.gap = gap
        self.adopted.update((e.id, e) for e in (*adopted, *unseen))
        self.seen_start.update(e.id for e in unseen)
        self.requested = False

    def park(self, entry: Entry) -> None:
        self.parked[entry.id] = _Parked(entry, entry.partial and entry.lost is None)

    def hold(self, entry: Entry, record: CallRecord) -> bool:
        """Every record the core makes passes here: remembered; held back while a fill is pending
        if the resync adopted it (queue_log will tell when it started)."""
        recent = self._recent
        recent[record.id] = None
        if len(recent) > RECENT:
            recent.popitem(last=False)
        if self.gap is not None and self.adopted.get(entry.id) is entry:
            self.held[entry.id] = (entry, record)
            return True
        return False

    def remember(self, ids: list[str]) -> None:
        """Records another process already made (the leader before a takeover): queue_log never
        makes them again."""
        recent = self._recent
        for call_id in ids:
            recent[call_id] = None
        while len(recent) > RECENT:
            recent.popitem(last=False)

    def window(self) -> tuple[float, float | None] | None:
        """(read lines since, gap start or None) for the pending gap, None when none is pending."""
        gap = self.gap
        if gap is None:
            return None
        anchor = gap.started_at if gap.started_at is not None else gap.ended_at
        return anchor - self.lookback, gap.started_at

    # -- the fill --------------------------------------------------------------------------------

    def fill(self, calls: QueueEntries, facts: QueueLogFacts | None, now: float) -> list[Effect]:
        """Complete the pending gap with ``facts`` (None: queue_log could not be read)."""
        gap = self.gap
        out: list[Effect] = []
        if gap is None:
            return out
        entries = facts.entries if facts is not None else ()
        restarts = facts.restarts if facts is not None else ()
        by_key: dict[tuple[str, str], list[QlEntry]] = {}
        for q in entries:
            by_key.setdefault(q.key, []).append(q)
        used: set[int] = set()
        merged = recovered = 0

        for parked in self.parked.values():
            entry = parked.entry
            told = _match(by_key, entry, used, by_number=not parked.was_partial)
            end = end_of(told, restarts) if told is not None else None
            if told is not None and end is not None and end >= entry.joined_at - TOLERANCE:
                close_from_queue_log(calls, entry, told, restarts, saw_start=not parked.was_partial)
                calls.record(entry, float(end), out)
                merged += 1
            else:
                calls.record(entry, gap.ended_at, out)

        adopted = list(self.adopted.values())
        adopted_ids = set(self.adopted)
        self.adopted.clear()  # from here their records go out, not held back
        for entry in adopted:
            held = self.held.pop(entry.id, None)
            # A call still going is the entry queue_log has still open; one that ended, the entry
            # that ended then.
            ended = held[1].ended_at if held is not None else None
            start = _match(by_key, entry, used, by_number=False, ended=ended)
            if start is None and held is None:
                # Still live for acd, but queue_log has it over already (its hang-ups are on the
                # way, its end may have been in the gap): the entry that ended.
                start = _match(by_key, entry, used, by_number=False, ended=float("inf"))
            if start is None or start.entered is None:
                if held is not None:
                    out.append(CallFinished(held[1]))
                continue
            merged += 1
            saw_start = entry.id in self.seen_start
            if held is not None:
                out.append(CallFinished(merged_record(calls, held[1], start, saw_start=saw_start)))
            elif entry.id in calls.reg.entries:
                merge_live(calls, entry, start, saw_start=saw_start)
                if start.ended_at is not None and entry.talk_time is None:
                    # queue_log saw its end: close it so (AgentComplete may have been in the gap)
                    apply_outcome(calls, entry, start, restarts, had_signals=bool(entry.signals))
                    if calls.detach(entry, now, out):
                        calls.record(entry, float(start.ended_at), out)

        merged += _close_ended_across(calls, by_key, used, restarts, adopted_ids, gap.ended_at, now, out)

        if gap.started_at is not None:
            done: list[tuple[float, Entry]] = []
            for q in entries:
                if id(q) in used or q.number is None or q.entered is None:
                    continue
                call_id = q.callid if q.number == 1 else f"{q.callid}#{q.number}"
                if call_id in self._recent or call_id in calls.reg.entries:
                    continue  # acd recorded it, or has it live
                end = end_of(q, restarts)
                if end is None and q.connected_at is not None and q.callid in calls.reg.channels:
                    # Answered in the gap and still going, outside a queue bridge now (the caller
                    # was redirected on): app_queue reports its end later; acd takes it up.
                    adopt_open(calls, entry_from_queue_log(calls, q, restarts), q)
                    recovered += 1
                    continue
                if end is None or end < gap.started_at - TOLERANCE:
                    continue  # still open (then AMI shows it), or over before the gap
                done.append((float(end), entry_from_queue_log(calls, q, restarts)))
            for end_at, entry in sorted(done, key=lambda item: item[0]):
                calls.record(entry, end_at, out)
                recovered += 1

        status = "read" if facts is not None else "unreadable"
        out.append(replace(gap, calls_recovered=recovered, calls_merged=merged, queue_log=status))
        self.gap = None
        self.parked.clear()
        self.adopted.clear()
        self.seen_start.clear()
        self.held.clear()
        self.requested = False
        return out


def _close_ended_across(
    calls: QueueEntries,
    by_key: dict[tuple[str, str], list[QlEntry]],
    used: set[int],
    restarts: tuple[int, ...],
    adopted: set[str],
    resynced_at: float,
    now: float,
    out: list[Effect],
) -> int:
    """Calls acd had connected across the gap whose channels live on (a caller transferred or
    redirected on) but whose queue entry queue_log says ended in it: app_queue's AgentComplete
    went out while acd was not listening and will not come again, so they are closed as
    queue_log tells. Returns how many."""
    closed = 0
    for entry in list(calls.reg.entries.values()):
        if entry.id in adopted or entry.state != "connected" or entry.joined_at > resynced_at:
            continue
        told = _match(by_key, entry, used, by_number=not entry.partial)
        end = end_of(told, restarts) if told is not None else None
        if told is None or end is None or end < entry.joined_at - TOLERANCE:
            if told is not None:
                used.discard(id(told))  # still open: nothing taken from queue_log
            continue
        close_from_queue_log(calls, entry, told, restarts, saw_start=not entry.partial)
        if calls.detach(entry, now, out):
            calls.record(entry, float(end), out)
            closed += 1
    return closed


# -- matching ----------------------------------------------------------------------------------


def _match(
    by_key: dict[tuple[str, str], list[QlEntry]],
    entry: Entry,
    used: set[int],
    *,
    by_number: bool,
    ended: float | None = None,
) -> QlEntry | None:
    """queue_log's account of ``entry``: same caller channel and queue; the same entry number when
    acd counted the channel's entries itself (``by_number``). An adopted call (acd's start is a
    guess) is the entry queue_log has still open, or the one that ended at ``ended``."""
    best: QlEntry | None = None
    best_gap = float("inf")
    for q in by_key.get((entry.uniqueid, entry.queue), []):
        if id(q) in used:
            continue
        if by_number:
            if q.number is not None and q.number != entry.number:
                continue
            gap = abs((q.entered or 0) - entry.joined_at)
        elif ended is None:
            if q.ended_at is not None:
                continue
            gap = abs((q.entered or 0) - entry.joined_at)
        else:
            if q.ended_at is None:
                continue
            gap = abs(q.ended_at - ended) if ended != float("inf") else -q.ended_at  # latest first
        if gap < best_gap:
            best, best_gap = q, gap
    if best is not None:
        used.add(id(best))
    return best
