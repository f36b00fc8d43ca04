"""The life of a queue entry, from QueueCallerJoin to its record. Pure: time comes as ``now``.

Rules (the captures in tests/fixtures/ami are the reference; states and their moves in
acd/core/entry_states.py):

- A queue entry starts at ``QueueCallerJoin`` and is identified by the caller channel's Uniqueid,
  plus ``#n`` for that channel's n-th queue entry. Channels of one customer call share a Linkedid.
- Waiting -> ``AgentConnect`` -> connected -> ``AgentComplete`` -> completed -> record emitted once
  the caller's and agent's channels have hung up (causes are then known), or after a grace period.
  A transfer emits at once: the caller's later conversation belongs to someone else.
- Waiting -> ``QueueCallerLeave``: abandoned when the caller's side hung up (before the leave, or
  within ``exit_decision_seconds`` after it); otherwise exited: ``withdraw`` when acd pulled the
  caller itself, ``redirect`` when the channel left for another dialplan context, else ``timeout``.
  (A personal affinity queue's timeout shows on AMI as QueueCallerAbandon + QueueCallerLeave.)
- ``AgentComplete`` may lack Channel/Uniqueid (docs/asterisk.md): matched by queue + member interface.
- Who ended it, whether it was a cut-off, and the record itself: acd/core/call_record.py.
- A lone event for a call acd does not know names no row: it is an ``Anomaly``; the resync adopts
  calls in progress, queue_log the rest.
"""

from __future__ import annotations

from typing import Protocol

from acd.core import events as ev
from acd.core.call_record import build_record, past_call
from acd.core.caller_history import History, caller_key, link_unknown
from acd.core.config import CoreConfig
from acd.core.effects import AgentOffer, Anomaly, CallFinished, CallRecord, CallStarted, Effect
from acd.core.entities import Agent, Channel, Entry, Lost, Ring
from acd.core.entry_states import EntryState, allowed
from acd.core.members import agent_changed
from acd.core.registry import Registry
from acd.core.routing_view import ViewPublisher
from acd.core.timers import Timers

__all__ = ["GapHooks", "QueueEntries"]


class GapHooks(Protocol):
    """What the queue_log gap fill (acd/core/gapfill.py) asks of finishing calls."""

    def hold(self, entry: Entry, record: CallRecord) -> bool: ...

    def park(self, entry: Entry) -> None: ...


class QueueEntries:
    """Applies the call events to the registry's entries and finishes them into records."""

    def __init__(
        self, config: CoreConfig, registry: Registry, history: History, view: ViewPublisher, timers: Timers
    ) -> None:
        self.config = config
        self.reg = registry
        self.history = history
        self.view = view
        self.timers = timers
        self.gapfill: GapHooks | None = None  # set when queue_log fills AMI gaps
        self.anomalies = 0

    def anomaly(self, out: list[Effect], kind: str, event: str | None, detail: str, now: float) -> None:
        self.anomalies += 1
        out.append(Anomaly(kind, event, detail, now))

    def move(self, entry: Entry, to: EntryState, event: str, now: float, out: list[Effect]) -> bool:
        """Move the entry to ``to`` when the table allows it; else report it and leave it be."""
        if not allowed(entry.state, to):
            self.anomaly(out, "illegal_transition", event, f"call {entry.id}: {entry.state} -> {to}", now)
            return False
        entry.state = to
        return True

    # ------------------------------------------------------------------ joining and leaving

    def join(self, e: ev.CallerJoin, now: float, out: list[Effect]) -> None:
        if not e.uniqueid or not e.queue:
            self.anomaly(out, "missing_header", "QueueCallerJoin", "Uniqueid or Queue missing", now)
            return
        reg = self.reg
        old = reg.by_uniqueid.get(e.uniqueid)
        if old is not None:
            # Still in another queue entry (a decision pending): the new join proves it exited.
            self.settle_exit(old, now, out, hung_up=False)
        entry_id, n = reg.next_entry_id(e.uniqueid)
        chan = reg.channels.get(e.uniqueid)
        if chan is None:
            chan = reg.add_channel(Channel(e.uniqueid, e.channel, e.linkedid, e.caller_num, e.caller_name))
        chan.handed_over_in = None  # a new Queue() run: the transfer's is over
        account = chan.account
        partner = reg.channels.get(chan.partner) if chan.partner else None
        if account is None and partner is not None:
            account = partner.account
        key = caller_key(e.caller_num or chan.caller_num, account)
        entry = Entry(
            id=entry_id,
            uniqueid=e.uniqueid,
            number=n,
            linkedid=e.linkedid or chan.linkedid,
            queue=e.queue,
            caller_num=e.caller_num or chan.caller_num,
            caller_name=e.caller_name or chan.caller_name,
            key=key,
            account=account,
            joined_at=now,
            position=e.position,
            join_context=e.context,
        )
        entry.caller_uids.add(e.uniqueid)
        if chan.partner:
            entry.caller_uids.add(chan.partner)
        cb, rep = self.history.match(
            key,
            entry.linkedid,
            now,
            callback_window=self.config.queue(e.queue).callback_window_seconds,
            repeat_window=self.config.repeat_window_seconds,
        )
        entry.callback_of = cb.id if cb else None
        entry.repeat_of = rep.id if rep else None
        if link_unknown(rep, now, self.config.queue(e.queue).callback_window_seconds):
            entry.unknown.update(("callback_of", "repeat_of"))
        reg.add_entry(entry)
        out.append(
            CallStarted(
                entry.id,
                entry.uniqueid,
                entry.linkedid,
                entry.queue,
                key,
                now,
                entry.callback_of,
                entry.repeat_of,
                caller_num=entry.caller_num or None,
                caller_name=entry.caller_name or None,
                callback_call=cb.linkedid if cb else None,
                repeat_call=rep.linkedid if rep else None,
            )
        )

    def abandon(self, e: ev.CallerAbandon, now: float, out: list[Effect]) -> None:
        entry = self.reg.by_uniqueid.get(e.uniqueid)
        if entry is None:
            self.anomaly(out, "unknown_call", "QueueCallerAbandon", f"caller {e.uniqueid}", now)
            return
        entry.abandon_hold = (
            float(e.hold_time) if e.hold_time is not None else max(0.0, now - entry.joined_at)
        )

    def leave(self, e: ev.CallerLeave, now: float, out: list[Effect]) -> None:
        entry = self.reg.by_uniqueid.get(e.uniqueid)
        if entry is None or entry.queue != e.queue:
            if entry is None:
                self.anomaly(out, "unknown_call", "QueueCallerLeave", f"caller {e.uniqueid}", now)
            return
        if entry.state != "waiting":
            return  # the ordinary leave of an answered caller (it comes just before AgentConnect)
        if entry.agent is not None:
            return
        entry.left_at = now
        entry.leave_context = e.context
        if self.reg.caller_hung_up(entry):
            self.settle_exit(entry, now, out, hung_up=True)
            return
        # Answered (AgentConnect follows at once), an exit, or an abandon whose hang-up is a moment
        # behind: decided by what comes next, or by the timer.
        self.move(entry, "leaving", "QueueCallerLeave", now, out)
        self.reg.set_leaving(entry)
        # app_queue sends QueueCallerAbandon before the leave of every caller it did not connect
        # (abandon, timeout, withdraw, redirect); without it an AgentConnect is on its way.
        wait = (
            self.config.exit_decision_seconds
            if entry.abandon_hold is not None
            else self.config.connect_wait_seconds
        )
        self.timers.at(now + wait, "exit", entry.id)

    def settle_exit(self, entry: Entry, now: float, out: list[Effect], *, hung_up: bool) -> None:
        """A caller who left the queue unanswered: abandoned or exited, and recorded."""
        if entry.state not in ("waiting", "leaving"):
            return
        if entry.shutdown:
            # Asterisk's shutdown took the caller: not an abandon (queue_log says ABANDON anyway).
            entry.lost = "asterisk_restart"
        elif hung_up and entry.exit_reason != "withdraw":
            self.move(entry, "abandoned", "QueueCallerLeave", now, out)
        else:
            self.move(entry, "exited", "QueueCallerLeave", now, out)
        self.finish(entry, now, out)

    # ------------------------------------------------------------------ agents

    def agent_event(self, e: ev.AgentEvent, now: float, out: list[Effect]) -> None:
        kind = e.kind
        if kind == "AgentComplete":
            self.complete(e, now, out)
            return
        entry = self.reg.by_uniqueid.get(e.uniqueid) if e.uniqueid else None
        if entry is None:
            # A stray or malformed AgentConnect would otherwise make a phantom answered call.
            self.anomaly(out, "unknown_call", kind, f"caller {e.uniqueid or '?'}", now)
            return
        if kind == "AgentConnect" and not self.move(entry, "connected", kind, now, out):
            return
        agent = self.reg.agent_for(e.queue, e.interface, e.member_name)
        if kind == "AgentCalled":
            entry.rings[e.interface] = Ring(agent.agent, agent.name, e.interface, now, e.dest_uniqueid)
            agent.ringing.add(entry.id)
            agent_changed(self.reg, agent, now, out)
        elif kind in ("AgentRingNoAnswer", "AgentDump"):
            ring = entry.rings.pop(e.interface, None)
            secs = (e.ring_time or 0) / 1000.0 if kind == "AgentRingNoAnswer" else None
            if ring is not None or secs is not None:
                rang_at = ring.rang_at if ring else now - (secs or 0.0)
                rang = secs if secs is not None else max(0.0, now - rang_at)
                entry.offers.append(AgentOffer(agent.agent, agent.name, rang_at, "no_answer", rang))
            agent.ringing.discard(entry.id)
            agent_changed(self.reg, agent, now, out)
        elif kind == "AgentConnect":
            self._connect(entry, e, agent, now, out)

    def _connect(self, entry: Entry, e: ev.AgentEvent, agent: Agent, now: float, out: list[Effect]) -> None:
        reg = self.reg
        ring = entry.rings.pop(e.interface, None)
        ring_secs = float(e.ring_time) if e.ring_time is not None else (now - ring.rang_at if ring else 0.0)
        rang_at = ring.rang_at if ring else now - ring_secs
        entry.offers.append(AgentOffer(agent.agent, agent.name, rang_at, "answered", ring_secs))
        self.cancel_rings(entry, now, out)
        reg.stop_leaving(entry)
        entry.agent = agent.agent
        entry.agent_name = e.member_name or agent.name
        entry.interface = e.interface
        entry.answered_at = now
        entry.hold_time = float(e.hold_time) if e.hold_time is not None else max(0.0, now - entry.joined_at)
        entry.agent_uniqueid = e.dest_uniqueid or None
        reg.connect(entry, e.interface)
        if e.dest_uniqueid:
            reg.watch_channel(entry, e.dest_uniqueid, "agent")
            dest = reg.channels.get(e.dest_uniqueid)
            if dest is not None and dest.partner:
                reg.watch_channel(entry, dest.partner, "agent")
        agent.ringing.discard(entry.id)
        agent.calls.add(entry.id)
        agent.last_call = entry.id
        agent_changed(reg, agent, now, out)

    def complete(self, e: ev.AgentEvent, now: float, out: list[Effect]) -> None:
        reg = self.reg
        known = reg.by_uniqueid.get(e.uniqueid) if e.uniqueid else None
        entry = known
        if entry is None or entry.agent is None:
            entry = reg.by_member.get((e.queue, e.interface)) or known
        if entry is None:
            self.anomaly(out, "unknown_call", "AgentComplete", f"member {e.interface}", now)
            return
        # Via connected when acd did not see the connect (an AMI gap): both moves must be legal.
        via: EntryState = "connected" if entry.agent is None else entry.state
        if (via != entry.state and not allowed(entry.state, via)) or not allowed(via, "completed"):
            detail = f"call {entry.id}: {entry.state} -> completed"
            self.anomaly(out, "illegal_transition", "AgentComplete", detail, now)
            return
        if entry.agent is None:
            # Connected while acd was not looking (an AMI gap): the event says by whom and how long.
            talk = float(e.talk_time or 0)
            agent = reg.agent_for(e.queue, e.interface, e.member_name)
            entry.partial = True
            entry.state = via
            entry.agent, entry.agent_name, entry.interface = (
                agent.agent,
                e.member_name or agent.name,
                e.interface,
            )
            entry.answered_at = now - talk
            if e.hold_time is not None:
                entry.hold_time = float(e.hold_time)
        entry.talk_time = (
            float(e.talk_time)
            if e.talk_time is not None
            else (max(0.0, now - entry.answered_at) if entry.answered_at is not None else 0.0)
        )
        if e.hold_time is not None and entry.hold_time is None:
            entry.hold_time = float(e.hold_time)
        if "answered_at" in entry.inferred and e.talk_time is not None:
            # Adopted in a resync (its times were the channel's age): Asterisk's own now.
            entry.answered_at = now - entry.talk_time
            entry.inferred.discard("answered_at")
            if "joined_at" in entry.inferred and entry.hold_time is not None:
                entry.joined_at = entry.answered_at - entry.hold_time
                entry.inferred.discard("joined_at")
        entry.completed_by = e.reason or entry.completed_by
        entry.state = "completed"
        done = reg.agents.get(entry.agent) if entry.agent else None
        if done is not None:
            done.calls.discard(entry.id)
            wrap = self.config.queue(entry.queue).wrapup_seconds
            if wrap > 0:
                done.wrapup_until = max(done.wrapup_until, now + wrap)
                self.timers.at(done.wrapup_until, "wrapup", done.agent)
            agent_changed(reg, done, now, out)
        reg.release_member(entry)
        if entry.handed_over or reg.all_hung_up(entry):
            self.finish(entry, now, out)
        else:
            entry.finish_deadline = now + self.config.finish_grace_seconds
            self.timers.at(entry.finish_deadline, "finish", entry.id)

    def cancel_rings(self, entry: Entry, now: float, out: list[Effect]) -> None:
        for ring in entry.rings.values():
            rang = max(0.0, now - ring.rang_at)
            entry.offers.append(AgentOffer(ring.agent, ring.agent_name, ring.rang_at, "cancelled", rang))
            agent = self.reg.agents.get(ring.agent)
            if agent is not None:
                agent.ringing.discard(entry.id)
                agent_changed(self.reg, agent, now, out)
        entry.rings.clear()

    def await_complete(self, entry: Entry, now: float, out: list[Effect]) -> None:
        """An adopted call's channels all hung up before its AgentComplete. When the caller hangs
        up, Asterisk sends the AgentComplete just after the caller's Hangup (without the caller's
        channel headers: the captures show it); when it fell in the gap acd was not looking, none
        comes. The call ended now either way: its agent is free at once, and the entry waits a
        moment for the AgentComplete that tells its wait, then closes without it."""
        entry.hung_up_at = now
        agent = self.reg.agents.get(entry.agent) if entry.agent else None
        if agent is not None and entry.id in agent.calls:
            agent.calls.discard(entry.id)
            agent_changed(self.reg, agent, now, out)
        self.timers.at(now + self.config.complete_wait_seconds, "complete", entry.id)

    # ------------------------------------------------------------------ finishing

    def finish(self, entry: Entry, now: float, out: list[Effect]) -> None:
        """A live entry is over: out of every index, and its record emitted."""
        if self.detach(entry, now, out):
            self.record(entry, now, out)

    def detach(self, entry: Entry, now: float, out: list[Effect]) -> bool:
        """Take a live entry out of every index (False when it was not live): its rings are
        cancelled and its agent is free."""
        if not self.reg.detach(entry):
            return False
        self.cancel_rings(entry, now, out)
        agent = self.reg.agents.get(entry.agent) if entry.agent else None
        if agent is not None and entry.id in agent.calls:
            agent.calls.discard(entry.id)
            agent_changed(self.reg, agent, now, out)
        return True

    def record(self, entry: Entry, now: float, out: list[Effect]) -> None:
        """The detached entry's record (its channels' causes read now), out through the gap fill,
        and remembered in the caller history."""
        reg = self.reg
        record = build_record(
            entry, now, reg.causes(entry.caller_uids), reg.causes(entry.agent_uids), self.config
        )
        # An adopted call that ended before queue_log told its start goes out with the gap fill.
        if self.gapfill is None or not self.gapfill.hold(entry, record):
            out.append(CallFinished(record))
        past = past_call(entry, record)
        if past is not None:
            self.history.add(past)
            self.view.remember(past)
        if entry.handed_over:
            reg.handed_over(entry)
        reg.forget_entry_channels(entry)

    def vanished(self, entry: Entry, lost: Lost, now: float, out: list[Effect]) -> None:
        """A call acd saw is gone after a gap: closed as lost in it, or, when queue_log will be
        read, kept aside until it tells how the call really ended."""
        entry.partial = True
        entry.lost = lost
        if self.gapfill is not None and self.detach(entry, now, out):
            self.gapfill.park(entry)
        else:
            self.finish(entry, now, out)

    def close_stale(self, now: float, out: list[Effect]) -> None:
        limit = now - self.config.stale_call_seconds
        for entry in [e for e in self.reg.entries.values() if e.joined_at < limit]:
            self.anomaly(out, "stale_call", None, f"call {entry.id} had no news for too long", now)
            entry.partial = True
            entry.lost = entry.lost or "stale"
            self.finish(entry, now, out)

    def shutdown(self, now: float, out: list[Effect]) -> None:
        """Asterisk is shutting down: every call in progress is lost to the restart."""
        for entry in list(self.reg.entries.values()):
            entry.shutdown = True
            entry.partial = True
            entry.lost = "asterisk_restart"
            self.finish(entry, now, out)

    def run_timers(self, now: float, out: list[Effect]) -> None:
        entries, agents = self.reg.entries, self.reg.agents
        for kind, key in self.timers.due(now):
            if kind == "wrapup":
                agent = agents.get(key)
                if agent is not None:
                    agent_changed(self.reg, agent, now, out)
                continue
            entry = entries.get(key)
            if entry is None:
                continue
            if kind == "exit":
                if entry.state == "leaving":
                    self.settle_exit(entry, now, out, hung_up=self.reg.caller_hung_up(entry))
            elif kind == "finish":
                deadline = entry.finish_deadline
                if entry.state == "completed" and deadline is not None and deadline <= now:
                    self.finish(entry, now, out)
            elif entry.state == "connected" and entry.hung_up_at is not None:  # complete
                self.finish(entry, now, out)
