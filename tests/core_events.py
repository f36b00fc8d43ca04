"""Builders for AMI header maps in the captures' shape, for core tests without sockets.

Channel names default to SIP-shaped ones (``PJSIP/trunk-0000001a`` for callers, ``PJSIP/1001-...``
for agents): production has no Local channel halves, and the core must not need them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from acd.core.callcenter import Core
from acd.core.effects import CallFinished, CallRecord, Effect, MemberStateChanged


def member(
    event: str,
    queue: str,
    iface: str,
    name: str,
    *,
    paused: bool = False,
    reason: str = "",
    status: int = 1,
    state_iface: str | None = None,
) -> dict[str, str]:
    return {
        "Event": event,
        "Privilege": "agent,all",
        "Queue": queue,
        "MemberName": name,
        "Interface": iface,
        "StateInterface": state_iface or iface,
        "Membership": "dynamic",
        "Penalty": "0",
        "CallsTaken": "0",
        "LastCall": "0",
        "LastPause": "0",
        "LoginTime": "0",
        "InCall": "0",
        "Status": str(status),
        "Paused": "1" if paused else "0",
        "PausedReason": reason,
        "Ringinuse": "0",
        "Wrapuptime": "0",
    }


@dataclass
class Call:
    """One caller and (optionally) the agent leg that answers, as SIP channels."""

    uid: str
    number: str = "5551234"
    queue: str = "support"
    linkedid: str = ""
    agent_uid: str = ""
    channel: str = ""
    agent_channel: str = ""
    context: str = "inbound"

    def __post_init__(self) -> None:
        self.linkedid = self.linkedid or self.uid
        self.channel = self.channel or f"PJSIP/trunk-{abs(hash(self.uid)) % 16**8:08x}"
        self.agent_uid = self.agent_uid or self.uid + "9"

    def base(self, event: str, **extra: str) -> dict[str, str]:
        h = {
            "Event": event,
            "Channel": self.channel,
            "Uniqueid": self.uid,
            "Linkedid": self.linkedid,
            "CallerIDNum": self.number,
            "CallerIDName": "Customer",
            "Context": self.context,
            "Exten": "s",
            "Priority": "3",
        }
        h.update(extra)
        return h

    def newchannel(self) -> dict[str, str]:
        return self.base("Newchannel")

    def join(self, position: int = 1) -> dict[str, str]:
        return self.base("QueueCallerJoin", Queue=self.queue, Position=str(position), Count=str(position))

    def leave(self, context: str | None = None) -> dict[str, str]:
        h = self.base("QueueCallerLeave", Queue=self.queue, Position="1", Count="0")
        if context is not None:
            h["Context"] = context
        return h

    def abandon(self, hold: int) -> dict[str, str]:
        return self.base(
            "QueueCallerAbandon", Queue=self.queue, Position="1", OriginalPosition="1", HoldTime=str(hold)
        )

    def agent_newchannel(self, iface: str) -> dict[str, str]:
        self.agent_channel = f"{iface}-0000{self.agent_uid[-4:]}"
        return {
            "Event": "Newchannel",
            "Channel": self.agent_channel,
            "Uniqueid": self.agent_uid,
            "Linkedid": self.linkedid,
            "CallerIDNum": self.number,
            "CallerIDName": "",
        }

    def agent(self, event: str, iface: str, name: str, **extra: str) -> dict[str, str]:
        h = self.base(
            event,
            Queue=self.queue,
            DestChannel=self.agent_channel or f"{iface}-00000001",
            DestUniqueid=self.agent_uid,
            DestLinkedid=self.linkedid,
            Interface=iface,
            MemberName=name,
        )
        h.update(extra)
        return h

    def signal(self, event: str, side: str, cause: int | None = None) -> dict[str, str]:
        uid, chan = (self.uid, self.channel) if side == "caller" else (self.agent_uid, self.agent_channel)
        h = {"Event": event, "Channel": chan, "Uniqueid": uid, "Linkedid": self.linkedid}
        if cause is not None:
            h["Cause"] = str(cause)
        return h


@dataclass
class Feed:
    core: Core = field(default_factory=Core)
    now: float = 1_000_000.0
    effects: list[Effect] = field(default_factory=list)

    def __call__(self, *messages: dict[str, str], dt: float = 0.0) -> list[Effect]:
        out: list[Effect] = []
        for m in messages:
            self.now += dt
            out.extend(self.core.apply(m, self.now))
        self.effects.extend(out)
        return out

    def tick(self, dt: float) -> list[Effect]:
        self.now += dt
        out = self.core.tick(self.now)
        self.effects.extend(out)
        return out

    def records(self) -> list[CallRecord]:
        return [e.record for e in self.effects if isinstance(e, CallFinished)]

    def states(self, agent: str) -> list[str]:
        return [e.state for e in self.effects if isinstance(e, MemberStateChanged) and e.agent == agent]


def connect(feed: Feed, call: Call, iface: str = "PJSIP/1001", name: str = "Alice", *, hold: int = 1) -> None:
    """Join, ring and connect ``call`` to ``iface``: the call is then in progress."""
    feed(
        call.newchannel(),
        call.join(),
        call.agent_newchannel(iface),
        call.agent("AgentCalled", iface, name),
        call.leave(),
        call.agent("AgentConnect", iface, name, HoldTime=str(hold), RingTime="1"),
    )


def answered_call(
    feed: Feed,
    call: Call,
    iface: str = "PJSIP/1001",
    name: str = "Alice",
    *,
    hold: int = 5,
    talk: int = 60,
    ender: str = "caller",
    cause: int = 16,
    reason: str | None = None,
) -> None:
    """A whole answered SIP call: join, ring, connect, talk, hang-up by ``ender`` with ``cause``."""
    feed(call.newchannel(), call.join())
    feed(call.agent_newchannel(iface), call.agent("AgentCalled", iface, name), dt=hold - 1)
    feed(call.leave(), call.agent("AgentConnect", iface, name, HoldTime=str(hold), RingTime="1"), dt=1)
    other = "agent" if ender == "caller" else "caller"
    feed(call.signal("HangupRequest", ender, cause), dt=talk)
    feed(
        call.signal("BridgeLeave", ender),
        call.signal("BridgeLeave", other),
        call.agent(
            "AgentComplete", iface, name, HoldTime=str(hold), TalkTime=str(talk), Reason=reason or ender
        ),
    )
    feed(call.signal("Hangup", ender, cause), call.signal("Hangup", other, cause))
