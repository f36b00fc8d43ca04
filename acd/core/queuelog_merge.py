"""What Asterisk's queue_log tells of a queue entry, applied to acd's entries and records.

The gap fill (gapfill.py) and ``acd import-queue-log`` (acd/queuelog/importer.py) match queue_log's
entries (acd.core.queuelog) with acd's and use these to close, merge or make them:

- ``entry_from_queue_log``: a queue entry acd saw nothing of, ready for the core to record (its
  callback and repeat links from the core's history, like any call's).
- ``apply_outcome``: how queue_log says an entry ended (outcome, agent, times), with what it
  cannot tell named in ``unknown`` (the hang-up cause, so whether it was a cut-off; who ended it
  after COMPLETECALLER, also what Asterisk logs when the agent's leg was hung up over AMI; an
  agent whose name no member of acd's carries) and what is deduced in ``inferred``: an ABANDON or
  COMPLETE* within ``RESTART_SECONDS`` before a QUEUESTART, or a call still open at one, was
  Asterisk's shutdown: exited (system) for a waiting caller, a cut-off lost to the restart for an
  answered one.
- ``merge_live`` / ``merged_record``: an adopted call's true start, wait, agent and number, and
  so its callback and repeat links (``history_links``, as for a call acd sees join).
- ``adopt_open``: a call answered in the gap and still going, made live so AMI's end closes it.
"""

from __future__ import annotations

from dataclasses import replace

from acd.core.caller_history import caller_key, link_unknown
from acd.core.effects import AgentOffer, CallRecord
from acd.core.entities import Entry
from acd.core.entry_states import EntryState, allowed
from acd.core.members import agent_changed
from acd.core.queue_entries import QueueEntries
from acd.core.queuelog import EXIT_REASONS, QlEntry

__all__ = [
    "RESTART_SECONDS",
    "adopt_open",
    "agent_of",
    "apply_outcome",
    "close_from_queue_log",
    "end_of",
    "entry_from_queue_log",
    "merge_live",
    "merged_record",
    "taken_by_restart",
]

RESTART_SECONDS = 5.0


def _restart_after(at: int, restarts: tuple[int, ...]) -> int | None:
    return next((r for r in restarts if r >= at), None)


def end_of(q: QlEntry, restarts: tuple[int, ...]) -> int | None:
    """When the entry ended: its last line, or the restart that took it while still open."""
    if q.ended_at is not None:
        return q.ended_at
    last = max(t for t in (q.entered, q.connected_at) if t is not None) if q.entered is not None else None
    return _restart_after(last, restarts) if last is not None else None


def taken_by_restart(q: QlEntry, restarts: tuple[int, ...]) -> bool:
    if q.ended_at is None:
        return end_of(q, restarts) is not None
    nxt = _restart_after(q.ended_at, restarts)
    return nxt is not None and nxt - q.ended_at <= RESTART_SECONDS


def agent_of(calls: QueueEntries, queue: str, name: str) -> str | None:
    """The agent (state interface) a queue_log member name stands for, from acd's own tables."""
    fallback = None
    for member in calls.reg.members.values():
        if member.name == name:
            if member.queue == queue:
                return member.agent
            fallback = fallback or member.agent
    if fallback is not None:
        return fallback
    for agent in calls.reg.agents.values():
        if agent.name == name:
            return agent.agent
    return calls.history.agent_named(name)


def _offers(calls: QueueEntries, q: QlEntry, agent: str | None) -> list[AgentOffer]:
    offers = [
        AgentOffer(
            agent_of(calls, q.queue, o.agent_name) or o.agent_name,
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


def apply_outcome(
    calls: QueueEntries, entry: Entry, q: QlEntry, restarts: tuple[int, ...], *, had_signals: bool
) -> None:
    """How queue_log says the entry ended, onto ``entry`` (unknowns and inferences named)."""
    restart = taken_by_restart(q, restarts)
    if q.answered:
        if entry.agent is None and q.agent_name:
            agent = agent_of(calls, q.queue, q.agent_name)
            if agent is None:
                entry.unknown.add("agent")
            entry.agent, entry.agent_name = agent or q.agent_name, q.agent_name
            _answered(entry)
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
                entry.completed_by = "agent"
            elif not had_signals:
                entry.completed_by = None  # COMPLETECALLER: the caller, or the agent's leg hung up over AMI
                entry.unknown.add("ended_by")
        return
    entry.abandon_hold = float(q.hold) if q.hold is not None else None
    if restart:
        entry.lost = "asterisk_restart"
        entry.inferred.add("outcome")
    elif q.end == "ABANDON":
        # A hang-up while waiting, or an AMI Redirect out of Queue(): Asterisk logs both so.
        _left(entry, "abandoned")
        entry.unknown.update(("outcome", "ended_by"))
    else:
        _left(entry, "exited")
        entry.exit_reason = EXIT_REASONS.get(q.end or "", "timeout")


def close_from_queue_log(
    calls: QueueEntries, entry: Entry, q: QlEntry, restarts: tuple[int, ...], *, saw_start: bool
) -> None:
    """A call acd saw start and lost in the gap, ended as queue_log says."""
    entry.lost = None
    entry.partial = not saw_start
    entry.source = "merged"
    apply_outcome(calls, entry, q, restarts, had_signals=bool(entry.signals))


def merge_live(calls: QueueEntries, entry: Entry, q: QlEntry, *, saw_start: bool) -> None:
    """An adopted call still going: its true start (unless acd saw it), wait, agent and number."""
    assert q.entered is not None
    if not saw_start:
        entry.joined_at = float(q.entered)
        entry.inferred.discard("joined_at")
        if q.position is not None:
            entry.position = q.position
        if q.number is not None and q.number != entry.number:
            _renumber(calls, entry, q.number)
    if q.caller and not entry.caller_num:
        entry.caller_num = q.caller
        entry.key = entry.key or caller_key(q.caller)
    if not saw_start:
        _link(calls, entry)  # acd never saw it join: linked now its start is known
    if q.hold is not None:
        entry.hold_time = float(q.hold)
    if q.connected_at is not None:
        entry.answered_at = float(q.connected_at)
        entry.inferred.discard("answered_at")
    if q.agent_name and (entry.agent is None or not saw_start):
        # Who answered is queue_log's CONNECT: a snapshot's bridge may already hold the party the
        # call was transferred to.
        _set_agent(calls, entry, q)
    entry.partial = False
    entry.source = "merged"


def _set_agent(calls: QueueEntries, entry: Entry, q: QlEntry) -> None:
    assert q.agent_name is not None
    agent = agent_of(calls, q.queue, q.agent_name)
    if agent is None:
        entry.unknown.add("agent")
    new = agent or q.agent_name
    if new == entry.agent:
        entry.agent_name = q.agent_name
        return
    left = calls.reg.reassign(entry, new, q.agent_name)
    if left is not None:
        agent_changed(calls.reg, left, entry.joined_at, [])


def merged_record(calls: QueueEntries, record: CallRecord, q: QlEntry, *, saw_start: bool) -> CallRecord:
    """An adopted call that ended before the fill: its record with queue_log's start."""
    assert q.entered is not None
    number = record.entry if saw_start else (q.number or record.entry)
    answered_at = float(q.connected_at) if q.connected_at is not None else record.answered_at
    wait = float(q.hold) if q.hold is not None else record.wait_seconds
    agent, agent_name = record.agent, record.agent_name
    callback_of, repeat_of, unknown = record.callback_of, record.repeat_of, record.unknown
    if not saw_start:
        if q.agent_name:
            agent, agent_name = agent_of(calls, q.queue, q.agent_name) or q.agent_name, q.agent_name
        key = record.caller_key or caller_key(q.caller)
        callback_of, repeat_of, links_unknown = history_links(
            calls, key, record.linkedid, record.queue, float(q.entered)
        )
        if links_unknown:
            unknown = (*unknown, *(f for f in ("callback_of", "repeat_of") if f not in unknown))
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
        callback_of=callback_of,
        repeat_of=repeat_of,
        unknown=unknown,
        partial=False,
        source="merged",
        inferred=tuple(
            f
            for f in record.inferred
            if not (f == "joined_at" and not saw_start) and not (f == "answered_at" and q.connected_at)
        ),
    )


def _renumber(calls: QueueEntries, entry: Entry, number: int) -> None:
    """Give a live entry its true number (adopted as the channel's first; queue_log knows better)."""
    old = calls.reg.renumber(entry, number)
    if old is not None:
        calls.timers.rekey(old, entry.id)


def adopt_open(calls: QueueEntries, entry: Entry, q: QlEntry) -> None:
    """Make a queue_log entry still open a live entry of the core's, so AMI's end completes it."""
    reg = calls.reg
    uid = entry.uniqueid
    chan = reg.channels.get(uid)
    if chan is not None:
        entry.linkedid = chan.linkedid or entry.linkedid
        entry.unknown.discard("linkedid")
        if chan.partner:
            entry.caller_uids.add(chan.partner)
    entry.caller_uids.add(uid)
    # Not live yet (made from queue_log a moment ago): it starts connected, its end still to come.
    entry.state = "connected"
    entry.completed_by = None
    entry.talk_time = None
    entry.unknown.update(("ended_by", "cut_off"))
    if q.agent_uid and q.agent_uid in reg.channels:
        entry.agent_uniqueid = q.agent_uid
        entry.agent_uids.add(q.agent_uid)
        partner = reg.channels[q.agent_uid].partner
        if partner:
            entry.agent_uids.add(partner)
    reg.adopt(entry)


def history_links(
    calls: QueueEntries, key: str | None, linkedid: str, queue: str, joined_at: float
) -> tuple[str | None, str | None, bool]:
    """(callback_of, repeat_of, whether they are unknown) of a call that joined ``queue`` at
    ``joined_at``, from the core's history, as :meth:`QueueEntries.join` links a call it sees join:
    a call acd learns of late (adopted, or recovered from queue_log) is linked once its start is
    known."""
    rules = calls.config.queue(queue)
    cb, rep = calls.history.match(
        key,
        linkedid,
        joined_at,
        callback_window=rules.callback_window_seconds,
        repeat_window=calls.config.repeat_window_seconds,
    )
    unknown = link_unknown(rep, joined_at, rules.callback_window_seconds)
    return (cb.id if cb else None), (rep.id if rep else None), unknown


def _link(calls: QueueEntries, entry: Entry) -> None:
    entry.callback_of, entry.repeat_of, unknown = history_links(
        calls, entry.key, entry.linkedid, entry.queue, entry.joined_at
    )
    if unknown:
        entry.unknown.update(("callback_of", "repeat_of"))


def entry_from_queue_log(calls: QueueEntries, q: QlEntry, restarts: tuple[int, ...]) -> Entry:
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
    _link(calls, entry)
    apply_outcome(calls, entry, q, restarts, had_signals=False)
    entry.offers = _offers(calls, q, entry.agent)
    if q.transfer:
        entry.transfer_target = entry.transfer_target or q.transfer
    return entry


def _answered(entry: Entry) -> None:
    """queue_log saw the connect and the end acd missed: connected, then completed."""
    steps: tuple[EntryState, ...] = ("connected", "completed")
    for state in steps:
        if allowed(entry.state, state):
            entry.state = state


def _left(entry: Entry, how: EntryState) -> None:
    """queue_log saw a waiting caller leave: abandoned or exited (an answered entry stays so)."""
    if allowed(entry.state, how):
        entry.state = how
