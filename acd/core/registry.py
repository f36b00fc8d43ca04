"""The core's live state: every channel, queue entry, member and agent it tracks, and the indexes
over them, kept in step in one place.

Invariants (every write goes through a method here, so each holds after every call):

- ``entries`` holds every live queue entry by id; ``by_uniqueid`` the newest live entry of each
  caller channel (an older one of the same channel may still be finishing); ``entry_seq`` how many
  queue entries each caller channel has had, so ids (``uniqueid#n``) never repeat while the
  channel lives.
- ``watch`` maps every channel of a connected entry (the caller's and the agent's, both halves of
  a Local pair) to the entry and its side; ``by_linkedid`` the connected entry of each customer
  call (new legs and transfers are charged to it); ``by_member`` the entry a queue member is
  talking to until its AgentComplete; ``leaving`` the entry of each customer call that left its
  queue while its outcome is still open. An entry leaves all of them at once (:meth:`detach`).
- ``members`` are queue memberships by (queue, interface); ``agents`` the people behind them by
  state interface, each with the memberships, ringing entries and calls it has. An agent is kept
  while it has any of the three.
- ``channels`` are channels not yet hung up, and hung-up ones a live entry still needs (their
  causes go into its record); ``live_linked`` the channels of each Linkedid not yet hung up;
  ``gone`` the Linkedids whose last channel hung up during the input being applied (the
  customer-call stage closes them).
"""

from __future__ import annotations

from typing import Literal

from acd.core.entities import Agent, Channel, Entry, Member

__all__ = ["Registry", "Side"]

Side = Literal["caller", "agent"]


class Registry:
    def __init__(self) -> None:
        self.channels: dict[str, Channel] = {}
        self.live_linked: dict[str, set[str]] = {}  # Linkedid -> its channels not yet hung up
        self.gone: list[str] = []  # Linkedids whose last channel hung up during this input
        self.entries: dict[str, Entry] = {}  # live entries by id
        self.by_uniqueid: dict[str, Entry] = {}  # live entry by caller channel uniqueid
        self.entry_seq: dict[str, int] = {}  # queue entries seen per caller channel
        self.watch: dict[str, tuple[Entry, Side]] = {}  # channel uid -> (connected entry, side)
        self.by_linkedid: dict[str, Entry] = {}  # connected entry by linkedid (transfers, new legs)
        self.leaving: dict[str, Entry] = {}  # entries that left their queue, outcome not yet known
        self.by_member: dict[tuple[str, str], Entry] = {}  # (queue, interface) -> connected entry
        self.members: dict[tuple[str, str], Member] = {}
        self.agents: dict[str, Agent] = {}
        self.iface_agent: dict[str, str] = {}  # member interface -> state interface

    # ------------------------------------------------------------------ channels

    def add_channel(self, chan: Channel) -> Channel:
        self.channels[chan.uniqueid] = chan
        self.live_linked.setdefault(chan.linkedid, set()).add(chan.uniqueid)
        return chan

    def name_placeholder(self, chan: Channel, name: str, linkedid: str) -> None:
        """A channel known only by an account named before acd saw it: now it is known."""
        self.channel_ended(chan.uniqueid)
        self.gone = [g for g in self.gone if g != chan.linkedid]
        chan.name, chan.linkedid = name, linkedid
        self.add_channel(chan)

    def channel_ended(self, uid: str) -> None:
        """The channel hung up (or vanished): its Linkedid may have no channel left."""
        chan = self.channels.get(uid)
        live = self.live_linked.get(chan.linkedid) if chan is not None else None
        if live is None or chan is None:
            return
        live.discard(uid)
        if not live:
            del self.live_linked[chan.linkedid]
            self.gone.append(chan.linkedid)

    def forget_channel(self, uid: str) -> None:
        """A hung-up channel, dropped unless a live entry still needs it."""
        chan = self.channels.get(uid)
        if chan is None:
            return
        if uid in self.by_uniqueid or uid in self.watch:
            return  # still needed until the call's record is out; dropped by forget_entry_channels
        del self.channels[uid]
        if uid in self.entry_seq and uid not in self.by_uniqueid:
            del self.entry_seq[uid]

    def vanish_channel(self, uid: str) -> None:
        """A channel the snapshot no longer lists: gone while acd was not looking."""
        self.channel_ended(uid)
        del self.channels[uid]

    def forget_entry_channels(self, entry: Entry) -> None:
        """After a finished entry's record: its hung-up channels no other entry needs go."""
        for uid in entry.caller_uids | entry.agent_uids:
            chan = self.channels.get(uid)
            if chan is not None and chan.hung_up and uid not in self.by_uniqueid and uid not in self.watch:
                del self.channels[uid]
        if entry.uniqueid not in self.channels:
            self.entry_seq.pop(entry.uniqueid, None)

    def handed_over(self, entry: Entry) -> None:
        """The entry's record is out and it ended in a transfer: its caller channel, while it
        lives, is still in the entry's Queue() (a resync must not adopt it as a new entry)."""
        chan = self.channels.get(entry.uniqueid)
        if chan is not None and not chan.hung_up:
            chan.handed_over_in = entry.queue

    def set_account(self, uniqueid: str, account: str) -> None:
        """An account number the dialplan passed: it wins over the number as caller key."""
        chan = self.channels.get(uniqueid)
        if chan is None:
            chan = self.add_channel(Channel(uniqueid, "", uniqueid))
        chan.account = account

    def withdrawing(self, uniqueid: str) -> None:
        """acd is pulling this caller out of its queue: the exit is a withdrawal, not an abandon."""
        entry = self.by_uniqueid.get(uniqueid)
        if entry is not None:
            entry.exit_reason = "withdraw"

    def pair(self, one: Channel, two: Channel) -> None:
        """Two halves of a Local channel: a hang-up of either is its side's."""
        one.partner, two.partner = two.uniqueid, one.uniqueid
        for a, b in ((one.uniqueid, two.uniqueid), (two.uniqueid, one.uniqueid)):
            watched = self.watch.get(a)
            if watched is not None and b not in self.watch:
                entry, side = watched
                self.watch[b] = watched
                (entry.caller_uids if side == "caller" else entry.agent_uids).add(b)
            live = self.by_uniqueid.get(a)
            if live is not None:
                live.caller_uids.add(b)

    def caller_hung_up(self, entry: Entry) -> bool:
        for uid in entry.caller_uids:
            chan = self.channels.get(uid)
            if chan is not None and (chan.hangup_requested or chan.hung_up):
                return True
        return False

    def all_hung_up(self, entry: Entry) -> bool:
        for uid in (entry.uniqueid, entry.agent_uniqueid):
            if uid:
                chan = self.channels.get(uid)
                if chan is not None and not chan.hung_up:
                    return False
        return True

    def causes(self, uids: set[str]) -> list[int | None]:
        return [self.channels[u].cause for u in uids if u in self.channels]

    def take_gone(self) -> list[str]:
        gone, self.gone = self.gone, []
        return gone

    # ------------------------------------------------------------------ entries

    def next_entry_id(self, uid: str) -> tuple[str, int]:
        """The id and number of the caller channel's next queue entry."""
        n = self.entry_seq.get(uid, 0) + 1
        self.entry_seq[uid] = n
        return (uid if n == 1 else f"{uid}#{n}"), n

    def add_entry(self, entry: Entry) -> None:
        self.entries[entry.id] = entry
        self.by_uniqueid[entry.uniqueid] = entry

    def watch_channel(self, entry: Entry, uid: str, side: Side) -> None:
        (entry.caller_uids if side == "caller" else entry.agent_uids).add(uid)
        self.watch[uid] = (entry, side)

    def connect(self, entry: Entry, interface: str | None) -> None:
        """The entry is talking to an agent: charged new legs and transfers of its customer call,
        and (with ``interface``) what its member's AgentComplete closes."""
        for uid in entry.caller_uids:
            self.watch[uid] = (entry, "caller")
        self.by_linkedid[entry.linkedid] = entry
        if interface:
            self.by_member[(entry.queue, interface)] = entry

    def set_leaving(self, entry: Entry) -> None:
        self.leaving[entry.linkedid] = entry

    def stop_leaving(self, entry: Entry) -> None:
        if self.leaving.get(entry.linkedid) is entry:
            del self.leaving[entry.linkedid]

    def release_member(self, entry: Entry) -> None:
        """The member's AgentComplete came: the member is no longer talking to this entry."""
        self.by_member.pop((entry.queue, entry.interface or ""), None)

    def detach(self, entry: Entry) -> bool:
        """Take a live entry out of every index (False when it was not live). Its rings and its
        agent's call are the caller's to settle: they emit effects."""
        if self.entries.pop(entry.id, None) is None:
            return False
        if self.by_uniqueid.get(entry.uniqueid) is entry:
            del self.by_uniqueid[entry.uniqueid]
        for uid in list(entry.caller_uids | entry.agent_uids):
            if self.watch.get(uid, (None,))[0] is entry:
                del self.watch[uid]
        if self.by_linkedid.get(entry.linkedid) is entry:
            del self.by_linkedid[entry.linkedid]
        self.stop_leaving(entry)
        if entry.interface and self.by_member.get((entry.queue, entry.interface)) is entry:
            del self.by_member[(entry.queue, entry.interface)]
        return True

    def adopt(self, entry: Entry) -> None:
        """A connected entry made outside the events (from queue_log), live from now on."""
        self.add_entry(entry)
        self.entry_seq[entry.uniqueid] = max(self.entry_seq.get(entry.uniqueid, 0), entry.number)
        sides: tuple[tuple[Side, set[str]], ...] = (
            ("caller", entry.caller_uids),
            ("agent", entry.agent_uids),
        )
        for side, uids in sides:
            for u in uids:
                self.watch[u] = (entry, side)
        self.by_linkedid[entry.linkedid] = entry
        agent = self.agents.get(entry.agent) if entry.agent else None
        if agent is not None:
            agent.calls.add(entry.id)

    def renumber(self, entry: Entry, number: int) -> str | None:
        """Give a live entry its true number; returns its old id, None when nothing changed."""
        old = entry.id
        new = entry.uniqueid if number == 1 else f"{entry.uniqueid}#{number}"
        if new == old or new in self.entries:
            return None
        self.entries[new] = self.entries.pop(old)
        entry.number, entry.id = number, new
        self.entry_seq[entry.uniqueid] = max(self.entry_seq.get(entry.uniqueid, 0), number)
        for agent in self.agents.values():
            for ids in (agent.calls, agent.ringing):
                if old in ids:
                    ids.discard(old)
                    ids.add(new)
            if agent.last_call == old:
                agent.last_call = new
        return old

    # ------------------------------------------------------------------ members and agents

    def agent_for(self, queue: str, interface: str, name: str) -> Agent:
        """The agent a member interface stands for (made when acd has not seen it yet)."""
        member = self.members.get((queue, interface))
        agent_id = member.agent if member else self.iface_agent.get(interface, interface)
        agent = self.agents.get(agent_id)
        if agent is None:
            agent = self.agents[agent_id] = Agent(agent_id, name or agent_id)
        return agent

    def add_member(self, queue: str, interface: str, agent_id: str, name: str) -> Member:
        key = (queue, interface)
        member = self.members[key] = Member(queue, interface, agent_id, name)
        self.iface_agent[interface] = agent_id
        agent = self.agents.get(agent_id)
        if agent is None:
            agent = self.agents[agent_id] = Agent(agent_id, name)
        agent.members.add(key)
        agent.name = name or agent.name
        return member

    def remove_member(self, member: Member) -> None:
        key = (member.queue, member.interface)
        del self.members[key]
        agent = self.agents.get(member.agent)
        if agent is not None:
            agent.members.discard(key)
            if not agent.members and not agent.calls and not agent.ringing:
                del self.agents[member.agent]

    def member_of(self, queue: str, agent: str) -> Member | None:
        return next((m for m in self.members.values() if m.agent == agent and m.queue == queue), None)

    def reassign(self, entry: Entry, agent: str, agent_name: str) -> Agent | None:
        """A connected entry was answered by someone else than acd thought (queue_log knows):
        moved to that agent; returns the agent it left, if it was counted as theirs."""
        old = self.agents.get(entry.agent) if entry.agent else None
        left = None
        if old is not None and entry.id in old.calls:
            old.calls.discard(entry.id)
            left = old
        if entry.interface and self.by_member.get((entry.queue, entry.interface)) is entry:
            del self.by_member[(entry.queue, entry.interface)]
        entry.agent, entry.agent_name = agent, agent_name
        member = self.member_of(entry.queue, agent)
        entry.interface = member.interface if member is not None else None
        if entry.interface:
            self.by_member[(entry.queue, entry.interface)] = entry
        now_agent = self.agents.get(agent)
        if now_agent is not None and entry.state == "connected":
            now_agent.calls.add(entry.id)
        return left
