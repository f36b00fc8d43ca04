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
from typing import TYPE_CHECKING

from acd.core.effects import AgentOffer, CallFinished, CallRecord, Effect, GapRecorded
from acd.core.linking import caller_key
from acd.core.model import Entry
from acd.core.queuelog import EXIT_REASONS, QlEntry, QueueLogFacts

if TYPE_CHECKING:
    from acd.core.engine import Core

__all__ = ["RESTART_SECONDS", "GapFill", "end_of", "entry_from_queue_log"]

RESTART_SECONDS = 5.0
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

    # -- what the engine tells it ----------------------------------------------------------------

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

    def window(self) -> tuple[float, float | None] | None:
        """(read lines since, gap start or None) for the pending gap, None when none is pending."""
        gap = self.gap
        if gap is None:
            return None
        anchor = gap.started_at if gap.started_at is not None else gap.ended_at
        return anchor - self.lookback, gap.started_at

    # -- the fill --------------------------------------------------------------------------------

    def fill(self, core: Core, facts: QueueLogFacts | None, now: float) -> list[Effect]:
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
                _close_from_queue_log(core, entry, told, restarts, saw_start=not parked.was_partial)
                core._finish(entry, float(end), out, detached=True)
                merged += 1
            else:
                core._finish(entry, gap.ended_at, out, detached=True)

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
                out.append(CallFinished(_merged_record(core, held[1], start, saw_start=saw_start)))
            elif entry.id in core.entries:
                _merge_live(core, entry, start, saw_start=saw_start)
                if start.ended_at is not None and entry.talk_time is None:
                    # queue_log saw its end: close it so (AgentComplete may have been in the gap)
                    _apply_outcome(core, entry, start, restarts, had_signals=bool(entry.signals))
                    if core._detach(entry, now, out):
                        core._finish(entry, float(start.ended_at), out, detached=True)

        merged += _close_ended_across(core, by_key, used, restarts, adopted_ids, gap.ended_at, now, out)

        if gap.started_at is not None:
            done: list[tuple[float, Entry]] = []
            for q in entries:
                if id(q) in used or q.number is None or q.entered is None:
                    continue
                call_id = q.callid if q.number == 1 else f"{q.callid}#{q.number}"
                if call_id in self._recent or call_id in core.entries:
                    continue  # acd recorded it, or has it live
                end = end_of(q, restarts)
                if end is None and q.connected_at is not None and q.callid in core.channels:
                    # Answered in the gap and still going, outside a queue bridge now (the caller
                    # was redirected on): app_queue reports its end later; acd takes it up.
                    _adopt_open(core, entry_from_queue_log(core, q, restarts), q)
                    recovered += 1
                    continue
                if end is None or end < gap.started_at - TOLERANCE:
                    continue  # still open (then AMI shows it), or over before the gap
                done.append((float(end), entry_from_queue_log(core, q, restarts)))
            for end_at, entry in sorted(done, key=lambda item: item[0]):
                core._finish(entry, end_at, out, detached=True)
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
    core: Core,
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
    for entry in list(core.entries.values()):
        if entry.id in adopted or entry.state != "connected" or entry.joined_at > resynced_at:
            continue
        told = _match(by_key, entry, used, by_number=not entry.partial)
        end = end_of(told, restarts) if told is not None else None
        if told is None or end is None or end < entry.joined_at - TOLERANCE:
            if told is not None:
                used.discard(id(told))  # still open: nothing taken from queue_log
            continue
        _close_from_queue_log(core, entry, told, restarts, saw_start=not entry.partial)
        if core._detach(entry, now, out):
            core._finish(entry, float(end), out, detached=True)
            closed += 1
    return closed


# -- matching and applying ---------------------------------------------------------------------


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


def _restart_after(at: int, restarts: tuple[int, ...]) -> int | None:
    return next((r for r in restarts if r >= at), None)


def end_of(q: QlEntry, restarts: tuple[int, ...]) -> int | None:
    """When the entry ended: its last line, or the restart that took it while still open."""
    if q.ended_at is not None:
        return q.ended_at
    last = max(t for t in (q.entered, q.connected_at) if t is not None) if q.entered is not None else None
    return _restart_after(last, restarts) if last is not None else None


def _taken_by_restart(q: QlEntry, restarts: tuple[int, ...]) -> bool:
    if q.ended_at is None:
        return end_of(q, restarts) is not None
    nxt = _restart_after(q.ended_at, restarts)
    return nxt is not None and nxt - q.ended_at <= RESTART_SECONDS


def _agent_of(core: Core, queue: str, name: str) -> str | None:
    """The agent (state interface) a queue_log member name stands for, from acd's own tables."""
    fallback = None
    for member in core.members.values():
        if member.name == name:
            if member.queue == queue:
                return member.agent
            fallback = fallback or member.agent
    if fallback is not None:
        return fallback
    for agent in core.agents.values():
        if agent.name == name:
            return agent.agent
    return core.history.agent_named(name)


def _offers(core: Core, q: QlEntry, agent: str | None) -> list[AgentOffer]:
    offers = [
        AgentOffer(
            _agent_of(core, q.queue, o.agent_name) or o.agent_name,
            o.agent_name,
            o.at - o.ring_ms / 1000.0,
            "no_answer" if o.result == "no_answer" else "cancelled",
            o.ring_ms / 1000.0,
        )
        for o in q.offers
    ]
    if q.connected_at is not None and q.agent_name:
        ring = float(q.ring or 0)
        offers.append(
            AgentOffer(agent or q.agent_name, q.agent_name, q.connected_at - ring, "answered", ring)
        )
    return offers


def _apply_outcome(
    core: Core, entry: Entry, q: QlEntry, restarts: tuple[int, ...], *, had_signals: bool
) -> None:
    """How queue_log says the entry ended, onto ``entry`` (unknowns and inferences named)."""
    restart = _taken_by_restart(q, restarts)
    if q.answered:
        if entry.agent is None and q.agent_name:
            agent = _agent_of(core, q.queue, q.agent_name)
            if agent is None:
                entry.unknown.add("agent")
            entry.agent, entry.agent_name = agent or q.agent_name, q.agent_name
            entry.state = "completed"
        if entry.answered_at is None and q.connected_at is not None:
            entry.answered_at = float(q.connected_at)
        if q.hold is not None and (entry.hold_time is None or entry.partial):
            entry.hold_time = float(q.hold)
        if q.talk is not None:
            entry.talk_time = float(q.talk)
        entry.unknown.add("cause")
        if restart and q.end not in ("BLINDTRANSFER", "ATTENDEDTRANSFER"):
            entry.shutdown, entry.lost = True, "asterisk_restart"
            entry.inferred.update(("ended_by", "cut_off"))
            entry.unknown.discard("cut_off")
            entry.unknown.discard("ended_by")
            return
        entry.unknown.add("cut_off")
        if q.end in ("BLINDTRANSFER", "ATTENDEDTRANSFER"):
            entry.transferred = True
            entry.transfer_target = "BlindTransfer" if q.end == "BLINDTRANSFER" else "AttendedTransfer"
        else:
            if q.end == "COMPLETEAGENT":
                entry.reason = "agent"
            elif not had_signals:
                entry.reason = None  # COMPLETECALLER: the caller, or the agent's leg hung up over AMI
                entry.unknown.add("ended_by")
        return
    entry.abandon_hold = float(q.hold) if q.hold is not None else None
    if restart:
        entry.reason, entry.lost = None, "asterisk_restart"
        entry.inferred.add("outcome")
    elif q.end == "ABANDON":
        # A hang-up while waiting, or an AMI Redirect out of Queue(): Asterisk logs both so.
        entry.reason = "abandoned"
        entry.unknown.update(("outcome", "ended_by"))
    else:
        entry.reason = "exited"
        entry.exit_hint = EXIT_REASONS.get(q.end or "", "timeout")


def _close_from_queue_log(
    core: Core, entry: Entry, q: QlEntry, restarts: tuple[int, ...], *, saw_start: bool
) -> None:
    """A call acd saw start and lost in the gap, ended as queue_log says."""
    entry.lost = None
    entry.partial = not saw_start
    entry.source = "merged"
    _apply_outcome(core, entry, q, restarts, had_signals=bool(entry.signals))


def _merge_live(core: Core, entry: Entry, q: QlEntry, *, saw_start: bool) -> None:
    """An adopted call still going: its true start (unless acd saw it), wait, agent and number."""
    assert q.entered is not None
    if not saw_start:
        entry.joined_at = float(q.entered)
        entry.inferred.discard("joined_at")
        if q.position is not None:
            entry.position = q.position
        if q.number is not None and q.number != entry.number:
            _renumber(core, entry, q.number)
    if q.caller and not entry.caller_num:
        entry.caller_num = q.caller
        entry.key = entry.key or caller_key(q.caller)
    if q.hold is not None:
        entry.hold_time = float(q.hold)
    if q.connected_at is not None:
        entry.answered_at = float(q.connected_at)
        entry.inferred.discard("answered_at")
    if q.agent_name and (entry.agent is None or not saw_start):
        # Who answered is queue_log's CONNECT: a snapshot's bridge may already hold the party the
        # call was transferred to.
        _set_agent(core, entry, q)
    entry.partial = False
    entry.source = "merged"


def _set_agent(core: Core, entry: Entry, q: QlEntry) -> None:
    assert q.agent_name is not None
    agent = _agent_of(core, q.queue, q.agent_name)
    if agent is None:
        entry.unknown.add("agent")
    new = agent or q.agent_name
    if new == entry.agent:
        entry.agent_name = q.agent_name
        return
    old = core.agents.get(entry.agent) if entry.agent else None
    if old is not None and entry.id in old.calls:
        old.calls.discard(entry.id)
        core._agent_changed(old, entry.joined_at, [])
    if entry.interface and core.by_member.get((entry.queue, entry.interface)) is entry:
        del core.by_member[(entry.queue, entry.interface)]
    entry.agent, entry.agent_name = new, q.agent_name
    member = next((m for m in core.members.values() if m.agent == new and m.queue == entry.queue), None)
    entry.interface = member.interface if member is not None else None
    if entry.interface:
        core.by_member[(entry.queue, entry.interface)] = entry
    now_agent = core.agents.get(new)
    if now_agent is not None and entry.state == "connected":
        now_agent.calls.add(entry.id)


def _merged_record(core: Core, record: CallRecord, q: QlEntry, *, saw_start: bool) -> CallRecord:
    """An adopted call that ended before the fill: its record with queue_log's start."""
    assert q.entered is not None
    number = record.entry if saw_start else (q.number or record.entry)
    answered_at = float(q.connected_at) if q.connected_at is not None else record.answered_at
    wait = float(q.hold) if q.hold is not None else record.wait_seconds
    agent, agent_name = record.agent, record.agent_name
    if not saw_start and q.agent_name:
        agent, agent_name = _agent_of(core, q.queue, q.agent_name) or q.agent_name, q.agent_name
    return replace(
        record,
        agent=agent,
        agent_name=agent_name,
        id=record.uniqueid if number == 1 else f"{record.uniqueid}#{number}",
        entry=number,
        joined_at=record.joined_at if saw_start else float(q.entered),
        answered_at=answered_at,
        wait_seconds=wait,
        caller_num=record.caller_num or q.caller,
        position=q.position if q.position is not None else record.position,
        partial=False,
        source="merged",
        inferred=tuple(
            f
            for f in record.inferred
            if not (f == "joined_at" and not saw_start) and not (f == "answered_at" and q.connected_at)
        ),
    )


def _renumber(core: Core, entry: Entry, number: int) -> None:
    """Give a live entry its true number (adopted as the channel's first; queue_log knows better)."""
    old = entry.id
    new = entry.uniqueid if number == 1 else f"{entry.uniqueid}#{number}"
    if new == old or new in core.entries:
        return
    core.entries[new] = core.entries.pop(old)
    entry.number, entry.id = number, new
    core.entry_seq[entry.uniqueid] = max(core.entry_seq.get(entry.uniqueid, 0), number)
    for agent in core.agents.values():
        for ids in (agent.calls, agent.ringing):
            if old in ids:
                ids.discard(old)
                ids.add(new)
        if agent.last_call == old:
            agent.last_call = new
    for when, _, kind, key in list(core.timers):
        if key == old:
            core._timer(when, kind, new)


def _adopt_open(core: Core, entry: Entry, q: QlEntry) -> None:
    """Make a queue_log entry still open a live entry of the core's, so AMI's end completes it."""
    uid = entry.uniqueid
    chan = core.channels.get(uid)
    if chan is not None:
        entry.linkedid = chan.linkedid or entry.linkedid
        entry.unknown.discard("linkedid")
        if chan.partner:
            entry.caller_uids.add(chan.partner)
    entry.caller_uids.add(uid)
    entry.state = "connected"
    entry.reason = None
    entry.talk_time = None
    entry.unknown.update(("ended_by", "cut_off"))
    if q.agent_uid and q.agent_uid in core.channels:
        entry.agent_uniqueid = q.agent_uid
        entry.agent_uids.add(q.agent_uid)
        partner = core.channels[q.agent_uid].partner
        if partner:
            entry.agent_uids.add(partner)
    core.entries[entry.id] = entry
    core.by_uniqueid[uid] = entry
    core.entry_seq[uid] = max(core.entry_seq.get(uid, 0), entry.number)
    for side, uids in (("caller", entry.caller_uids), ("agent", entry.agent_uids)):
        for u in uids:
            core.watch[u] = (entry, side)
    core.by_linkedid[entry.linkedid] = entry
    agent = core.agents.get(entry.agent) if entry.agent else None
    if agent is not None:
        agent.calls.add(entry.id)


def entry_from_queue_log(core: Core, q: QlEntry, restarts: tuple[int, ...]) -> Entry:
    """A queue entry acd saw nothing of, as queue_log tells it, ready for the core to finish
    (callback and repeat links from the core's history, like any call)."""
    assert q.entered is not None
    number = q.number or 1
    key = caller_key(q.caller or "")
    entry = Entry(
        id=q.callid if number == 1 else f"{q.callid}#{number}",
        uniqueid=q.callid,
        number=number,
        linkedid=q.callid,  # queue_log has no Linkedid: the caller channel is the best guess
        queue=q.queue,
        caller_num=q.caller or "",
        caller_name=q.caller_name or "",
        key=key,
        account=None,
        joined_at=float(q.entered),
        position=q.position,
        partial=True,
        source="queue_log",
    )
    entry.unknown.add("linkedid")
    rules = core.config.queue(q.queue)
    cb, rep = core.history.match(
        key,
        entry.linkedid,
        entry.joined_at,
        callback_window=rules.callback_window_seconds,
        repeat_window=core.config.repeat_window_seconds,
    )
    entry.callback_of = cb.id if cb else None
    entry.repeat_of = rep.id if rep else None
    _apply_outcome(core, entry, q, restarts, had_signals=False)
    entry.offers = _offers(core, q, entry.agent)
    if q.transfer:
        entry.transfer_target = entry.transfer_target or q.transfer
    return entry
