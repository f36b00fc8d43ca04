"""The core fills its blind spots with queue_log facts, and the rules for calls across gaps and
restarts: one record per queue entry with its true key and times, queue_log's gaps in knowledge
named ``unknown``, a lone event makes no row, a shutdown's callers exit (system)."""

from __future__ import annotations

import pytest

from acd.core.caller_history import PastCall, caller_key
from acd.core.effects import Anomaly, CallFinished, GapRecorded
from acd.core.gapfill import GapFill
from acd.core.queuelog import read_facts
from tests.core_events import Call, Feed, answered_call, connect, member

T0 = 1_000_000.0  # the Feed's clock starts here


@pytest.fixture
def feed() -> Feed:
    f = Feed()
    f.core.gapfill = GapFill(lookback=3600)
    f(
        member("QueueMemberAdded", "support", "PJSIP/1001", "Alice"),
        member("QueueMemberAdded", "support", "PJSIP/1002", "Bob"),
    )
    return f


def resync(feed: Feed, *snapshot: dict[str, str]) -> None:
    feed.core.begin_resync(feed.now)
    feed(
        {
            **member("QueueMember", "support", "PJSIP/1001", "Alice"),
            "Name": "Alice",
            "Location": "PJSIP/1001",
        },
        {**member("QueueMember", "support", "PJSIP/1002", "Bob"), "Name": "Bob", "Location": "PJSIP/1002"},
        {"Event": "QueueStatusComplete"},
        *snapshot,
        {"Event": "CoreShowChannelsComplete"},
    )


def fill(feed: Feed, lines: list[str] | None) -> list[object]:
    assert feed.core.gapfill is not None and feed.core.gapfill.pending
    facts = read_facts(lines) if lines is not None else None
    out = feed.core.fill_gap(facts, feed.now)
    feed.effects.extend(out)
    return list(out)


def ql(at: float, callid: str, agent: str, event: str, *data: object) -> str:
    return "|".join([str(int(at)), callid, "support", agent, event, *map(str, data)])


def bridged(call: Call, other: str, other_uid: str, *, caller_app: tuple[str, str]) -> list[dict[str, str]]:
    """CoreShowChannels of ``call``'s caller in a bridge with ``other`` (an agent, or whoever the
    call was transferred to)."""
    app, data = caller_app
    common = {"Event": "CoreShowChannel", "Linkedid": call.linkedid, "BridgeId": f"b-{call.uid}"}
    return [
        {**common, "Channel": call.channel, "Uniqueid": call.uid, "CallerIDNum": call.number,
         "Application": app, "ApplicationData": data, "Duration": "00:01:00"},
        {**common, "Channel": other, "Uniqueid": other_uid, "ApplicationData": "(Outgoing Line)",
         "Application": "AppQueue" if app == "Queue" else "AppDial", "Duration": "00:00:50"},
    ]  # fmt: skip


def connected_then_a_gap(feed: Feed, call: Call, *, hold: int, seen_until: float, gap: float) -> float:
    """``call`` answered, then AMI lost ``seen_until`` seconds later, and the clock ``gap`` on: when
    it joined."""
    connect(feed, call, hold=hold)
    joined = feed.now
    feed.core.disconnected(feed.now + seen_until)
    feed.now += gap
    return joined


def bob_hangs_up_with(feed: Feed, uid: str, bob_uid: str, *, hold: int, dt: float) -> None:
    """The caller ``uid`` talking to Bob (channel ``bob_uid``) for 60 s hangs up."""
    feed(
        {"Event": "AgentComplete", "Queue": "support", "Interface": "PJSIP/1002", "MemberName": "Bob",
         "Uniqueid": uid, "HoldTime": str(hold), "TalkTime": "60", "Reason": "caller"},
        {"Event": "Hangup", "Uniqueid": uid, "Linkedid": uid, "Cause": "16"},
        {"Event": "Hangup", "Uniqueid": bob_uid, "Linkedid": uid, "Cause": "16"},
        dt=dt,
    )  # fmt: skip


def gap_of(out: list[object]) -> GapRecorded:
    (gap,) = [e for e in out if isinstance(e, GapRecorded)]
    return gap


def test_a_call_that_ended_in_the_gap_is_closed_with_its_true_end(feed: Feed) -> None:
    call = Call("1.1")
    joined = connected_then_a_gap(feed, call, hold=3, seen_until=5, gap=100)
    resync(feed)  # its channels are gone
    assert feed.records() == []  # kept aside until queue_log says how it ended
    out = fill(
        feed,
        [
            ql(joined, "1.1", "NONE", "ENTERQUEUE", "", "5551234", 1),
            ql(joined + 3, "1.1", "Alice", "CONNECT", 3, "1.19", 1),
            ql(joined + 43, "1.1", "Alice", "COMPLETECALLER", 3, 40, 1),
        ],
    )
    (r,) = feed.records()
    assert (r.id, r.outcome, r.agent, r.source) == ("1.1", "answered", "PJSIP/1001", "merged")
    assert r.ended_at == pytest.approx(int(joined) + 43) and r.talk_seconds == 40.0
    assert not r.partial and not r.cut_off  # acd saw it start, queue_log saw it end
    assert set(r.unknown) >= {"cause", "cut_off", "ended_by"} and r.ended_by is None
    gap = gap_of(out)
    assert gap.calls_merged == 1 and gap.queue_log == "read" and gap.started_at == pytest.approx(joined + 5)


def test_without_queue_log_a_vanished_call_is_lost_in_the_gap(feed: Feed) -> None:
    connect(feed, Call("1.1"), hold=3)
    feed.core.disconnected(feed.now)
    feed.now += 100
    resync(feed)
    out = fill(feed, None)
    (r,) = feed.records()
    assert r.partial and r.cut_off and "ami_gap" in r.cut_off_reasons and r.source == "ami"
    assert gap_of(out).queue_log == "unreadable"


def test_a_call_acd_never_saw_is_recorded_from_queue_log(feed: Feed) -> None:
    answered_call(feed, Call("0.1", number="5559999"), ender="agent", cause=41)  # cut off: a callback follows
    feed.core.disconnected(feed.now)
    start = feed.now
    feed.now += 600
    resync(feed)
    out = fill(
        feed,
        [
            ql(start + 10, "2.1", "NONE", "ENTERQUEUE", "", "5559999", 1),
            ql(start + 25, "2.1", "Bob", "RINGNOANSWER", 15000),
            ql(start + 30, "2.1", "Alice", "CONNECT", 20, "2.19", 2),
            ql(start + 90, "2.1", "Alice", "COMPLETEAGENT", 20, 60, 1),
            ql(start + 100, "3.1", "NONE", "ENTERQUEUE", "", "5550000", 1),
            ql(start + 104, "3.1", "NONE", "ABANDON", 1, 1, 4),
        ],
    )
    records = {r.id: r for r in feed.records()}
    r = records["2.1"]
    assert (r.outcome, r.agent, r.agent_name, r.ended_by, r.source) == (
        "answered", "PJSIP/1001", "Alice", "agent", "queue_log",
    )  # fmt: skip
    assert (r.wait_seconds, r.talk_seconds, r.partial) == (20.0, 60.0, True)
    assert r.callback_of == "0.1", "recovered calls are linked like any other"
    rings = [(o.agent, o.result) for o in r.offers]
    assert rings == [("PJSIP/1002", "no_answer"), ("PJSIP/1001", "answered")]
    assert "cause" in r.unknown and "ended_by" not in r.unknown  # COMPLETEAGENT says who
    a = records["3.1"]
    assert (a.outcome, a.exit_reason, a.wait_seconds) == ("abandoned", "short", 4.0)
    assert gap_of(out).calls_recovered == 2


def test_nothing_doubles_with_what_acd_recorded_itself(feed: Feed) -> None:
    call = Call("1.1")
    answered_call(feed, call, hold=2, talk=10)
    ended = feed.now
    feed.core.disconnected(feed.now + 1)
    feed.now += 50
    resync(feed)
    fill(
        feed,
        [
            ql(ended - 12, "1.1", "NONE", "ENTERQUEUE", "", "5551234", 1),
            ql(ended - 10, "1.1", "Alice", "CONNECT", 2, "1.19", 1),
            ql(ended, "1.1", "Alice", "COMPLETECALLER", 2, 10, 1),
        ],
    )
    assert [r.id for r in feed.records()] == ["1.1"]


def test_an_adopted_call_gets_its_true_start_and_entry(feed: Feed) -> None:
    """A call transferred to a second queue while acd was down is adopted on start as the channel's
    first entry; queue_log knows it is the second (the first was answered and transferred)."""
    feed.core.gap_started = feed.now - 300  # where the previous run left off
    resync(
        feed,
        {
            "Event": "CoreShowChannel",
            "Channel": "PJSIP/trunk-1",
            "Uniqueid": "5.1",
            "Linkedid": "5.1",
            "CallerIDNum": "5551234",
            "Application": "Queue",
            "ApplicationData": "support,t",
            "BridgeId": "b1",
            "Duration": "00:04:00",
        },
        {
            "Event": "CoreShowChannel",
            "Channel": "PJSIP/1002-00000007",
            "Uniqueid": "5.2",
            "Linkedid": "5.1",
            "Application": "AppQueue",
            "ApplicationData": "(Outgoing Line)",
            "BridgeId": "b1",
            "Duration": "00:01:00",
        },
    )
    start = feed.now - 240
    fill(
        feed,
        [
            ql(start, "5.1", "NONE", "ENTERQUEUE", "", "5551234", 1),
            ql(start + 5, "5.1", "Alice", "CONNECT", 5, "5.3", 1),
            ql(start + 100, "5.1", "Alice", "BLINDTRANSFER", "support", "xfer", 5, 95, 1),
            ql(start + 101, "5.1", "NONE", "ENTERQUEUE", "", "5551234", 1),
            ql(start + 180, "5.1", "Bob", "CONNECT", 79, "5.2", 1),
        ],
    )
    first = next(r for r in feed.records() if r.entry == 1)
    assert (first.source, first.outcome, first.ended_by, first.talk_seconds) == (
        "queue_log", "answered", "transfer", 95.0,
    )  # fmt: skip
    bob_hangs_up_with(feed, "5.1", "5.2", hold=79, dt=1)
    second = next(r for r in feed.records() if r.entry == 2)
    assert second.id == "5.1#2" and second.source == "merged" and not second.partial
    assert second.joined_at == pytest.approx(int(start) + 101) and second.wait_seconds == 79.0
    assert len(feed.records()) == 2


def test_a_call_transferred_in_the_gap_whose_caller_lives_on_is_closed_from_queue_log(feed: Feed) -> None:
    """Connected before the gap, transferred in it: the caller's channel is still up (talking to the
    transfer's target), so the resync keeps the call; its AgentComplete went out in the gap."""
    call = Call("7.1", number="5557777")
    joined = connected_then_a_gap(feed, call, hold=4, seen_until=10, gap=100)
    resync(feed, *bridged(call, "PJSIP/2000-00000009", "7.5", caller_app=("Dial", "PJSIP/2000")))
    assert feed.records() == [] and "7.1" in feed.core.registry.entries
    out = fill(
        feed,
        [
            ql(joined, "7.1", "NONE", "ENTERQUEUE", "", "5557777", 1),
            ql(joined, "7.1", "Alice", "CONNECT", 4, "7.19", 1),
            ql(joined + 50, "7.1", "Alice", "BLINDTRANSFER", "2000", "xfer", 4, 50, 1),
        ],
    )
    (r,) = feed.records()
    assert (r.id, r.outcome, r.agent, r.ended_by, r.source) == (
        "7.1",
        "answered",
        "PJSIP/1001",
        "transfer",
        "merged",
    )
    assert r.ended_at == pytest.approx(int(joined) + 50) and r.talk_seconds == 50.0 and not r.partial
    assert feed.core.registry.entries == {} and gap_of(out).calls_merged == 1
    assert feed.core.registry.agents["PJSIP/1001"].calls == set(), "Alice is free again"
    feed(call.signal("Hangup", "caller", 16), dt=30)  # the transferred call ends later: no second row
    assert len(feed.records()) == 1


def test_a_call_connected_across_the_gap_and_still_going_is_left_to_ami(feed: Feed) -> None:
    call = Call("8.1")
    joined = connected_then_a_gap(feed, call, hold=2, seen_until=10, gap=60)
    resync(feed, *bridged(call, "PJSIP/1001-00000008", "8.19", caller_app=("Queue", "support")))
    fill(
        feed,
        [
            ql(joined, "8.1", "NONE", "ENTERQUEUE", "", "5551234", 1),
            ql(joined, "8.1", "Alice", "CONNECT", 2, "8.19", 1),
        ],
    )
    assert feed.records() == [] and "8.1" in feed.core.registry.entries


def test_an_adopted_call_that_ends_before_the_read_is_held_then_merged(feed: Feed) -> None:
    feed.core.gap_started = feed.now - 60
    resync(
        feed,
        {"Event": "QueueEntry", "Queue": "support", "Uniqueid": "6.1", "Channel": "PJSIP/trunk-6",
         "CallerIDNum": "5556666", "Position": "1", "Wait": "30"},
    )  # fmt: skip
    call = Call("6.1", number="5556666")
    feed(call.abandon(35), call.leave(), call.signal("Hangup", "caller", 16), dt=5)
    assert feed.records() == []  # held until queue_log tells when it began
    fill(
        feed,
        [
            ql(feed.now - 37, "6.1", "NONE", "ENTERQUEUE", "", "5556666", 1),
            ql(feed.now, "6.1", "NONE", "ABANDON", 1, 1, 37),
        ],
    )
    (r,) = feed.records()
    assert r.source == "merged" and not r.partial and r.joined_at == pytest.approx(int(feed.now) - 37)
    assert r.outcome == "abandoned"


def test_a_restart_is_inferred_for_what_queue_log_cannot_say(feed: Feed) -> None:
    feed.core.disconnected(feed.now)
    start = feed.now
    feed.now += 120
    resync(feed)
    fill(
        feed,
        [
            ql(start + 10, "7.1", "NONE", "ENTERQUEUE", "", "5557001", 1),
            ql(start + 30, "7.1", "NONE", "ABANDON", 1, 1, 20),
            ql(start + 20, "7.2", "NONE", "ENTERQUEUE", "", "5557002", 1),
            ql(start + 22, "7.2", "Bob", "CONNECT", 2, "7.29", 1),
            f"{int(start + 32)}|NONE|NONE|NONE|QUEUESTART|",
        ],
    )
    records = {r.id: r for r in feed.records()}
    waiting, talking = records["7.1"], records["7.2"]
    assert (waiting.outcome, waiting.exit_reason, waiting.ended_by) == (
        "exited", "asterisk_restart", "system",
    )  # fmt: skip
    assert "outcome" in waiting.inferred
    assert talking.cut_off and talking.ended_by == "system"
    assert talking.ended_at == pytest.approx(int(start) + 32)
    assert {"ended_by", "cut_off"} <= set(talking.inferred)


def test_a_lone_event_for_no_known_call_makes_no_row(feed: Feed) -> None:
    out = feed(
        {"Event": "AgentConnect", "Queue": "support", "Uniqueid": "9.9", "Interface": "PJSIP/1001",
         "MemberName": "Alice", "HoldTime": "3", "RingTime": "1", "DestUniqueid": "9.8"},
        {"Event": "AgentComplete", "Queue": "support", "Uniqueid": "9.9", "Interface": "PJSIP/1001",
         "MemberName": "Alice", "HoldTime": "3", "TalkTime": "20", "Reason": "caller"},
        {"Event": "QueueCallerAbandon", "Queue": "support", "Uniqueid": "9.7", "HoldTime": "3"},
    )  # fmt: skip
    feed.tick(600)
    assert feed.records() == []
    assert sum(isinstance(e, Anomaly) and e.kind == "unknown_call" for e in out) == 3


def test_a_caller_waiting_when_asterisk_shuts_down_exits_it_does_not_abandon(feed: Feed) -> None:
    call = Call("8.1")
    feed(call.newchannel(), call.join())
    feed(
        {**call.signal("SoftHangupRequest", "caller"), "Cause": "4"},
        call.abandon(12),
        call.leave(),
        call.signal("Hangup", "caller", 0),
        dt=12,
    )
    feed({"Event": "Shutdown", "Shutdown": "Cleanly", "Restart": "True"})
    (r,) = feed.records()
    assert (r.outcome, r.exit_reason, r.ended_by) == ("exited", "asterisk_restart", "system")


def test_a_caller_answered_during_a_gap_is_one_record(feed: Feed) -> None:
    """Waiting before the gap, talking after it: no second entry with an invented start."""
    call = Call("4.1")
    feed(call.newchannel(), call.join())
    joined = feed.now
    feed.core.disconnected(feed.now + 5)
    feed.now += 60
    resync(
        feed,
        {"Event": "CoreShowChannel", "Channel": call.channel, "Uniqueid": "4.1", "Linkedid": "4.1",
         "Application": "Queue", "ApplicationData": "support", "BridgeId": "b4", "Duration": "00:01:05"},
        {"Event": "CoreShowChannel", "Channel": "PJSIP/1002-00000009", "Uniqueid": "4.2", "Linkedid": "4.1",
         "Application": "AppQueue", "ApplicationData": "(Outgoing Line)", "BridgeId": "b4",
         "Duration": "00:00:30"},
    )  # fmt: skip
    live = feed.core.live(feed.now)
    assert next(a for a in live.agents if a.agent == "PJSIP/1002").state == "in_call"
    fill(feed, None)  # queue_log unreadable: acd still knows it was answered, by Bob
    feed(
        {"Event": "AgentComplete", "Queue": "support", "Interface": "PJSIP/1002", "MemberName": "Bob",
         "HoldTime": "35", "TalkTime": "50", "Reason": "caller"},
        {"Event": "Hangup", "Uniqueid": "4.1", "Linkedid": "4.1", "Cause": "16"},
        {"Event": "Hangup", "Uniqueid": "4.2", "Linkedid": "4.1", "Cause": "16"},
        dt=20,
    )  # fmt: skip
    (r,) = feed.records()
    assert r.id == "4.1" and r.agent == "PJSIP/1002" and r.outcome == "answered"
    assert r.joined_at == pytest.approx(joined) and r.wait_seconds == 35.0 and r.partial
    assert not [e for e in feed.effects if isinstance(e, CallFinished) and "#" in e.record.id]


def cut_off_before(feed: Feed, number: str, ago: float) -> PastCall:
    """The caller's earlier call, cut off ``ago`` seconds ago (from the database's history)."""
    past = PastCall("4.1", "4.1", caller_key(number) or "", "support", "PJSIP/1001", "Alice",
                    answered=True, cut_off=True, ended_at=feed.now - ago)  # fmt: skip
    feed.core.load_history([past])
    return past


def test_an_adopted_callback_merged_with_queue_log_is_linked_to_the_call_it_calls_back(feed: Feed) -> None:
    """A caller cut off who called back and was answered while acd was not looking (a takeover, a
    start): adopted from the snapshot, its true start from queue_log makes it the callback it is,
    as if acd had seen it join."""
    past = cut_off_before(feed, "5557777", ago=600)
    feed.core.gap_started = feed.now - 120
    call = Call("7.1", number="5557777")
    resync(feed, *bridged(call, "PJSIP/1002-00000009", "7.2", caller_app=("Queue", "support,t")))
    start = feed.now - 60
    fill(
        feed,
        [
            ql(start, "7.1", "NONE", "ENTERQUEUE", "", "5557777", 1),
            ql(start + 4, "7.1", "Bob", "CONNECT", 4, "7.2", 1),
        ],
    )
    bob_hangs_up_with(feed, "7.1", "7.2", hold=4, dt=4)
    (r,) = feed.records()
    assert r.source == "merged" and (r.callback_of, r.repeat_of) == (past.id, None)


def test_an_adopted_callback_that_ends_before_the_read_is_linked_too(feed: Feed) -> None:
    past = cut_off_before(feed, "5557777", ago=600)
    feed.core.gap_started = feed.now - 120
    call = Call("7.1", number="5557777")
    resync(feed, *bridged(call, "PJSIP/1002-00000009", "7.2", caller_app=("Queue", "support,t")))
    start = feed.now - 60
    bob_hangs_up_with(feed, "7.1", "7.2", hold=4, dt=4)
    assert feed.records() == []  # held until queue_log tells when it began
    fill(
        feed,
        [
            ql(start, "7.1", "NONE", "ENTERQUEUE", "", "5557777", 1),
            ql(start + 4, "7.1", "Bob", "CONNECT", 4, "7.2", 1),
            ql(feed.now, "7.1", "Bob", "COMPLETECALLER", 4, 60, 1),
        ],
    )
    (r,) = feed.records()
    assert r.source == "merged" and (r.callback_of, r.repeat_of) == (past.id, None)
