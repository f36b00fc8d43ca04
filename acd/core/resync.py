"""Reconciling the core with Asterisk's snapshot after a start or an AMI gap.

Rules:
- The shell sends QueueStatus and CoreShowChannels after FullyBooted (``Core.begin_resync``);
  their items are collected in a :class:`Snapshot` while they stream in. Only what the core held
  before the snapshot was asked for is judged by it: a call or member that appears while the
  answer streams in postdates the snapshot.
- When both lists are complete: bridged queue calls acd did not see start are adopted as partial
  connected calls (their times are the channel's age until AgentComplete tells Asterisk's), but
  not a caller whose entry acd recorded at a transfer: Asterisk keeps it in that Queue(),
  bridged to the target, until it hangs up (adopting it would record the one call twice);
  waiting callers the core does not know are adopted as partial waiting calls (as their
  ``QueueEntry`` items arrive); a caller acd saw waiting who is now bridged was answered in the
  gap; calls whose channels vanished are closed as lost in the gap (which makes an answered call a
  cut-off), or parked for queue_log (gapfill.py); members not in the snapshot are logged out.
- Local channel halves whose ``LocalBridge`` fell in the gap are paired from the snapshot's names,
  and a call already connected watches the other half of each of its channels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from acd.core import events as ev
from acd.core.caller_history import caller_key
from acd.core.effects import Effect
from acd.core.entities import Entry, Lost, interface_of_channel
from acd.core.members import agent_changed, remove_member
from acd.core.queue_entries import QueueEntries
from acd.core.registry import Registry

__all__ = ["Snapshot", "orphan", "queue_entry", "reconcile"]


@dataclass(slots=True)
class Snapshot:
    """What QueueStatus and CoreShowChannels answered so far."""

    started: float
    known_entries: set[str]  # entry ids the core held when the snapshot was asked for
    known_members: set[tuple[str, str]]  # (queue, interface) likewise
    members: set[tuple[str, str]] = field(default_factory=set)
    entries: set[str] = field(default_factory=set)  # caller uniqueids waiting in a queue
    channels: dict[str, ev.ChannelSnap] = field(default_factory=dict)
    queues: set[str] = field(default_factory=set)
    queue_done: bool = False
    channels_done: bool = False

    @property
    def complete(self) -> bool:
        return self.queue_done and self.channels_done


def orphan(reg: Registry, uid: str, queue: str, joined: float, now: float, linkedid: str = "") -> Entry:
    """A call acd sees only part of (attached late, events lost): kept, marked partial."""
    entry_id, n = reg.next_entry_id(uid)
    chan = reg.channels.get(uid)
    entry = Entry(
        id=entry_id,
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
    reg.add_entry(entry)
    return entry


def queue_entry(reg: Registry, e: ev.QueueEntrySnap, snap: Snapshot | None, now: float) -> None:
    """A ``QueueEntry`` item: a caller waiting now; one the core does not know is adopted."""
    if not e.uniqueid:
        return
    if snap is not None:
        snap.entries.add(e.uniqueid)
    if e.uniqueid not in reg.by_uniqueid and e.queue:
        entry = orphan(reg, e.uniqueid, e.queue, now - float(e.wait or 0), now)
        entry.caller_num, entry.caller_name = e.caller_num, e.caller_name
        entry.key = caller_key(e.caller_num)


def reconcile(
    calls: QueueEntries, snap: Snapshot, lost: Lost, now: float, out: list[Effect]
) -> tuple[int, list[Entry]]:
    """Apply the complete snapshot; returns (calls reconciled, calls acd saw waiting that were
    answered in the gap)."""
    reg = calls.reg
    reconciled = 0
    channels = snap.channels
    _pair_local_halves(reg, channels)
    unseen: list[Entry] = []  # answered while acd was not looking
    bridges: dict[str, list[ev.ChannelSnap]] = {}
    for c in channels.values():
        if c.bridge_id:
            bridges.setdefault(c.bridge_id, []).append(c)
    for c in channels.values():
        if c.application == "Queue" and c.bridge_id and _unrecorded_entry(reg, c):
            _adopt_bridged(calls, c, bridges.get(c.bridge_id, []), now, out)
            reconciled += 1
    for entry in [reg.entries[i] for i in snap.known_entries if i in reg.entries]:
        uid = entry.uniqueid
        if entry.state == "waiting" and uid not in snap.entries:
            chan = channels.get(uid)
            if chan is not None and chan.bridge_id and chan.application == "Queue":
                # Answered while acd was not looking: connected now, to the agent in its bridge.
                entry.partial = True
                calls.move(entry, "connected", "QueueStatus", now, out)
                _attach_bridge_agent(calls, entry, chan, bridges.get(chan.bridge_id, []), now, out)
                unseen.append(entry)
                reconciled += 1
                continue
            calls.vanished(entry, lost, now, out)
            reconciled += 1
        elif entry.state in ("connected", "completed") and uid not in channels:
            calls.vanished(entry, lost, now, out)
            reconciled += 1
        elif entry.state in ("connected", "completed") and not entry.signals:
            # Still up, but how it ends may have begun in the gap (a hang-up request, a
            # shutdown): the first end signal acd sees need not be the first there was.
            entry.unknown.update(("ended_by", "cut_off"))
    for uid in [u for u in reg.channels if u not in channels and u not in reg.by_uniqueid]:
        reg.vanish_channel(uid)  # gone while acd was not looking
    for key in [k for k in snap.known_members if k in reg.members and k not in snap.members]:
        remove_member(reg, reg.members[key], now, out, reason="resync")
    return reconciled, unseen


def _unrecorded_entry(reg: Registry, c: ev.ChannelSnap) -> bool:
    """A caller bridged in Queue() is a queue entry acd has not got: not one it has live, nor
    one that hung up while the answer streamed in (no longer a channel), nor the entry acd
    recorded at a transfer whose caller is still in that Queue() (a second row for one call)."""
    chan = reg.channels.get(c.uniqueid)
    if chan is None or c.uniqueid in reg.by_uniqueid:
        return False
    return chan.handed_over_in != _queue_of(c)


def _queue_of(c: ev.ChannelSnap) -> str:
    """The queue of a channel in Queue(): the application's first argument."""
    return c.application_data.split(",", 1)[0]


def _adopt_bridged(
    calls: QueueEntries, c: ev.ChannelSnap, peers: list[ev.ChannelSnap], now: float, out: list[Effect]
) -> None:
    queue = _queue_of(c)
    talk = _duration(c.duration)
    entry = orphan(calls.reg, c.uniqueid, queue, now - talk, now, linkedid=c.linkedid)
    entry.caller_num, entry.caller_name, entry.key = c.caller_num, c.caller_name, caller_key(c.caller_num)
    calls.move(entry, "connected", "CoreShowChannel", now, out)
    entry.answered_at = now - talk
    # The channel's age, not the queue's times: the final AgentComplete tells them.
    entry.inferred.update(("joined_at", "answered_at"))
    _attach_bridge_agent(calls, entry, c, peers, now, out)


def _attach_bridge_agent(
    calls: QueueEntries,
    entry: Entry,
    c: ev.ChannelSnap,
    peers: list[ev.ChannelSnap],
    now: float,
    out: list[Effect],
) -> None:
    """The caller ``c`` is bridged: its agent is the other channel of the bridge."""
    reg = calls.reg
    queue = entry.queue
    for uid in list(entry.caller_uids):  # the caller's Local half, paired from the snapshot
        chan = reg.channels.get(uid)
        if chan is not None and chan.partner:
            entry.caller_uids.add(chan.partner)
    interface = None
    for peer in peers:
        if peer.uniqueid == c.uniqueid:
            continue
        iface = interface_of_channel(peer.channel)
        member = reg.members.get((queue, iface))
        agent = reg.agent_for(queue, iface, member.name if member else iface)
        entry.agent, entry.agent_name, entry.interface = agent.agent, agent.name, iface
        entry.agent_uniqueid = peer.uniqueid
        reg.watch_channel(entry, peer.uniqueid, "agent")
        half = reg.channels.get(peer.uniqueid)
        if half is not None and half.partner:
            reg.watch_channel(entry, half.partner, "agent")
        interface = iface
        agent.calls.add(entry.id)
        agent_changed(reg, agent, now, out)
        break
    reg.connect(entry, interface)


def _pair_local_halves(reg: Registry, channels: dict[str, ev.ChannelSnap]) -> None:
    """Local channel halves (``...;1``/``...;2``) acd did not see paired (LocalBridge came in a
    gap): paired from the snapshot's names, so a hang-up of either half is its side's. Waiting
    callers adopted from the snapshot take their half now, and so does a call answered while the
    snapshot streamed in (its AgentConnect named the agent's ``;1`` before acd knew its ``;2``):
    without it, the agent's phone hanging up would read as someone else's leg, a transfer."""
    halves: dict[str, list[str]] = {}
    for c in channels.values():
        if c.channel.startswith("Local/") and ";" in c.channel:
            halves.setdefault(c.channel.rsplit(";", 1)[0], []).append(c.uniqueid)
    for pair in halves.values():
        one, two = (reg.channels.get(u) for u in pair[:2]) if len(pair) == 2 else (None, None)
        if one is None or two is None or one.partner or two.partner:
            continue
        reg.pair(one, two)


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
