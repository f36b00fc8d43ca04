"""Typed records for the AMI events the core acts on, parsed from header maps.

Only the events in :data:`PARSERS` become typed records; everything else (``VarSet``, ``Newexten``,
``Cdr``... the bulk of the traffic) is skipped by the core without building anything, and kept as
an :class:`OtherEvent` by :func:`parse_event` for tools that want to see it. An unknown event is
never an error.

A missing header does not raise: numbers default to ``None`` and strings to ``""``; the handler that
needs the field reports an ``Anomaly``. Header names follow the captures in tests/fixtures/ami.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeAlias

from acd.core.fast_init import fast_init

__all__ = ["PARSERS", "Event", "OtherEvent", "parse_event"]

H: TypeAlias = Mapping[str, str]


def _int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        try:
            return int(float(value))
        except ValueError:
            return None


def _float(value: str | None) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _flag(value: str | None) -> bool:
    return value in ("1", "true", "yes", "True", "Yes")


@fast_init
@dataclass(frozen=True, slots=True)
class OtherEvent:
    name: str
    headers: H


@fast_init
@dataclass(frozen=True, slots=True)
class CallerJoin:
    queue: str
    uniqueid: str
    channel: str
    linkedid: str
    caller_num: str
    caller_name: str
    position: int | None
    context: str


@fast_init
@dataclass(frozen=True, slots=True)
class CallerLeave:
    queue: str
    uniqueid: str
    channel: str
    position: int | None
    context: str


@fast_init
@dataclass(frozen=True, slots=True)
class CallerAbandon:
    queue: str
    uniqueid: str
    position: int | None
    original_position: int | None
    hold_time: int | None


@fast_init
@dataclass(frozen=True, slots=True)
class AgentEvent:
    """AgentCalled / AgentConnect / AgentComplete / AgentRingNoAnswer / AgentDump.

    ``uniqueid`` may be empty: about one AgentComplete in 13 carries only Queue, Interface,
    MemberName and the times (docs/asterisk.md); the core then matches by queue + interface.
    """

    kind: str
    queue: str
    uniqueid: str
    channel: str
    linkedid: str
    dest_uniqueid: str
    dest_channel: str
    interface: str
    member_name: str
    caller_num: str
    hold_time: int | None
    ring_time: int | None  # seconds for AgentConnect, milliseconds for AgentRingNoAnswer
    talk_time: int | None
    reason: str


@fast_init
@dataclass(frozen=True, slots=True)
class MemberEvent:
    """QueueMemberAdded/Removed/Pause/Status/Penalty and QueueStatus's QueueMember."""

    kind: str
    queue: str
    name: str
    interface: str
    state_interface: str
    paused: bool
    paused_reason: str
    status: int | None
    in_call: bool


@fast_init
@dataclass(frozen=True, slots=True)
class QueueEntrySnap:
    queue: str
    uniqueid: str
    channel: str
    caller_num: str
    caller_name: str
    position: int | None
    wait: int | None


@fast_init
@dataclass(frozen=True, slots=True)
class ChannelSnap:
    uniqueid: str
    channel: str
    linkedid: str
    caller_num: str
    caller_name: str
    application: str
    application_data: str
    bridge_id: str
    duration: str


@fast_init
@dataclass(frozen=True, slots=True)
class NewChannel:
    uniqueid: str
    channel: str
    linkedid: str
    caller_num: str
    caller_name: str


@fast_init
@dataclass(frozen=True, slots=True)
class LocalBridge:
    one: str
    two: str


@fast_init
@dataclass(frozen=True, slots=True)
class ChannelSignal:
    """BridgeLeave / SoftHangupRequest / HangupRequest / Hangup: the end-of-call signals."""

    kind: str
    uniqueid: str
    channel: str
    linkedid: str
    cause: int | None


@fast_init
@dataclass(frozen=True, slots=True)
class Transfer:
    kind: str  # BlindTransfer | AttendedTransfer
    transferer_uniqueid: str
    transferee_uniqueid: str
    linkedid: str


@fast_init
@dataclass(frozen=True, slots=True)
class UserEvent:
    name: str
    uniqueid: str
    linkedid: str
    headers: H


@fast_init
@dataclass(frozen=True, slots=True)
class SystemEvent:
    """FullyBooted / Shutdown / snapshot completions."""

    kind: str
    headers: H


Event: TypeAlias = (
    OtherEvent
    | CallerJoin
    | CallerLeave
    | CallerAbandon
    | AgentEvent
    | MemberEvent
    | QueueEntrySnap
    | ChannelSnap
    | NewChannel
    | LocalBridge
    | ChannelSignal
    | Transfer
    | UserEvent
    | SystemEvent
)


def _caller_join(h: H) -> CallerJoin:
    return CallerJoin(
        h.get("Queue", ""),
        h.get("Uniqueid", ""),
        h.get("Channel", ""),
        h.get("Linkedid", "") or h.get("Uniqueid", ""),
        h.get("CallerIDNum", ""),
        h.get("CallerIDName", ""),
        _int(h.get("Position")),
        h.get("Context", ""),
    )


def _caller_leave(h: H) -> CallerLeave:
    return CallerLeave(
        h.get("Queue", ""),
        h.get("Uniqueid", ""),
        h.get("Channel", ""),
        _int(h.get("Position")),
        h.get("Context", ""),
    )


def _caller_abandon(h: H) -> CallerAbandon:
    return CallerAbandon(
        h.get("Queue", ""),
        h.get("Uniqueid", ""),
        _int(h.get("Position")),
        _int(h.get("OriginalPosition")),
        _int(h.get("HoldTime")),
    )


def _agent(kind: str) -> Callable[[H], AgentEvent]:
    def parse(h: H) -> AgentEvent:
        return AgentEvent(
            kind,
            h.get("Queue", ""),
            h.get("Uniqueid", ""),
            h.get("Channel", ""),
            h.get("Linkedid", ""),
            h.get("DestUniqueid", ""),
            h.get("DestChannel", ""),
            h.get("Interface", ""),
            h.get("MemberName", ""),
            h.get("CallerIDNum", ""),
            _int(h.get("HoldTime")),
            _int(h.get("RingTime")),
            _int(h.get("TalkTime")),
            h.get("Reason", ""),
        )

    return parse


def _member(kind: str) -> Callable[[H], MemberEvent]:
    def parse(h: H) -> MemberEvent:
        interface = h.get("Interface") or h.get("Location", "")
        return MemberEvent(
            kind,
            h.get("Queue", ""),
            h.get("MemberName") or h.get("Name", "") or interface,
            interface,
            h.get("StateInterface") or interface,
            _flag(h.get("Paused")),
            h.get("PausedReason", ""),
            _int(h.get("Status")),
            _flag(h.get("InCall")),
        )

    return parse


def _queue_entry(h: H) -> QueueEntrySnap:
    return QueueEntrySnap(
        h.get("Queue", ""),
        h.get("Uniqueid", ""),
        h.get("Channel", ""),
        h.get("CallerIDNum", ""),
        h.get("CallerIDName", ""),
        _int(h.get("Position")),
        _int(h.get("Wait")),
    )


def _channel_snap(h: H) -> ChannelSnap:
    return ChannelSnap(
        h.get("Uniqueid", ""),
        h.get("Channel", ""),
        h.get("Linkedid", "") or h.get("Uniqueid", ""),
        h.get("CallerIDNum", ""),
        h.get("CallerIDName", ""),
        h.get("Application", ""),
        h.get("ApplicationData", ""),
        h.get("BridgeId", ""),
        h.get("Duration", ""),
    )


def _new_channel(h: H) -> NewChannel:
    return NewChannel(
        h.get("Uniqueid", ""),
        h.get("Channel", ""),
        h.get("Linkedid", "") or h.get("Uniqueid", ""),
        h.get("CallerIDNum", ""),
        h.get("CallerIDName", ""),
    )


def _local_bridge(h: H) -> LocalBridge:
    return LocalBridge(h.get("LocalOneUniqueid", ""), h.get("LocalTwoUniqueid", ""))


def _signal(kind: str) -> Callable[[H], ChannelSignal]:
    def parse(h: H) -> ChannelSignal:
        return ChannelSignal(
            kind, h.get("Uniqueid", ""), h.get("Channel", ""), h.get("Linkedid", ""), _int(h.get("Cause"))
        )

    return parse


def _blind(h: H) -> Transfer:
    return Transfer(
        "BlindTransfer",
        h.get("TransfererUniqueid", ""),
        h.get("TransfereeUniqueid", ""),
        h.get("TransfererLinkedid", "") or h.get("TransfereeLinkedid", ""),
    )


def _attended(h: H) -> Transfer:
    return Transfer(
        "AttendedTransfer",
        h.get("OrigTransfererUniqueid", ""),
        h.get("TransfereeUniqueid", ""),
        h.get("OrigTransfererLinkedid", "") or h.get("TransfereeLinkedid", ""),
    )


def _user(h: H) -> UserEvent:
    return UserEvent(h.get("UserEvent", ""), h.get("Uniqueid", ""), h.get("Linkedid", ""), h)


def _system(kind: str) -> Callable[[H], SystemEvent]:
    def parse(h: H) -> SystemEvent:
        return SystemEvent(kind, h)

    return parse


PARSERS: dict[str, Callable[[H], Event]] = {
    "QueueCallerJoin": _caller_join,
    "QueueCallerLeave": _caller_leave,
    "QueueCallerAbandon": _caller_abandon,
    "AgentCalled": _agent("AgentCalled"),
    "AgentConnect": _agent("AgentConnect"),
    "AgentComplete": _agent("AgentComplete"),
    "AgentRingNoAnswer": _agent("AgentRingNoAnswer"),
    "AgentDump": _agent("AgentDump"),
    "QueueMemberAdded": _member("QueueMemberAdded"),
    "QueueMemberRemoved": _member("QueueMemberRemoved"),
    "QueueMemberPause": _member("QueueMemberPause"),
    "QueueMemberPaused": _member("QueueMemberPause"),  # pre-13 name
    "QueueMemberStatus": _member("QueueMemberStatus"),
    "QueueMemberPenalty": _member("QueueMemberPenalty"),
    "QueueMemberRinginuse": _member("QueueMemberStatus"),
    "QueueMember": _member("QueueMember"),
    "QueueEntry": _queue_entry,
    "CoreShowChannel": _channel_snap,
    "Newchannel": _new_channel,
    "LocalBridge": _local_bridge,
    "BridgeLeave": _signal("BridgeLeave"),
    "SoftHangupRequest": _signal("SoftHangupRequest"),
    "HangupRequest": _signal("HangupRequest"),
    "Hangup": _signal("Hangup"),
    "BlindTransfer": _blind,
    "AttendedTransfer": _attended,
    "UserEvent": _user,
    "FullyBooted": _system("FullyBooted"),
    "Shutdown": _system("Shutdown"),
    "QueueParams": _system("QueueParams"),
    "QueueStatusComplete": _system("QueueStatusComplete"),
    "Reload": _system("Reload"),
    "CoreShowChannelsComplete": _system("CoreShowChannelsComplete"),
}


def parse_event(headers: H) -> Event:
    """Typed record for any AMI event; unknown names become :class:`OtherEvent`."""
    name = headers.get("Event", "")
    parser = PARSERS.get(name)
    return parser(headers) if parser else OtherEvent(name, headers)
