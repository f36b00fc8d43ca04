"""What the core tracks: one mutable object per channel, queue entry, queue member and agent.

Plain slotted classes: the core is their only writer, through its registry
(acd/core/registry.py), which keeps the indexes over them in step. Nothing here knows about AMI
wire format; the rules that move them are in acd/core/queue_entries.py, channels.py and
members.py, an entry's states in acd/core/entry_states.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from acd.core.classify import Signal
from acd.core.effects import AgentOffer, MemberState
from acd.core.entry_states import EntryState

__all__ = ["Agent", "Channel", "Entry", "Lost", "Member", "Ring", "interface_of_channel"]

# Why a call's end was not seen: stale (no news for too long), lost in an AMI gap, or taken by
# Asterisk's restart. It is also the record's exit reason when such a call was never answered.
Lost = Literal["stale", "ami_gap", "asterisk_restart"]


def interface_of_channel(name: str) -> str:
    """``Local/1001@agents-00000003;1`` -> ``Local/1001@agents``; ``PJSIP/1001-0000002a`` -> ``PJSIP/1001``.

    Asterisk names a channel after its device plus a sequence suffix; the device part is what a
    queue member's interface names. Used only when acd attached late and has no AgentCalled.
    """
    base = name.split(";", 1)[0]
    head, dash, tail = base.rpartition("-")
    if dash and tail and all(c in "0123456789abcdefABCDEF" for c in tail):
        return head
    return base


@dataclass(slots=True)
class Channel:
    uniqueid: str
    name: str
    linkedid: str
    caller_num: str = ""
    caller_name: str = ""
    partner: str | None = None  # the other half of a Local channel pair
    account: str | None = None
    hangup_requested: bool = False
    hung_up: bool = False
    cause: int | None = None
    # The queue whose Queue() still holds this caller after its entry there ended in a transfer
    # (Asterisk keeps the transferred caller in that application, bridged to the target, until
    # it hangs up): a snapshot showing it there shows the entry acd recorded, not a new one.
    handed_over_in: str | None = None


@dataclass(slots=True)
class Ring:
    agent: str
    agent_name: str
    interface: str
    rang_at: float
    dest_uniqueid: str


@dataclass(slots=True)
class Entry:
    """One caller in one queue, from QueueCallerJoin until its record is emitted."""

    id: str
    uniqueid: str
    number: int
    linkedid: str
    queue: str
    caller_num: str
    caller_name: str
    key: str | None
    account: str | None
    joined_at: float
    position: int | None
    partial: bool = False
    callback_of: str | None = None
    repeat_of: str | None = None
    state: EntryState = "waiting"
    join_context: str = ""
    rings: dict[str, Ring] = field(default_factory=dict)  # by member interface
    offers: list[AgentOffer] = field(default_factory=list)
    agent: str | None = None
    agent_name: str | None = None
    interface: str | None = None
    agent_uniqueid: str | None = None
    answered_at: float | None = None
    hold_time: float | None = None
    talk_time: float | None = None
    completed_by: str | None = None  # AgentComplete's Reason: caller | agent | transfer
    abandon_hold: float | None = None
    left_at: float | None = None
    leave_context: str = ""
    exit_reason: str | None = None  # known before the exit: withdraw (acd pulled the caller), queue_log's
    caller_uids: set[str] = field(default_factory=set)
    agent_uids: set[str] = field(default_factory=set)
    signals: list[Signal] = field(default_factory=list)
    transferred: bool = False
    transfer_target: str | None = None
    shutdown: bool = False
    lost: Lost | None = None
    finish_deadline: float | None = None
    hung_up_at: float | None = None  # an adopted call's last hang-up, while its AgentComplete may follow
    source: str = "ami"  # "ami" | "queue_log" (recovered from it) | "merged" (both told part)
    unknown: set[str] = field(default_factory=set)  # fields the source could not tell
    inferred: set[str] = field(default_factory=set)  # fields deduced, not seen (a restart's toll)

    @property
    def handed_over(self) -> bool:
        """Ended in a transfer: the caller's later conversation belongs to someone else."""
        return self.transferred or self.completed_by == "transfer"


@dataclass(slots=True)
class Member:
    queue: str
    interface: str
    agent: str  # state interface: the agent's identity
    name: str
    paused: bool = False
    paused_reason: str = ""
    status: int | None = None
    state: MemberState | None = None  # last state emitted


@dataclass(slots=True)
class Agent:
    agent: str
    name: str
    members: set[tuple[str, str]] = field(default_factory=set)  # (queue, interface)
    ringing: set[str] = field(default_factory=set)  # entry ids
    calls: set[str] = field(default_factory=set)  # entry ids connected
    wrapup_until: float = 0.0
    last_call: str | None = None
