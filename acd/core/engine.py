"""The call-center model: AMI header maps in, effects out. Pure: no asyncio, sockets, SQL or clock.

Rules (the captures in tests/fixtures/ami are the reference):

Calls
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
- Who ended it and whether it was a cut-off: classify.py.

Members and agents
- An agent is its state interface; it may be a member of many queues. Busy/free comes from
  AgentCalled/AgentConnect/AgentComplete, not from ``InCall``. Per queue the state is, by priority:
  in_call, ringing, paused, unavailable (device invalid/unavailable), wrapup, available.
- Wrap-up is not on AMI: it runs for the completed call's queue's ``wrapup_seconds``.

Gaps and resync
- ``disconnected()`` opens a gap; ``begin_resync()`` (the shell calls it when it sees FullyBooted
  and sends QueueStatus + CoreShowChannels) collects the snapshot; when both lists are complete the
  model is reconciled with it: unknown waiting callers and bridged queue calls are adopted as
  partial calls, calls whose channels vanished are closed as partial (lost in the gap, which
  makes an answered call a cut-off), members not in the snapshot are logged out. Then
  ``GapRecorded`` and ``ResyncDone`` are emitted.

Anything unexpected (an event for an unknown call, a missing header) becomes an ``Anomaly``
effect; handlers never raise on input. Time comes only from the ``now`` arguments.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from typing import Any

from acd.core import events as ev
from acd.core.classify import SHUTDOWN_FLAG, Signal, classify_cutoff, ended_by
from acd.core.commands import Command, LookupAnswered
from acd.core.config import CoreConfig, is_personal_queue
from acd.core.customer import CustomerCalls
from acd.core.effects import (
    AgentOffer,
    Anomaly,
    CallFinished,
    CallRecord,
    CallStarted,
    Effect,
    GapRecorded,
    MemberSession,
    MemberState,
    MemberStateChanged,
    OutcomeReported,
    ResyncDone,
)
from acd.core.gapfill import GapFill
from acd.core.linking import History, PastCall, caller_key
from acd.core.live import AgentLive, LiveSnapshot, QueueLive
from acd.core.model import Agent, Channel, Entry, Member, Ring, interface_of_channel
from acd.core.queuelog import QueueLogFacts
from acd.core.routed import RoutedCalls
from acd.core.routing_view import ViewPublisher

__all__ = ["Core"]

_HANGUP_KINDS = frozenset({"SoftHangupRequest", "HangupRequest", "Hangup"})
_UNAVAILABLE_STATUS = frozenset({4, 5})  # AST_DEVICE_INVALID, AST_DEVICE_UNAVAILABLE
_STATE_ORDER: dict[MemberState, int] = {
    "in_call": 0,
    "ringing": 1,
    "paused": 2,
    "unavailable": 3,
    "wrapup": 4,
    "available": 5,
    "logged_out": 6,
}


class Core:
    """Feed it every AMI event with :meth:`apply`, and :meth:`tick` now and then."""

    def __init__(self, config: CoreConfig | None = None) -> None:
        self.config = config or CoreConfig()
        self.channels: dict[str, Channel] = {}
        self.entries: dict[str, Entry] = {}  # live entries by id
        self.by_uniqueid: dict[str, Entry] = {}  # live entry by caller channel uniqueid
        self.entry_seq: dict[str, int] = {}  # queue entries seen per caller channel
        self.watch: dict[str, tuple[Entry, str]] = {}  # channel uid -> (connected entry, side)
        self.by_linkedid: dict[str, Entry] = {}  # connected entry by linkedid (transfers, new legs)
        self.leaving: dict[str, Entry] = {}  # entries that left their queue, outcome not yet known
        self.by_member: dict[tuple[str, str], Entry] = {}  # (queue, interface) -> connected entry
        self.members: dict[tuple[str, str], Member] = {}
        self.agents: dict[str, Agent] = {}
        self.iface_agent: dict[str, str] = {}
        self.history = History(self.config.history_horizon)
        self.view = ViewPublisher(self.config.history_horizon)  # what the routing lookup reads
        self.routed = RoutedCalls()  # routing answers, confirmed and followed
        self.live_linked: dict[str, set[str]] = {}  # Linkedid -> its channels not yet hung up
        self._gone: list[str] = []  # Linkedids whose last channel hung up during this input
        self.customers = CustomerCalls(
            self.config, lambda linkedid: linkedid in self.live_linked, home_queue=self._home_queue
        )
        self.timers: list[tuple[float, int, str, str]] = []  # (when, seq, kind, key)
        self._timer_seq = 0
        self.events_seen = 0
        self.events_handled = 0
        self.anomalies = 0
        self.gap_started: float | None = None
        self.gap_reason = "startup"
        self.resync: dict[str, Any] | None = None
        self.restarting = False
        self.synced = False  # resynced since the last gap: the live picture can be trusted
        # queue_log fills gaps when the shell reads it (acd.core.gapfill); None: no queue_log
        self.gapfill: GapFill | None = None
        self._handlers: dict[type, Callable[[Any, float, list[Effect]], None]] = {
            ev.CallerJoin: self._on_join,
            ev.CallerLeave: self._on_leave,
            ev.CallerAbandon: self._on_abandon,
            ev.AgentEvent: self._on_agent,
            ev.MemberEvent: self._on_member,
            ev.QueueEntrySnap: self._on_queue_entry,
            ev.ChannelSnap: self._on_channel_snap,
            ev.NewChannel: self._on_new_channel,
            ev.LocalBridge: self._on_local_bridge,
            ev.ChannelSignal: self._on_signal,
            ev.Transfer: self._on_transfer,
            ev.UserEvent: self._on_user_event,
            ev.SystemEvent: self._on_system,
        }

    # ------------------------------------------------------------------ entry points

    def apply(self, headers: Mapping[str, str], now: float) -> list[Effect]:
        """Apply one AMI message (events only; responses are ignored)."""
        self.events_seen += 1
        out: list[Effect] = []
        name = headers.get("Event")
        parser = ev.PARSERS.get(name) if name is not None else None
        if parser is not None:
            event = parser(headers)
            self.events_handled += 1
            self._handlers[type(event)](event, now, out)
        # Timers run after the event: an AgentConnect that arrives late still wins over the timer
        # that would have declared its caller gone.
        if self.timers and self.timers[0][0] <= now:
            self._run_timers(now, out)
        if out:
            self._publish(out, now)
        if out or self._gone:
            self._customer_calls(out, now)
        return out

    def command(self, command: Command, now: float) -> list[Effect]:
        """Apply one edge command (acd/core/commands.py), in order with the AMI events."""
        out: list[Effect] = []
        if isinstance(command, LookupAnswered):
            self.routed.answered(command, now)
        return out

    def _publish(self, out: list[Effect], now: float) -> None:
        """After every batch of effects: the routing view follows, routed callers settle."""
        self.view.follow(self, out, now)
        self.routed.follow(self, out, now)

    def tick(self, now: float) -> list[Effect]:
        """Advance time: wrap-ups end, pending decisions settle, stale calls close, history ages."""
        out: list[Effect] = []
        self._run_timers(now, out)
        self.history.prune(now)
        self.view.prune(now)
        self.routed.tick(now, out)
        limit = now - self.config.stale_call_seconds
        for entry in [e for e in self.entries.values() if e.joined_at < limit]:
            self._anomaly(out, "stale_call", None, f"call {entry.id} had no news for too long", now)
            entry.partial = True
            entry.lost = entry.lost or "stale"
            self._finish(entry, now, out)
        if out:
            self._publish(out, now)
        self._customer_calls(out, now)
        out.extend(self.customers.tick(now))
        return out

    def _customer_calls(self, out: list[Effect], now: float) -> None:
        """The customer-call stage after the entry model: its effects follow the entries'."""
        more = self.customers.observe(out, now) if out else []
        if self._gone:
            gone, self._gone = self._gone, []
            more.extend(self.customers.channels_gone(gone, now))
        out.extend(more)

    def withdrawing(self, uniqueid: str) -> None:
        """acd is pulling this caller out of its queue: the exit is a withdrawal, not an abandon."""
        entry = self.by_uniqueid.get(uniqueid)
        if entry is not None:
            entry.exit_hint = "withdraw"

    def set_account(self, uniqueid: str, account: str) -> None:
        """An account number the dialplan passed (routing lookup, UserEvent AcdAccount): it wins
        over the number as caller key."""
        chan = self.channels.get(uniqueid)
        if chan is None:
            chan = self._add_channel(Channel(uniqueid, "", uniqueid))
        chan.account = account

    def disconnected(self, now: float, reason: str = "ami_disconnect") -> list[Effect]:
        """The AMI connection is gone: nothing seen from now until the resync is trusted."""
        self.synced = False
        if self.gap_started is None:
            self.gap_started = now
            self.gap_reason = "asterisk_restart" if self.restarting else reason
        self.resync = None
        return []

    def fill_gap(self, facts: QueueLogFacts | None, now: float) -> list[Effect]:
        """Asterisk's queue_log for the last gap (None: it could not be read): the calls acd could
        not see, closed, completed or recovered (acd/core/gapfill.py), and the gap recorded."""
        if self.gapfill is None:
            return []
        out = self.gapfill.fill(self, facts, now)
        self._customer_calls(out, now)
        return out

    def begin_resync(self, now: float) -> None:
        """QueueStatus and CoreShowChannels are about to be sent; collect what they answer."""
        self.resync = {
            "members": set(),
            "entries": set(),
            "channels": {},
            "queue_done": False,
            "channels_done": False,
            "started": now,
            # Only what the model held before the snapshot was asked for can be judged by it: a
            # call or member that appears while the answer streams in postdates the snapshot.
            "known_entries": set(self.entries),
            "known_members": set(self.members),
            "queues": set(),
        }

    def abort_resync(self) -> None:
        """The snapshot was cut short: forget it; the model stays as the events left it."""
        self.resync = None

    def end_resync(self, now: float) -> list[Effect]:
        """Reconcile the model with the snapshot collected since :meth:`begin_resync`."""
        out = self._reconcile(now)
        if out:
            self._publish(out, now)
        self._customer_calls(out, now)
        return out

    def _reconcile(self, now: float) -> list[Effect]:
        snap = self.resync
        if snap is None:
            return []
        self.resync = None
        out: list[Effect] = []
        reconciled = 0
        channels: dict[str, ev.ChannelSnap] = snap["channels"]
        lost = "asterisk_restart" if self.restarting else "ami_gap"
        self._pair_local_halves(channels)
        unseen: list[Entry] = []  # answered while acd was not looking
        # Bridged queue calls acd did not see start: adopt them as partial connected calls.
        bridges: dict[str, list[ev.ChannelSnap]] = {}
        for c in channels.values():
            if c.bridge_id:
                bridges.setdefault(c.bridge_id, []).append(c)
        for c in channels.values():
            # Still a live channel: one that hung up while the answer streamed in is not adopted.
            live = c.uniqueid in self.channels and c.uniqueid not in self.by_uniqueid
            if c.application == "Queue" and c.bridge_id and live:
                self._adopt_bridged(c, bridges.get(c.bridge_id, []), now, out)
                reconciled += 1
        for entry in [self.entries[i] for i in snap["known_entries"] if i in self.entries]:
            uid = entry.uniqueid
            if entry.state == "waiting" and uid not in snap["entries"]:
                chan = channels.get(uid)
                if chan is not None and chan.bridge_id and chan.application == "Queue":
                    # Answered while acd was not looking: connected now, to the agent in its bridge.
                    entry.partial = True
                    entry.state = "connected"
                    self._attach_bridge_agent(entry, chan, bridges.get(chan.bridge_id, []), now, out)
                    unseen.append(entry)
                    reconciled += 1
                    continue
                self._vanished(entry, lost, now, out)
                reconciled += 1
            elif entry.state in ("connected", "completed") and uid not in channels:
                self._vanished(entry, lost, now, out)
                reconciled += 1
            elif entry.state in ("connected", "completed") and not entry.signals:
                # Still up, but how it ends may have begun in the gap (a hang-up request, a
                # shutdown): the first end signal acd sees need not be the first there was.
                entry.unknown.update(("ended_by", "cut_off"))
        for uid in [u for u in self.channels if u not in channels and u not in self.by_uniqueid]:
            self._channel_ended(uid)  # gone while acd was not looking
            del self.channels[uid]
        for key in [k for k in snap["known_members"] if k in self.members and k not in snap["members"]]:
            member = self.members[key]
            self._remove_member(member, now, out, reason="resync")
        if self.gap_started is not None or self.gap_reason == "startup":
            gap = GapRecorded(self.gap_started, now, self.gap_reason, reconciled)
            if self.gapfill is not None:  # recorded once queue_log has told what the gap held
                adopted = [e for i, e in self.entries.items() if e.partial and i not in snap["known_entries"]]
                self.gapfill.open(gap, adopted, unseen)
            else:
                out.append(gap)
        self.gap_started = None
        self.gap_reason = "ami_disconnect"
        self.restarting = False
        self.synced = True
        self.view.set_queues(snap["queues"])
        out.append(
            ResyncDone(now, len({q for q, _ in self.members}), len(self.members), len(channels), reconciled)
        )
        return out

    # ------------------------------------------------------------------ calls

    def _on_join(self, e: ev.CallerJoin, now: float, out: list[Effect]) -> None:
        if not e.uniqueid or not e.queue:
            self._anomaly(out, "missing_header", "QueueCallerJoin", "Uniqueid or Queue missing", now)
            return
        old = self.by_uniqueid.get(e.uniqueid)
        if old is not None:
            # Still in another queue entry (a decision pending): the new join proves it exited.
            self._settle_exit(old, now, out, hung_up=False)
        n = self.entry_seq.get(e.uniqueid, 0) + 1
        self.entry_seq[e.uniqueid] = n
        chan = self.channels.get(e.uniqueid)
        if chan is None:
            chan = self._add_channel(Channel(e.uniqueid, e.channel, e.linkedid, e.caller_num, e.caller_name))
        account = chan.account
        partner = self.channels.get(chan.partner) if chan.partner else None
        if account is None and partner is not None:
            account = partner.account
        key = caller_key(e.caller_num or chan.caller_num, account)
        entry = Entry(
            id=e.uniqueid if n == 1 else f"{e.uniqueid}#{n}",
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
        rules = self.config.queue(e.queue)
        cb, rep = self.history.match(
            key,
            entry.linkedid,
            now,
            callback_window=rules.callback_window_seconds,
            repeat_window=self.config.repeat_window_seconds,
        )
        entry.callback_of = cb.id if cb else None
        entry.repeat_of = rep.id if rep else None
        self.entries[entry.id] = entry
        self.by_uniqueid[e.uniqueid] = entry
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

    def _on_abandon(self, e: ev.CallerAbandon, now: float, out: list[Effect]) -> None:
        entry = self.by_uniqueid.get(e.uniqueid)
        if entry is None:
            # A lone event names no row: the resync adopts calls in progress, queue_log the rest.
            self._anomaly(out, "unknown_call", "QueueCallerAbandon", f"caller {e.uniqueid}", now)
            return
        entry.abandon_hold = (
            float(e.hold_time) if e.hold_time is not None else max(0.0, now - entry.joined_at)
        )

    def _on_leave(self, e: ev.CallerLeave, now: float, out: list[Effect]) -> None:
        entry = self.by_uniqueid.get(e.uniqueid)
        if entry is None or entry.queue != e.queue:
            if entry is None:
                self._anomaly(out, "unknown_call", "QueueCallerLeave", f"caller {e.uniqueid}", now)
            return
        if entry.state != "waiting":
            return  # the ordinary leave of an answered caller (it comes just before AgentConnect)
        if entry.agent is not None:
            return
        entry.left_at = now
        entry.leave_context = e.context
        if self._caller_hung_up(entry):
            self._settle_exit(entry, now, out, hung_up=True)
            return
        # Answered (AgentConnect follows at once), an exit, or an abandon whose hang-up is a moment
        # behind: decided by what comes next, or by the timer.
        entry.state = "leaving"
        self.leaving[entry.linkedid] = entry
        # app_queue sends QueueCallerAbandon before the leave of every caller it did not connect
        # (abandon, timeout, withdraw, redirect); without it an AgentConnect is on its way.
        wait = (
            self.config.exit_decision_seconds
            if entry.abandon_hold is not None
            else self.config.connect_wait_seconds
        )
        self._timer(now + wait, "exit", entry.id)

    def _settle_exit(self, entry: Entry, now: float, out: list[Effect], *, hung_up: bool) -> None:
        if entry.state not in ("waiting", "leaving"):
            return
        if entry.shutdown:
            # Asterisk's shutdown took the caller: not an abandon (queue_log says ABANDON anyway).
            entry.reason, entry.lost = None, "asterisk_restart"
        elif hung_up and entry.exit_hint != "withdraw":
            entry.reason = "abandoned"
        else:
            entry.reason = "exited"
        self._finish(entry, now, out)

    def _on_agent(self, e: ev.AgentEvent, now: float, out: list[Effect]) -> None:
        kind = e.kind
        if kind == "AgentComplete":
            self._on_complete(e, now, out)
            return
        entry = self.by_uniqueid.get(e.uniqueid) if e.uniqueid else None
        if entry is None:
            # A lone event names no row (a stray or malformed AgentConnect would otherwise make
            # a phantom answered call): the resync adopts calls in progress, queue_log the rest.
            self._anomaly(out, "unknown_call", kind, f"caller {e.uniqueid or '?'}", now)
            return
        agent = self._agent_for(e.queue, e.interface, e.member_name)
        if kind == "AgentCalled":
            entry.rings[e.interface] = Ring(agent.agent, agent.name, e.interface, now, e.dest_uniqueid)
            agent.ringing.add(entry.id)
            self._agent_changed(agent, now, out)
        elif kind in ("AgentRingNoAnswer", "AgentDump"):
            ring = entry.rings.pop(e.interface, None)
            secs = (e.ring_time or 0) / 1000.0 if kind == "AgentRingNoAnswer" else None
            if ring is not None or secs is not None:
                rang_at = ring.rang_at if ring else now - (secs or 0.0)
                entry.offers.append(
                    AgentOffer(
                        agent.agent,
                        agent.name,
                        rang_at,
                        "no_answer",
                        secs if secs is not None else max(0.0, now - rang_at),
                    )
                )
            agent.ringing.discard(entry.id)
            self._agent_changed(agent, now, out)
        elif kind == "AgentConnect":
            ring = entry.rings.pop(e.interface, None)
            ring_secs = (
                float(e.ring_time) if e.ring_time is not None else (now - ring.rang_at if ring else 0.0)
            )
            entry.offers.append(
                AgentOffer(
                    agent.agent, agent.name, ring.rang_at if ring else now - ring_secs, "answered", ring_secs
                )
            )
            self._cancel_rings(entry, now, out)
            if self.leaving.get(entry.linkedid) is entry:
                del self.leaving[entry.linkedid]
            entry.state = "connected"
            entry.agent = agent.agent
            entry.agent_name = e.member_name or agent.name
            entry.interface = e.interface
            entry.answered_at = now
            entry.hold_time = (
                float(e.hold_time) if e.hold_time is not None else max(0.0, now - entry.joined_at)
            )
            entry.agent_uniqueid = e.dest_uniqueid or None
            for uid in entry.caller_uids:
                self.watch[uid] = (entry, "caller")
            if e.dest_uniqueid:
                entry.agent_uids.add(e.dest_uniqueid)
                self.watch[e.dest_uniqueid] = (entry, "agent")
                dest = self.channels.get(e.dest_uniqueid)
                if dest is not None and dest.partner:
                    entry.agent_uids.add(dest.partner)
                    self.watch[dest.partner] = (entry, "agent")
            self.by_linkedid[entry.linkedid] = entry
            self.by_member[(entry.queue, e.interface)] = entry
            agent.ringing.discard(entry.id)
            agent.calls.add(entry.id)
            agent.last_call = entry.id
            self._agent_changed(agent, now, out)

    def _on_complete(self, e: ev.AgentEvent, now: float, out: list[Effect]) -> None:
        known = self.by_uniqueid.get(e.uniqueid) if e.uniqueid else None
        entry = known
        if entry is None or entry.agent is None:
            entry = self.by_member.get((e.queue, e.interface)) or known
        if entry is None:
            self._anomaly(out, "unknown_call", "AgentComplete", f"member {e.interface}", now)
            return
        if entry.agent is None:
            # Connected while acd was not looking (an AMI gap): the event says by whom and how long.
            talk = float(e.talk_time or 0)
            agent = self._agent_for(e.queue, e.interface, e.member_name)
            entry.partial = True
            entry.state = "connected"
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
        entry.reason = e.reason or entry.reason
        entry.state = "completed"
        done = self.agents.get(entry.agent) if entry.agent else None
        if done is not None:
            done.calls.discard(entry.id)
            wrap = self.config.queue(entry.queue).wrapup_seconds
            if wrap > 0:
                done.wrapup_until = max(done.wrapup_until, now + wrap)
                self._timer(done.wrapup_until, "wrapup", done.agent)
            self._agent_changed(done, now, out)
        self.by_member.pop((entry.queue, entry.interface or ""), None)
        if entry.transferred or entry.reason == "transfer" or self._all_hung_up(entry):
            self._finish(entry, now, out)
        else:
            entry.finish_deadline = now + self.config.finish_grace_seconds
            self._timer(entry.finish_deadline, "finish", entry.id)

    def _cancel_rings(self, entry: Entry, now: float, out: list[Effect]) -> None:
        for ring in entry.rings.values():
            entry.offers.append(
                AgentOffer(
                    ring.agent, ring.agent_name, ring.rang_at, "cancelled", max(0.0, now - ring.rang_at)
                )
            )
            agent = self.agents.get(ring.agent)
            if agent is not None:
                agent.ringing.discard(entry.id)
                self._agent_changed(agent, now, out)
        entry.rings.clear()

    # ------------------------------------------------------------------ channels

    def _on_new_channel(self, e: ev.NewChannel, now: float, out: list[Effect]) -> None:
        if not e.uniqueid:
            return
        known = self.channels.get(e.uniqueid)
        if known is None:
            self._add_channel(Channel(e.uniqueid, e.channel, e.linkedid, e.caller_num, e.caller_name))
        elif not known.name and e.linkedid and known.linkedid != e.linkedid:
            # A placeholder (an account named before acd saw the channel): now it is known.
            self._channel_ended(e.uniqueid)
            self._gone = [g for g in self._gone if g != known.linkedid]
            known.name, known.linkedid = e.channel, e.linkedid
            self._add_channel(known)
        entry = self.by_linkedid.get(e.linkedid)
        if entry is not None and e.uniqueid not in entry.caller_uids and e.uniqueid not in entry.agent_uids:
            entry.signals.append(Signal("NewLeg", "other"))
        pending = self.leaving.get(e.linkedid)
        if pending is not None and pending.state == "leaving" and e.uniqueid not in pending.caller_uids:
            self._settle_exit(pending, now, out, hung_up=False)  # it is dialling on: not an abandon

    def _on_local_bridge(self, e: ev.LocalBridge, now: float, out: list[Effect]) -> None:
        one, two = self.channels.get(e.one), self.channels.get(e.two)
        if one is None or two is None:
            return
        one.partner, two.partner = e.two, e.one
        for a, b in ((e.one, e.two), (e.two, e.one)):
            watched = self.watch.get(a)
            if watched is not None and b not in self.watch:
                entry, side = watched
                self.watch[b] = watched
                (entry.caller_uids if side == "caller" else entry.agent_uids).add(b)
            live = self.by_uniqueid.get(a)
            if live is not None:
                live.caller_uids.add(b)

    def _on_channel_snap(self, e: ev.ChannelSnap, now: float, out: list[Effect]) -> None:
        if not e.uniqueid:
            return
        chan = self.channels.get(e.uniqueid)
        if chan is None:
            self._add_channel(Channel(e.uniqueid, e.channel, e.linkedid, e.caller_num, e.caller_name))
        if self.resync is not None:
            self.resync["channels"][e.uniqueid] = e

    def _on_signal(self, e: ev.ChannelSignal, now: float, out: list[Effect]) -> None:
        uid = e.uniqueid
        chan = self.channels.get(uid)
        kind = e.kind
        if chan is not None and kind != "BridgeLeave":
            if kind != "SoftHangupRequest" and e.cause is not None and (e.cause != 0 or chan.cause is None):
                chan.cause = e.cause  # SoftHangupRequest's Cause is a flag, not Q.850
            if kind == "Hangup":
                chan.hung_up = True
                self._channel_ended(uid)
            else:
                chan.hangup_requested = True
        watched = self.watch.get(uid)
        if watched is not None:
            entry, side = watched
            cause = None if kind == "SoftHangupRequest" else e.cause
            entry.signals.append(Signal(kind, side, e.cause if kind == "SoftHangupRequest" else cause))
            if kind == "Hangup" and self._all_hung_up(entry):
                if entry.state == "completed":
                    self._finish(entry, now, out)
                elif entry.partial and entry.state == "connected" and entry.hung_up_at is None:
                    self._await_complete(entry, now, out)
        elif kind != "BridgeLeave":
            if kind == "SoftHangupRequest" and e.cause == SHUTDOWN_FLAG:
                queued = self.by_uniqueid.get(uid)
                if queued is None and chan is not None and chan.partner:
                    queued = self.by_uniqueid.get(chan.partner)
                if queued is not None:
                    queued.shutdown = True
            linked = self.by_linkedid.get(e.linkedid) if e.linkedid else None
            if linked is not None and uid not in linked.caller_uids and uid not in linked.agent_uids:
                linked.signals.append(Signal(kind, "other", None))
            waiting = self.by_uniqueid.get(uid)
            if waiting is None and chan is not None and chan.partner:
                waiting = self.by_uniqueid.get(chan.partner)
            if waiting is not None and waiting.state == "leaving":
                self._settle_exit(waiting, now, out, hung_up=True)
        if kind == "Hangup":
            self._forget_channel(uid)

    def _await_complete(self, entry: Entry, now: float, out: list[Effect]) -> None:
        """An adopted call's channels all hung up before its AgentComplete. When the caller hangs
        up, Asterisk sends the AgentComplete just after the caller's Hangup (without the caller's
        channel headers: the captures show it); when it fell in the gap acd was not looking, none
        comes. The call ended now either way: its agent is free at once, and the entry waits a
        moment for the AgentComplete that tells its wait, then closes without it."""
        entry.hung_up_at = now
        agent = self.agents.get(entry.agent) if entry.agent else None
        if agent is not None and entry.id in agent.calls:
            agent.calls.discard(entry.id)
            self._agent_changed(agent, now, out)
        self._timer(now + self.config.complete_wait_seconds, "complete", entry.id)

    def _add_channel(self, chan: Channel) -> Channel:
        self.channels[chan.uniqueid] = chan
        self.live_linked.setdefault(chan.linkedid, set()).add(chan.uniqueid)
        return chan

    def _channel_ended(self, uid: str) -> None:
        """The channel hung up (or vanished): its Linkedid may have no channel left."""
        chan = self.channels.get(uid)
        live = self.live_linked.get(chan.linkedid) if chan is not None else None
        if live is None or chan is None:
            return
        live.discard(uid)
        if not live:
            del self.live_linked[chan.linkedid]
            self._gone.append(chan.linkedid)

    def _forget_channel(self, uid: str) -> None:
        chan = self.channels.get(uid)
        if chan is None:
            return
        if uid in self.by_uniqueid or uid in self.watch:
            return  # still needed until the call's record is out; dropped in _finish
        del self.channels[uid]
        if uid in self.entry_seq and uid not in self.by_uniqueid:
            del self.entry_seq[uid]

    def _on_transfer(self, e: ev.Transfer, now: float, out: list[Effect]) -> None:
        for uid in (e.transferer_uniqueid, e.transferee_uniqueid):
            watched = self.watch.get(uid)
            if watched is not None:
                entry = watched[0]
                entry.transferred = True
                entry.transfer_target = e.kind
                if entry.state == "completed":
                    self._finish(entry, now, out)
                return
        linked = self.by_linkedid.get(e.linkedid)
        if linked is not None:
            linked.transferred = True
            linked.transfer_target = e.kind

    # ------------------------------------------------------------------ members

    def _agent_for(self, queue: str, interface: str, name: str) -> Agent:
        member = self.members.get((queue, interface))
        agent_id = member.agent if member else self.iface_agent.get(interface, interface)
        agent = self.agents.get(agent_id)
        if agent is None:
            agent = self.agents[agent_id] = Agent(agent_id, name or agent_id)
        return agent

    def _on_member(self, e: ev.MemberEvent, now: float, out: list[Effect]) -> None:
        if not e.queue or not e.interface:
            self._anomaly(out, "missing_header", e.kind, "Queue or Interface missing", now)
            return
        key = (e.queue, e.interface)
        if e.kind == "QueueMemberRemoved":
            member = self.members.get(key)
            if member is not None:
                self._remove_member(member, now, out, reason=None)
            return
        member = self.members.get(key)
        if member is None:
            member = self.members[key] = Member(e.queue, e.interface, e.state_interface, e.name)
            self.iface_agent[e.interface] = e.state_interface
            agent = self.agents.get(e.state_interface)
            if agent is None:
                agent = self.agents[e.state_interface] = Agent(e.state_interface, e.name)
            agent.members.add(key)
            agent.name = e.name or agent.name
            member.paused, member.paused_reason, member.status = e.paused, e.paused_reason, e.status
            why = "resync" if e.kind == "QueueMember" else None
            out.append(MemberSession("login", e.queue, member.agent, member.name, why, now))
            if e.paused:
                out.append(
                    MemberSession("pause", e.queue, member.agent, member.name, e.paused_reason or None, now)
                )
        else:
            if e.paused != member.paused:
                out.append(
                    MemberSession(
                        "pause" if e.paused else "unpause",
                        e.queue,
                        member.agent,
                        member.name,
                        (e.paused_reason or None) if e.paused else None,
                        now,
                    )
                )
            elif e.paused and e.paused_reason != member.paused_reason:
                out.append(
                    MemberSession("pause", e.queue, member.agent, member.name, e.paused_reason or None, now)
                )
            member.paused, member.paused_reason, member.status = e.paused, e.paused_reason, e.status
            if e.name:
                member.name = e.name
        if self.resync is not None and e.kind == "QueueMember":
            self.resync["members"].add(key)
        self._member_changed(member, now, out)

    def _remove_member(self, member: Member, now: float, out: list[Effect], reason: str | None) -> None:
        key = (member.queue, member.interface)
        del self.members[key]
        agent = self.agents.get(member.agent)
        out.append(MemberSession("logout", member.queue, member.agent, member.name, reason, now))
        out.append(
            MemberStateChanged(member.queue, member.agent, member.name, "logged_out", member.state, None, now)
        )
        if agent is not None:
            agent.members.discard(key)
            if not agent.members and not agent.calls and not agent.ringing:
                del self.agents[member.agent]

    def _derive(self, member: Member, agent: Agent | None, now: float) -> MemberState:
        if agent is not None:
            if agent.calls:
                return "in_call"
            if agent.ringing:
                return "ringing"
        if member.paused:
            return "paused"
        if member.status in _UNAVAILABLE_STATUS:
            return "unavailable"
        if agent is not None and agent.wrapup_until > now:
            return "wrapup"
        return "available"

    def _member_changed(self, member: Member, now: float, out: list[Effect]) -> None:
        state = self._derive(member, self.agents.get(member.agent), now)
        if state != member.state:
            out.append(
                MemberStateChanged(
                    member.queue,
                    member.agent,
                    member.name,
                    state,
                    member.state,
                    member.paused_reason or None,
                    now,
                )
            )
            member.state = state

    def _agent_changed(self, agent: Agent, now: float, out: list[Effect]) -> None:
        for key in agent.members:
            member = self.members.get(key)
            if member is not None:
                self._member_changed(member, now, out)

    # ------------------------------------------------------------------ snapshot, system, user events

    def _on_queue_entry(self, e: ev.QueueEntrySnap, now: float, out: list[Effect]) -> None:
        if not e.uniqueid:
            return
        if self.resync is not None:
            self.resync["entries"].add(e.uniqueid)
        if e.uniqueid not in self.by_uniqueid and e.queue:
            entry = self._orphan(e.uniqueid, e.queue, now - float(e.wait or 0), now)
            entry.caller_num, entry.caller_name = e.caller_num, e.caller_name
            entry.key = caller_key(e.caller_num)

    def _adopt_bridged(
        self, c: ev.ChannelSnap, peers: list[ev.ChannelSnap], now: float, out: list[Effect]
    ) -> None:
        queue = c.application_data.split(",", 1)[0]
        talk = _duration(c.duration)
        entry = self._orphan(c.uniqueid, queue, now - talk, now, linkedid=c.linkedid)
        entry.caller_num, entry.caller_name, entry.key = c.caller_num, c.caller_name, caller_key(c.caller_num)
        entry.state = "connected"
        entry.answered_at = now - talk
        # The channel's age, not the queue's times: the final AgentComplete tells them.
        entry.inferred.update(("joined_at", "answered_at"))
        self._attach_bridge_agent(entry, c, peers, now, out)

    def _attach_bridge_agent(
        self, entry: Entry, c: ev.ChannelSnap, peers: list[ev.ChannelSnap], now: float, out: list[Effect]
    ) -> None:
        """The caller ``c`` is bridged: its agent is the other channel of the bridge."""
        queue = entry.queue
        for uid in list(entry.caller_uids):  # the caller's Local half, paired from the snapshot
            chan = self.channels.get(uid)
            if chan is not None and chan.partner:
                entry.caller_uids.add(chan.partner)
        for peer in peers:
            if peer.uniqueid == c.uniqueid:
                continue
            iface = interface_of_channel(peer.channel)
            member = next((m for (q, i), m in self.members.items() if q == queue and i == iface), None)
            agent = self._agent_for(queue, iface, member.name if member else iface)
            entry.agent, entry.agent_name, entry.interface = agent.agent, agent.name, iface
            entry.agent_uniqueid = peer.uniqueid
            entry.agent_uids.add(peer.uniqueid)
            self.watch[peer.uniqueid] = (entry, "agent")
            half = self.channels.get(peer.uniqueid)
            if half is not None and half.partner:
                entry.agent_uids.add(half.partner)
                self.watch[half.partner] = (entry, "agent")
            self.by_member[(queue, iface)] = entry
            agent.calls.add(entry.id)
            self._agent_changed(agent, now, out)
            break
        for uid in entry.caller_uids:
            self.watch[uid] = (entry, "caller")
        self.by_linkedid[entry.linkedid] = entry

    def _pair_local_halves(self, channels: dict[str, ev.ChannelSnap]) -> None:
        """Local channel halves (``...;1``/``...;2``) acd did not see paired (LocalBridge came in a
        gap): paired from the snapshot's names, so a hang-up of either half is its side's. Waiting
        callers adopted from the snapshot take their half now."""
        halves: dict[str, list[str]] = {}
        for c in channels.values():
            if c.channel.startswith("Local/") and ";" in c.channel:
                halves.setdefault(c.channel.rsplit(";", 1)[0], []).append(c.uniqueid)
        for pair in halves.values():
            one, two = (self.channels.get(u) for u in pair[:2]) if len(pair) == 2 else (None, None)
            if one is None or two is None or one.partner or two.partner:
                continue
            one.partner, two.partner = two.uniqueid, one.uniqueid
            for a, b in ((one.uniqueid, two.uniqueid), (two.uniqueid, one.uniqueid)):
                live = self.by_uniqueid.get(a)
                if live is not None:
                    live.caller_uids.add(b)

    def _vanished(self, entry: Entry, lost: str, now: float, out: list[Effect]) -> None:
        """A call acd saw is gone after a gap: closed as lost in it, or, when queue_log will be
        read, kept aside until it tells how the call really ended."""
        entry.partial = True
        entry.lost = lost
        if self.gapfill is not None and self._detach(entry, now, out):
            self.gapfill.park(entry)
        else:
            self._finish(entry, now, out)

    def _on_system(self, e: ev.SystemEvent, now: float, out: list[Effect]) -> None:
        kind = e.kind
        if kind == "Shutdown":
            self.restarting = True
            self.synced = False
            for entry in list(self.entries.values()):
                entry.shutdown = True
                entry.partial = True
                entry.lost = "asterisk_restart"
                self._finish(entry, now, out)
        elif kind == "QueueParams" and self.resync is not None:
            self.resync["queues"].add(e.headers.get("Queue", ""))
        elif kind == "QueueStatusComplete" and self.resync is not None:
            self.resync["queue_done"] = True
        elif kind == "CoreShowChannelsComplete" and self.resync is not None:
            self.resync["channels_done"] = True
        if self.resync is not None and self.resync["queue_done"] and self.resync["channels_done"]:
            out.extend(self._reconcile(now))

    def _on_user_event(self, e: ev.UserEvent, now: float, out: list[Effect]) -> None:
        h = e.headers
        if e.name == "AcdRouted":
            decision = h.get("Decision", "").strip()
            self.routed.confirmed(self, decision, e.uniqueid, h.get("Channel", ""), now, out)
            return
        if e.name == "AcdAccount":
            account = h.get("Account", "").strip()
            if e.uniqueid and account:
                self.set_account(e.uniqueid, account)
            return
        if e.name != "CallOutcome":
            return
        agent_ref = h.get("Agent") or None
        call_id: str | None = None
        entry = self.by_linkedid.get(e.linkedid) if e.linkedid else None
        if entry is None and e.linkedid:
            entry = self.by_uniqueid.get(e.linkedid)
        if entry is not None:
            call_id = entry.id
        elif e.linkedid:
            call_id = e.linkedid
        if call_id is None and agent_ref:
            agent = self.agents.get(agent_ref) or self.agents.get(self.iface_agent.get(agent_ref, ""))
            if agent is not None:
                call_id = next(iter(agent.calls), None) or agent.last_call
        resolved_raw = h.get("Resolved")
        points_raw = h.get("Points")
        try:
            points = float(points_raw) if points_raw else None
        except ValueError:
            points = None
            self._anomaly(out, "bad_value", "UserEvent", f"Points={points_raw!r}", now)
        order_ref = h.get("OrderRef", "").strip() or None
        order_status = h.get("OrderStatus", "").strip().lower() or None
        if order_ref is not None and (order_status not in ("open", "closed") or len(order_ref) > 128):
            # the API's limits (acd/api/payloads.py): anything else is kept in headers, not as an order
            self._anomaly(out, "bad_value", "UserEvent", f"order {order_ref[:40]!r} {order_status!r}", now)
            order_ref = None
        out.append(
            OutcomeReported(
                call_uniqueid=call_id,
                linkedid=e.linkedid or None,
                agent=agent_ref,
                disposition=h.get("Outcome") or h.get("Disposition") or None,
                resolved=None if resolved_raw is None else resolved_raw.lower() in ("1", "yes", "true"),
                notes=h.get("Notes") or None,
                points=points,
                at=now,
                headers=tuple((k, v) for k, v in h.items() if k not in ("Event", "Privilege")),
                order_ref=order_ref,
                order_status=("open" if order_status == "open" else "closed") if order_ref else None,
                order_left=(h.get("OrderLeft", "")[:2000] or None) if order_ref else None,
            )
        )

    # ------------------------------------------------------------------ finishing

    def _orphan(self, uid: str, queue: str, joined: float, now: float, linkedid: str = "") -> Entry:
        """A call acd sees only part of (attached late, events lost): kept, marked partial."""
        n = self.entry_seq.get(uid, 0) + 1
        self.entry_seq[uid] = n
        chan = self.channels.get(uid)
        entry = Entry(
            id=uid if n == 1 else f"{uid}#{n}",
            uniqueid=uid,
            number=n,
            linkedid=linkedid or (chan.linkedid if chan else uid),
            queue=queue,
            caller_num=chan.caller_num if chan else "",
            caller_name=chan.caller_name if chan else "",
            key=caller_key(chan.caller_num) if chan else None,
            account=None,
            joined_at=min(joined, now),
            position=None,
            partial=True,
        )
        entry.caller_uids.add(uid)
        if chan is not None and chan.partner:
            entry.caller_uids.add(chan.partner)
        self.entries[entry.id] = entry
        self.by_uniqueid[uid] = entry
        return entry

    def _caller_hung_up(self, entry: Entry) -> bool:
        for uid in entry.caller_uids:
            chan = self.channels.get(uid)
            if chan is not None and (chan.hangup_requested or chan.hung_up):
                return True
        return False

    def _all_hung_up(self, entry: Entry) -> bool:
        for uid in (entry.uniqueid, entry.agent_uniqueid):
            if uid:
                chan = self.channels.get(uid)
                if chan is not None and not chan.hung_up:
                    return False
        return True

    def _side_causes(self, uids: set[str]) -> list[int | None]:
        return [self.channels[u].cause for u in uids if u in self.channels]

    def _finish(self, entry: Entry, now: float, out: list[Effect], *, detached: bool = False) -> None:
        if not detached and not self._detach(entry, now, out):
            return
        self._record(entry, now, out)

    def _detach(self, entry: Entry, now: float, out: list[Effect]) -> bool:
        """Take a live entry out of every index (False when it was not live)."""
        if self.entries.pop(entry.id, None) is None:
            return False
        if self.by_uniqueid.get(entry.uniqueid) is entry:
            del self.by_uniqueid[entry.uniqueid]
        for uid in list(entry.caller_uids | entry.agent_uids):
            if self.watch.get(uid, (None,))[0] is entry:
                del self.watch[uid]
        if self.by_linkedid.get(entry.linkedid) is entry:
            del self.by_linkedid[entry.linkedid]
        if self.leaving.get(entry.linkedid) is entry:
            del self.leaving[entry.linkedid]
        if entry.interface and self.by_member.get((entry.queue, entry.interface)) is entry:
            del self.by_member[(entry.queue, entry.interface)]
        self._cancel_rings(entry, now, out)
        agent = self.agents.get(entry.agent) if entry.agent else None
        if agent is not None and entry.id in agent.calls:
            agent.calls.discard(entry.id)
            self._agent_changed(agent, now, out)
        return True

    def _record(self, entry: Entry, now: float, out: list[Effect]) -> None:
        """The finished entry's record (its channels' causes read now), out through the gap fill."""
        answered = entry.agent is not None
        # An adopted call that waited for its AgentComplete ended at its last hang-up.
        now = entry.hung_up_at if entry.hung_up_at is not None else now
        rules = self.config.queue(entry.queue)
        caller_causes = self._side_causes(entry.caller_uids)
        agent_causes = self._side_causes(entry.agent_uids)
        exit_reason: str | None = None
        if answered:
            outcome = "answered"
            # Asterisk's HoldTime; unknown (None) for a call adopted in a resync that ended
            # without an AgentComplete saying it: never the channel's age.
            wait: float | None = entry.hold_time
            talk = (
                entry.talk_time
                if entry.talk_time is not None
                else (max(0.0, now - entry.answered_at) if entry.answered_at is not None else 0.0)
            )
            who = ended_by(
                entry.signals,
                reason=entry.reason if entry.reason != "answered" else None,
                transferred=entry.transferred,
                shutdown=entry.shutdown,
            )
            if who is None and entry.lost == "asterisk_restart":
                who = "system"
            if who == "system" and entry.lost is None:
                entry.lost = "asterisk_restart"
        else:
            talk = 0.0
            who = None
            waited = (
                entry.abandon_hold
                if entry.abandon_hold is not None
                else max(0.0, (entry.left_at or now) - entry.joined_at)
            )
            wait = waited
            if entry.reason == "abandoned":
                outcome = "abandoned"
                who = "caller"  # the caller hung up while waiting
                exit_reason = "short" if waited < rules.short_abandon_seconds else "long"
            elif entry.lost is not None and entry.reason is None:
                outcome, exit_reason, who = "exited", entry.lost, "system"
            else:
                outcome = "exited"
                who = "system"  # the queue (timeout, empty), acd (withdraw) or a redirect took the caller out
                if entry.exit_hint is not None:  # withdraw (acd pulled them); queue_log: empty, key...
                    exit_reason = entry.exit_hint
                elif entry.leave_context and entry.join_context and entry.leave_context != entry.join_context:
                    exit_reason = "redirect"
                else:
                    exit_reason = "timeout"
        cut, reasons, short = classify_cutoff(
            answered=answered,
            caller_causes=caller_causes,
            agent_causes=agent_causes,
            ended=who,
            talk_seconds=talk,
            lost=entry.lost,
            policy=self.config.cutoff,
        )
        caller_cause = _worst(caller_causes, self.config.cutoff.normal_causes)
        agent_cause = _worst(agent_causes, self.config.cutoff.normal_causes)
        cause = (
            agent_cause
            if who == "agent"
            else caller_cause
            if who == "caller"
            else (
                next(
                    (
                        c
                        for c in (caller_cause, agent_cause)
                        if c not in (None, 0, *self.config.cutoff.normal_causes)
                    ),
                    caller_cause if caller_cause is not None else agent_cause,
                )
            )
        )
        record = CallRecord(
            id=entry.id,
            uniqueid=entry.uniqueid,
            entry=entry.number,
            linkedid=entry.linkedid,
            queue=entry.queue,
            caller_num=entry.caller_num or None,
            caller_name=entry.caller_name or None,
            caller_key=entry.key,
            joined_at=entry.joined_at,
            ended_at=now,
            outcome=outcome,  # type: ignore[arg-type]
            exit_reason=exit_reason,
            agent=entry.agent,
            agent_name=entry.agent_name,
            answered_at=entry.answered_at,
            wait_seconds=None if wait is None else max(0.0, wait),
            talk_seconds=max(0.0, talk),
            ended_by=who,  # type: ignore[arg-type]
            cause=cause,
            caller_cause=caller_cause,
            agent_cause=agent_cause,
            cut_off=cut,
            cut_off_reasons=reasons,
            agent_released_short=short,
            transfer_target=entry.transfer_target,
            callback_of=entry.callback_of,
            repeat_of=entry.repeat_of,
            partial=entry.partial,
            position=entry.position,
            offers=tuple(entry.offers),
            account=entry.account,
            source=entry.source,
            unknown=tuple(sorted(entry.unknown)),
            inferred=tuple(sorted(entry.inferred)),
        )
        # An adopted call that ended before queue_log told its start goes out with the gap fill.
        if self.gapfill is None or not self.gapfill.hold(entry, record):
            out.append(CallFinished(record))
        if entry.key is not None:
            past = PastCall(
                entry.id,
                entry.linkedid,
                entry.key,
                entry.queue,
                entry.agent,
                entry.agent_name,
                answered,
                cut,
                now,
            )
            self.history.add(past)
            self.view.remember(past)
        for uid in entry.caller_uids | entry.agent_uids:
            chan = self.channels.get(uid)
            if chan is not None and chan.hung_up and uid not in self.by_uniqueid and uid not in self.watch:
                del self.channels[uid]
        if entry.uniqueid not in self.channels:
            self.entry_seq.pop(entry.uniqueid, None)

    # ------------------------------------------------------------------ timers and helpers

    def _timer(self, when: float, kind: str, key: str) -> None:
        self._timer_seq += 1
        heapq.heappush(self.timers, (when, self._timer_seq, kind, key))

    def _run_timers(self, now: float, out: list[Effect]) -> None:
        timers = self.timers
        while timers and timers[0][0] <= now:
            _, _, kind, key = heapq.heappop(timers)
            if kind == "exit":
                entry = self.entries.get(key)
                if entry is not None and entry.state == "leaving":
                    self._settle_exit(entry, now, out, hung_up=self._caller_hung_up(entry))
            elif kind == "finish":
                entry = self.entries.get(key)
                if (
                    entry is not None
                    and entry.state == "completed"
                    and entry.finish_deadline is not None
                    and entry.finish_deadline <= now
                ):
                    self._finish(entry, now, out)
            elif kind == "complete":
                entry = self.entries.get(key)
                if entry is not None and entry.state == "connected" and entry.hung_up_at is not None:
                    self._finish(entry, now, out)
            elif kind == "wrapup":
                agent = self.agents.get(key)
                if agent is not None:
                    self._agent_changed(agent, now, out)

    def _anomaly(self, out: list[Effect], kind: str, event: str | None, detail: str, now: float) -> None:
        self.anomalies += 1
        out.append(Anomaly(kind, event, detail, now))

    # ------------------------------------------------------------------ reading

    def live(self, now: float) -> LiveSnapshot:
        """What the call center looks like now (personal affinity queues folded away)."""
        waiting: dict[str, list[float]] = {}
        for entry in self.entries.values():
            if entry.state == "waiting" and not is_personal_queue(entry.queue):
                waiting.setdefault(entry.queue, []).append(now - entry.joined_at)
        by_queue: dict[str, dict[MemberState, int]] = {}
        per_agent: dict[str, list[Member]] = {}
        for member in self.members.values():
            if is_personal_queue(member.queue):
                continue
            state = self._derive(member, self.agents.get(member.agent), now)
            counts = by_queue.setdefault(member.queue, {})
            counts[state] = counts.get(state, 0) + 1
            per_agent.setdefault(member.agent, []).append(member)
        queues = tuple(
            QueueLive(name, len(waiting.get(name, ())), max(waiting.get(name, [0.0])), by_queue.get(name, {}))
            for name in sorted(set(by_queue) | set(waiting))
        )
        agents = []
        for agent_id, members in sorted(per_agent.items()):
            agent = self.agents.get(agent_id)
            states = [self._derive(m, agent, now) for m in members]
            best = min(states, key=_STATE_ORDER.__getitem__)
            paused = next((m.paused_reason for m in members if m.paused), None)
            current = next(iter(agent.calls or agent.ringing), None) if agent else None
            agents.append(
                AgentLive(
                    agent_id,
                    members[0].name,
                    best,
                    tuple(sorted(m.queue for m in members)),
                    paused or None,
                    current,
                )
            )
        return LiveSnapshot(now, queues, tuple(agents), in_sync=self.synced)

    def agent_state(self, agent: str, now: float) -> tuple[MemberState, dict[str, MemberState]]:
        """The agent's overall state and per-queue states (for routing decisions)."""
        record = self.agents.get(agent)
        if record is None:
            return "logged_out", {}
        per_queue = {}
        for key in record.members:
            member = self.members.get(key)
            if member is not None:
                per_queue[member.queue] = self._derive(member, record, now)
        if not per_queue:
            return "logged_out", {}
        return min(per_queue.values(), key=_STATE_ORDER.__getitem__), per_queue

    def _home_queue(self, personal: str) -> str | None:
        """The shared queue of a personal queue's agent (the first, when they are in several)."""
        for (queue, _), member in self.members.items():
            if queue == personal:
                agent = self.agents.get(member.agent)
                shared = sorted(q for q, _ in agent.members if not is_personal_queue(q)) if agent else []
                return shared[0] if shared else None
        return None

    def load_history(self, calls: list[PastCall]) -> None:
        """Seed caller history from storage (oldest first), so a restart forgets no cut-off."""
        for call in calls:
            self.history.add(call)
        self.view.remember_all(calls)
        self.customers.remember(calls)


def _worst(causes: list[int | None], normal: frozenset[int]) -> int | None:
    known = [c for c in causes if c is not None]
    if not known:
        return None
    abnormal = [c for c in known if c != 0 and c not in normal]
    if abnormal:
        return abnormal[0]
    nonzero = [c for c in known if c != 0]
    return nonzero[0] if nonzero else 0


def _duration(text: str) -> float:
    """CoreShowChannel ``Duration`` is ``HH:MM:SS``."""
    try:
        parts = [int(p) for p in text.split(":")]
    except ValueError:
        return 0.0
    total = 0
    for p in parts:
        total = total * 60 + p
    return float(total)
