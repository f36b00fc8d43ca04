"""Calls acd adopts at start while the snapshot streams in, with Local channel halves as in the
captures (tests/fixtures/ami) and the simulator: ``;1`` is the channel in the queue or the bridge,
``;2`` the phone behind it.

QueueStatus and CoreShowChannels are two actions, answered one after the other while the events
go on. A caller ringing when QueueStatus answers is adopted as waiting; when it is answered before
CoreShowChannels answers, its AgentConnect names the agent's ``;1`` channel before acd knows the
channel or its ``;2`` half (no Newchannel or LocalBridge was seen: they came before acd
connected). The snapshot then pairs the halves, and a hang-up of either half must count for its
side: an agent's phone hanging up is the agent ending the call, not a leg of someone else
(which would read as a transfer).
"""

from __future__ import annotations

import pytest

from tests.core_events import Call, Feed, connect, member

LINKEDID = "1800000017.12"
CALLER = {"1": ("Local/5550101@caller-sim-00000006;1", "1800000017.12"),
          "2": ("Local/5550101@caller-sim-00000006;2", "1800000017.13")}  # fmt: skip
AGENT = {"1": ("Local/1004@agents-00000007;1", "1800000017.14"),
         "2": ("Local/1004@agents-00000007;2", "1800000017.15")}  # fmt: skip
BRIDGE = "2a838af8-d5c4-4a4e-b317-2062d08f1bb2"
IFACE = "Local/1004@agents"
Side = dict[str, tuple[str, str]]  # "1"/"2" -> (channel, uniqueid) of that half


def on(side: Side, half: str, event: str, **extra: str) -> dict[str, str]:
    channel, uid = side[half]
    return {"Event": event, "Channel": channel, "Uniqueid": uid, "Linkedid": LINKEDID, **extra}


def snap(side: Side, half: str, application: str, data: str, bridge: str) -> dict[str, str]:
    """A CoreShowChannel item for one half."""
    return on(side, half, "CoreShowChannel", Application=application, ApplicationData=data,
              Duration="00:00:03", BridgeId=bridge, CallerIDNum="5550101")  # fmt: skip


def call_fields() -> dict[str, str]:
    caller, uid = CALLER["1"]
    agent, agent_uid = AGENT["1"]
    return {"Channel": caller, "Uniqueid": uid, "Linkedid": LINKEDID, "DestChannel": agent,
            "DestUniqueid": agent_uid, "Queue": "sales", "Interface": IFACE,
            "MemberName": "Dave"}  # fmt: skip


def answered_between_the_two_lists(feed: Feed) -> None:
    """acd connects while the caller rings Dave; Dave answers between the two answers."""
    feed.core.begin_resync(feed.now)
    queue_member = {**member("QueueMember", "sales", IFACE, "Dave", status=2), "Name": "Dave",
                    "Location": IFACE}  # fmt: skip
    feed(
        {"Event": "QueueParams", "Queue": "sales"},
        queue_member,
        {"Event": "QueueEntry", "Queue": "sales", "Position": "1", "Channel": CALLER["1"][0],
         "Uniqueid": CALLER["1"][1], "CallerIDNum": "5550101", "CallerIDName": "x", "Wait": "2"},
        {"Event": "QueueStatusComplete", "EventList": "Complete", "ListItems": "3"},
    )  # fmt: skip
    fields = call_fields()
    feed(
        on(CALLER, "1", "QueueCallerLeave", Queue="sales", Position="1", Count="0"),
        {"Event": "AgentConnect", **fields, "HoldTime": "3", "RingTime": "1"},
        on(AGENT, "1", "BridgeEnter", BridgeUniqueid=BRIDGE),
        on(CALLER, "1", "BridgeEnter", BridgeUniqueid=BRIDGE),
        dt=1,
    )
    feed(
        snap(CALLER, "1", "Queue", "sales,t,,,300", BRIDGE),
        snap(CALLER, "2", "Wait", "3600", ""),
        snap(AGENT, "1", "AppQueue", "(Outgoing Line)", BRIDGE),
        snap(AGENT, "2", "Wait", "3600", ""),
        {"Event": "CoreShowChannelsComplete", "EventList": "Complete", "ListItems": "4"},
        dt=0.5,
    )


def test_the_agents_phone_hanging_up_ends_an_adopted_call_by_the_agent() -> None:
    """The simulator's sequence for "the agent's phone hangs up" (end_agent_phone)."""
    feed = Feed()
    answered_between_the_two_lists(feed)
    feed(on(AGENT, "2", "SoftHangupRequest", Cause="16"), dt=20)
    feed(
        on(AGENT, "1", "HangupRequest", Cause="16"),
        on(AGENT, "2", "Hangup", Cause="16"),
        {"Event": "AgentComplete", **call_fields(), "HoldTime": "3", "TalkTime": "20", "Reason": "agent"},
        on(AGENT, "1", "BridgeLeave", BridgeUniqueid=BRIDGE),
        on(AGENT, "1", "Hangup", Cause="16"),
        on(CALLER, "1", "BridgeLeave", BridgeUniqueid=BRIDGE),
        on(CALLER, "1", "SoftHangupRequest", Cause="16"),
        on(CALLER, "2", "HangupRequest", Cause="16"),
        on(CALLER, "1", "Hangup", Cause="16"),
        on(CALLER, "2", "SoftHangupRequest", Cause="16"),
        on(CALLER, "2", "Hangup", Cause="16"),
    )
    (record,) = feed.records()
    assert record.partial and record.agent_name == "Dave" and record.outcome == "answered"
    assert record.ended_by == "agent" and record.transfer_target is None and not record.cut_off


@pytest.mark.parametrize("cause", [16, 41])
def test_the_callers_phone_hanging_up_ends_an_adopted_call_by_the_caller(cause: int) -> None:
    """The caller's phone (``;2``) hangs up first, normally or cut off: its hang-up is the caller's."""
    feed = Feed()
    answered_between_the_two_lists(feed)
    feed(on(CALLER, "2", "SoftHangupRequest", Cause="16"), dt=20)
    feed(
        on(CALLER, "1", "HangupRequest", Cause=str(cause)),
        on(CALLER, "2", "Hangup", Cause=str(cause)),
        on(CALLER, "1", "BridgeLeave", BridgeUniqueid=BRIDGE),
        on(CALLER, "1", "Hangup", Cause=str(cause)),
        {"Event": "AgentComplete", "Queue": "sales", "Interface": IFACE, "MemberName": "Dave",
         "HoldTime": "3", "TalkTime": "20", "Reason": "caller"},
        on(AGENT, "1", "BridgeLeave", BridgeUniqueid=BRIDGE),
        on(AGENT, "1", "SoftHangupRequest", Cause="16"),
        on(AGENT, "2", "HangupRequest", Cause=str(cause)),
        on(AGENT, "1", "Hangup", Cause=str(cause)),
        on(AGENT, "2", "Hangup", Cause=str(cause)),
    )  # fmt: skip
    (record,) = feed.records()
    assert record.partial and record.ended_by == "caller"
    assert record.cut_off == (cause != 16)
    if cause != 16:
        assert f"caller_cause_{cause}" in record.cut_off_reasons


# ---------------------------------------------------------------- a call acd already recorded


def transferred(feed: Feed, call: Call, kind: str) -> None:
    """``call`` answered by Alice, who transfers it (``kind`` "blind" or "attended"): its entry is
    recorded at once, while the caller's channel lives on, bridged to the transfer's target."""
    connect(feed, call, "PJSIP/1001", "Alice", hold=1)
    if kind == "blind":
        event = {"Event": "BlindTransfer", "TransfererUniqueid": call.agent_uid,
                 "TransfereeUniqueid": call.uid, "TransfererLinkedid": call.linkedid}  # fmt: skip
    else:
        event = {"Event": "AttendedTransfer", "OrigTransfererUniqueid": call.agent_uid,
                 "TransfereeUniqueid": call.uid, "OrigTransfererLinkedid": call.linkedid}  # fmt: skip
    feed(
        event,
        call.signal("BridgeLeave", "agent"),
        call.agent("AgentComplete", "PJSIP/1001", "Alice", HoldTime="1", TalkTime="20", Reason="transfer"),
        call.signal("Hangup", "agent", 16),
        dt=20,
    )  # fmt: skip
    (record,) = feed.records()
    assert record.id == call.uid and record.ended_by == "transfer"


def resync_with_caller_in(
    feed: Feed, call: Call, application: str, data: str, context: str = "inbound"
) -> None:
    """A resync (a takeover, a reconnect) finds the caller running ``application`` with
    ``data``, bridged to the transfer's target."""
    feed.core.begin_resync(feed.now)
    target = {"Event": "CoreShowChannel", "Channel": "PJSIP/2001-00000077", "Uniqueid": "1.77",
              "Linkedid": call.linkedid, "Application": "AppDial", "ApplicationData": "(Outgoing Line)",
              "Duration": "00:00:05", "BridgeId": "b-target", "CallerIDNum": "2001"}  # fmt: skip
    feed(
        {"Event": "QueueParams", "Queue": "support"},
        {**member("QueueMember", "support", "PJSIP/1001", "Alice"), "Name": "Alice",
         "Location": "PJSIP/1001"},
        {"Event": "QueueStatusComplete", "EventList": "Complete", "ListItems": "2"},
        call.base("CoreShowChannel", Application=application, ApplicationData=data, Context=context,
                  Duration="00:00:26", BridgeId="b-target"),
        target,
        {"Event": "CoreShowChannelsComplete", "EventList": "Complete", "ListItems": "2"},
        dt=5,
    )  # fmt: skip


def hang_up_and_settle(feed: Feed, call: Call) -> None:
    target_hangup = {**call.signal("Hangup", "caller", 16), "Uniqueid": "1.77"}
    feed(call.signal("Hangup", "caller", 16), target_hangup, dt=30)
    feed.tick(60)


def test_a_transferred_caller_still_in_its_queue_application_is_not_adopted_again() -> None:
    """After an attended transfer Asterisk keeps the caller in the Queue() it was answered in,
    bridged to the target, until it hangs up (transfer.ami.log, 8c): the snapshot shows it in a
    queue bridge, but its queue entry is the one acd recorded at the transfer. Adopting it would
    record that call twice: as entry ``#2`` (a partial row for no queue entry of Asterisk's), or,
    merged with queue_log, over the true record."""
    feed = Feed()
    call = Call("1800000129.36")
    transferred(feed, call, "attended")
    resync_with_caller_in(feed, call, "Queue", "support,t,,,300")
    assert feed.core.registry.entries == {}
    hang_up_and_settle(feed, call)
    assert [r.id for r in feed.records()] == [call.uid]


@pytest.mark.parametrize("gap", [False, True], ids=["resync", "after_a_gap"])
def test_a_blind_transferred_caller_dialling_the_target_is_not_adopted(gap: bool) -> None:
    """After a blind transfer the caller has left Queue() and runs the target's extension
    (``Dial`` in the transfer's context, transfer.ami.log 8a), bridged to the target: a resync,
    or one after an AMI gap, finds no queue entry there, and the call stays one record."""
    feed = Feed()
    call = Call("1800000129.36")
    transferred(feed, call, "blind")
    if gap:
        feed.core.disconnected(feed.now)
    resync_with_caller_in(feed, call, "Dial", "Local/1003@agents,20", context="xfer")
    assert feed.core.registry.entries == {}
    hang_up_and_settle(feed, call)
    assert [r.id for r in feed.records()] == [call.uid]


def test_a_transferred_caller_answered_in_another_queue_during_a_gap_is_its_next_entry() -> None:
    """Transferred to another queue's Queue() and answered there while acd was not looking: a
    queue entry acd has not recorded, adopted as the channel's next."""
    feed = Feed()
    call = Call("1800000129.36")
    transferred(feed, call, "blind")
    feed.core.disconnected(feed.now)
    resync_with_caller_in(feed, call, "Queue", "billing,t,,,300")
    (entry,) = feed.core.registry.entries.values()
    assert entry.id == f"{call.uid}#2" and entry.queue == "billing" and entry.state == "connected"
