"""The call-center model: AMI header maps in, effects out. Pure: no asyncio, sockets, SQL or clock.

``Core`` is the one entry point. It owns the registry of what it tracks (registry.py) and hands
each typed event (events.py) to the rules that own it:

- queue entries, from join to record: queue_entries.py (states: entry_states.py; the record:
  call_record.py); channels and their hang-up signals: channels.py;
- queue members and agents, and the live picture: members.py;
- the rep's reported outcome: outcomes.py;
- gaps: ``disconnected()`` opens one; ``begin_resync()`` (the shell calls it when it sees
  FullyBooted and sends QueueStatus + CoreShowChannels) collects the snapshot, and when both lists
  are complete the model is reconciled with it (resync.py). Then ``GapRecorded`` (at once, or after
  queue_log has told what the gap held: gapfill.py) and ``ResyncDone`` are emitted.

After every input the routing view follows (routing_view.py), routed callers settle (routed.py),
and the customer-call stage (customer.py) turns entry effects into customer-call effects.

Anything unexpected (an event for an unknown call, a missing header, a move the entry states do
not allow) becomes an ``Anomaly`` effect; handlers never raise on input. Time comes only from the
``now`` arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from acd.core import channels
from acd.core import events as ev
from acd.core import members as mem
from acd.core.caller_history import History, PastCall
from acd.core.commands import Command, HistoryLearned, LookupAnswered
from acd.core.config import CoreConfig
from acd.core.customer import CustomerCalls
from acd.core.effects import Effect, GapRecorded, MemberState, ResyncDone
from acd.core.entities import Channel, Lost
from acd.core.gapfill import GapFill
from acd.core.live import LiveSnapshot
from acd.core.origin import parse_origin
from acd.core.outcomes import call_outcome
from acd.core.queue_entries import QueueEntries
from acd.core.queuelog import QueueLogFacts
from acd.core.registry import Registry
from acd.core.resync import Snapshot, queue_entry, reconcile
from acd.core.routed import RoutedCalls
from acd.core.routing_view import ViewPublisher
from acd.core.timers import Timers

__all__ = ["Core"]


class Core:
    """Feed it every AMI event with :meth:`apply`, and :meth:`tick` now and then."""

    def __init__(self, config: CoreConfig | None = None) -> None:
        self.config = config or CoreConfig()
        self.registry = Registry()
        self.history = History(self.config.history_horizon)
        self.view = ViewPublisher(self.config.history_horizon)  # what the routing lookup reads
        self.timers = Timers()
        self.calls = QueueEntries(self.config, self.registry, self.history, self.view, self.timers)
        self.routed = RoutedCalls()  # routing answers, confirmed and followed
        live_linked = self.registry.live_linked
        self.customers = CustomerCalls(
            self.config, lambda linkedid: linkedid in live_linked, home_queue=self._home_queue
        )
        self.events_seen = 0
        self.events_handled = 0
        self.gap_started: float | None = None
        self.gap_reason = "startup"
        self.resync: Snapshot | None = None
        self.restarting = False
        self.synced = False  # resynced since the last gap: the live picture can be trusted
        # queue_log fills gaps when the shell reads it (acd.core.gapfill); None: no queue_log
        self._gapfill: GapFill | None = None
        calls = self.calls
        self._handlers: dict[type, Callable[[Any, float, list[Effect]], None]] = {
            ev.CallerJoin: calls.join,
            ev.CallerLeave: calls.leave,
            ev.CallerAbandon: calls.abandon,
            ev.AgentEvent: calls.agent_event,
            ev.MemberEvent: self._on_member,
            ev.QueueEntrySnap: self._on_queue_entry,
            ev.ChannelSnap: self._on_channel_snap,
            ev.NewChannel: partial(channels.new_channel, calls),
            ev.LocalBridge: partial(channels.local_bridge, calls),
            ev.ChannelSignal: partial(channels.signal, calls),
            ev.Transfer: partial(channels.transfer, calls),
            ev.UserEvent: self._on_user_event,
            ev.SystemEvent: self._on_system,
        }

    @property
    def gapfill(self) -> GapFill | None:
        return self._gapfill

    @gapfill.setter
    def gapfill(self, fill: GapFill | None) -> None:
        self._gapfill = self.calls.gapfill = fill

    @property
    def anomalies(self) -> int:
        return self.calls.anomalies

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
        heap = self.timers.heap
        if heap and heap[0][0] <= now:
            self.calls.run_timers(now, out)
        if out:
            self._publish(out, now)
        if out or self.registry.gone:
            self._customer_calls(out, now)
        return out

    def command(self, command: Command, now: float) -> list[Effect]:
        """Apply one edge command (acd/core/commands.py), in order with the AMI events."""
        out: list[Effect] = []
        if isinstance(command, LookupAnswered):
            self.routed.answered(command, now)
        elif isinstance(command, HistoryLearned):
            out.extend(self.learn(command.calls, now))
        return out

    def _publish(self, out: list[Effect], now: float) -> None:
        """After every batch of effects: the routing view follows, routed callers settle."""
        self.view.follow(self.registry, out, now)
        self.routed.follow(self.registry, out, now)

    def tick(self, now: float) -> list[Effect]:
        """Advance time: wrap-ups end, pending decisions settle, stale calls close, history ages."""
        out: list[Effect] = []
        self.calls.run_timers(now, out)
        self.history.prune(now)
        self.view.prune(now)
        self.routed.tick(now, out)
        self.calls.close_stale(now, out)
        if out:
            self._publish(out, now)
        self._customer_calls(out, now)
        out.extend(self.customers.tick(now))
        return out

    def _customer_calls(self, out: list[Effect], now: float) -> None:
        """The customer-call stage after the entry model: its effects follow the entries'."""
        more = self.customers.observe(out, now) if out else []
        if self.registry.gone:
            more.extend(self.customers.channels_gone(self.registry.take_gone(), now))
        out.extend(more)

    def withdrawing(self, uniqueid: str) -> None:
        """acd is pulling this caller out of its queue: the exit is a withdrawal, not an abandon."""
        self.registry.withdrawing(uniqueid)

    def set_account(self, uniqueid: str, account: str) -> None:
        """An account number the dialplan passed (routing lookup, UserEvent AcdAccount): it wins
        over the number as caller key."""
        self.registry.set_account(uniqueid, account)

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
        if self._gapfill is None:
            return []
        out = self._gapfill.fill(self.calls, facts, now)
        self._customer_calls(out, now)
        return out

    def begin_resync(self, now: float) -> None:
        """QueueStatus and CoreShowChannels are about to be sent; collect what they answer."""
        self.resync = Snapshot(now, set(self.registry.entries), set(self.registry.members))

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
        lost: Lost = "asterisk_restart" if self.restarting else "ami_gap"
        reconciled, unseen = reconcile(self.calls, snap, lost, now, out)
        reg = self.registry
        if self.gap_started is not None or self.gap_reason in ("startup", "takeover"):
            gap = GapRecorded(self.gap_started, now, self.gap_reason, reconciled)
            if self._gapfill is not None:  # recorded once queue_log has told what the gap held
                adopted = [e for i, e in reg.entries.items() if e.partial and i not in snap.known_entries]
                self._gapfill.open(gap, adopted, unseen)
            else:
                out.append(gap)
        self.gap_started = None
        self.gap_reason = "ami_disconnect"
        self.restarting = False
        self.synced = True
        self.view.set_queues(snap.queues)
        out.append(
            ResyncDone(
                now, len({q for q, _ in reg.members}), len(reg.members), len(snap.channels), reconciled
            )
        )
        return out

    # ------------------------------------------------------------------ handlers kept here

    def _on_member(self, e: ev.MemberEvent, now: float, out: list[Effect]) -> None:
        if not e.queue or not e.interface:
            self.calls.anomaly(out, "missing_header", e.kind, "Queue or Interface missing", now)
            return
        mem.member_event(self.registry, e, now, out)
        if self.resync is not None and e.kind == "QueueMember":
            self.resync.members.add((e.queue, e.interface))

    def _on_queue_entry(self, e: ev.QueueEntrySnap, now: float, out: list[Effect]) -> None:
        queue_entry(self.registry, e, self.resync, now)

    def _on_channel_snap(self, e: ev.ChannelSnap, now: float, out: list[Effect]) -> None:
        if not e.uniqueid:
            return
        if e.uniqueid not in self.registry.channels:
            self.registry.add_channel(Channel(e.uniqueid, e.channel, e.linkedid, e.caller_num, e.caller_name))
        if self.resync is not None:
            self.resync.channels[e.uniqueid] = e

    def _on_system(self, e: ev.SystemEvent, now: float, out: list[Effect]) -> None:
        kind = e.kind
        snap = self.resync
        if kind == "Shutdown":
            self.restarting = True
            self.synced = False
            self.calls.shutdown(now, out)
        elif snap is None:
            return
        elif kind == "QueueParams":
            snap.queues.add(e.headers.get("Queue", ""))
        elif kind == "QueueStatusComplete":
            snap.queue_done = True
        elif kind == "CoreShowChannelsComplete":
            snap.channels_done = True
        if snap is not None and snap.complete:
            out.extend(self._reconcile(now))

    def _on_user_event(self, e: ev.UserEvent, now: float, out: list[Effect]) -> None:
        if e.name == "AcdRouted":
            decision = e.headers.get("Decision", "").strip()
            self.routed.confirmed(self.registry, decision, e.uniqueid, e.headers.get("Channel", ""), now, out)
        elif e.name == "AcdAccount":
            account = e.headers.get("Account", "").strip()
            if e.uniqueid and account:
                self.registry.set_account(e.uniqueid, account)
        elif e.name == "CallOutcome":
            call_outcome(self.calls, e, now, out)
        elif e.name == "AcdOrigin":
            origin = parse_origin(e.headers.get("Origin", ""))
            if origin is None or not e.linkedid:
                if e.headers.get("Origin", "").strip():
                    self.calls.anomaly(out, "bad_origin", "UserEvent", e.headers.get("Origin", "")[:80], now)
                return
            out.extend(self.customers.origin(e.linkedid, origin, now))

    # ------------------------------------------------------------------ reading

    def live(self, now: float) -> LiveSnapshot:
        """What the call center looks like now (personal affinity queues folded away)."""
        return mem.live(self.registry, now, self.synced)

    def agent_state(self, agent: str, now: float) -> tuple[MemberState, dict[str, MemberState]]:
        """The agent's overall state and per-queue states (for routing decisions)."""
        return mem.agent_state(self.registry, agent, now)

    def _home_queue(self, personal: str) -> str | None:
        return mem.home_queue(self.registry, personal)

    def load_history(self, calls: list[PastCall]) -> None:
        """Seed caller history from storage (oldest first), so a restart forgets no cut-off."""
        for call in calls:
            self.history.add(call)
        self.view.remember_all(calls)
        self.customers.remember(calls)

    def learn(self, calls: tuple[PastCall, ...] | list[PastCall], now: float | None = None) -> list[Effect]:
        """Calls recorded elsewhere, as they reach the database (any order; a call learned again
        replaces what was known of it, e.g. a record from queue_log by the one from AMI). Returns
        the updates of calls here that continue one of them (their first arrival is now known)."""
        for call in calls:
            self.history.learn(call)
            self.view.learn(call)
        return self.customers.remember(calls, now)
