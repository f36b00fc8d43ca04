"""The customer-call stage, one rule per test, driven through the real core with SIP-shaped events."""

from __future__ import annotations

import pytest

from acd.core.affinity import AffinityDecision
from acd.core.callcenter import Core
from acd.core.caller_history import PastCall
from acd.core.commands import LookupAnswered
from acd.core.config import CoreConfig
from acd.core.customer import CustomerCalls, customer_calls_of
from acd.core.effects import (
    CallFinished,
    CustomerCall,
    CustomerCallUpdated,
    LegSettled,
)
from tests.core_events import Call, Feed, answered_call, member
from tests.store_records import record


@pytest.fixture
def feed() -> Feed:
    f = Feed()
    f(
        member("QueueMemberAdded", "support", "PJSIP/1001", "Alice"),
        member("QueueMemberAdded", "support", "PJSIP/1002", "Bob"),
        member("QueueMemberAdded", "acd-agent-1001", "PJSIP/1001", "Alice"),
    )
    return f


def updates(feed: Feed, linkedid: str) -> list[CustomerCallUpdated]:
    return [e for e in feed.effects if isinstance(e, CustomerCallUpdated) and e.call.linkedid == linkedid]


def last(feed: Feed, linkedid: str) -> CustomerCall:
    return updates(feed, linkedid)[-1].call


def settled(feed: Feed) -> list[LegSettled]:
    return [e for e in feed.effects if isinstance(e, LegSettled)]


def personal_timeout_then(feed: Feed, call: Call, personal_wait: int = 15) -> None:
    """The caller waits ``personal_wait`` s in Alice's personal queue, times out, joins support."""
    call.queue = "acd-agent-1001"
    feed(call.newchannel(), call.join())
    feed(call.abandon(personal_wait), dt=personal_wait)
    feed(call.leave())
    call.queue = "support"
    feed(call.join(), dt=0.5)


def test_an_answered_call_is_one_customer_call_final_after_the_last_hangup(feed: Feed) -> None:
    answered_call(feed, Call("1.1"), hold=7, talk=95)
    first, *_, final = updates(feed, "1.1")
    assert first.call.live and first.call.outcome is None and first.call.queue == "support"
    row = final.call
    assert row.final and not row.live and row.outcome == "answered"
    assert (row.agent, row.wait_seconds, row.talk_seconds, row.ended_by) == (
        "PJSIP/1001",
        7.0,
        95.0,
        "caller",
    )
    assert (row.chain_id, row.chain_seq, row.callback_of, row.legs) == ("1.1", 0, None, 1)
    (leg,) = final.legs
    assert (leg.queue, leg.counted, leg.wait_seconds, leg.closing) == ("support", True, 7.0, True)
    (once,) = settled(feed)
    assert (once.queue, once.counted, once.wait_seconds) == ("support", True, 7.0)
    assert feed.core.customers.open == {}  # forgotten once final


def test_a_personal_leg_folds_into_the_shared_leg_and_its_wait_counts(feed: Feed) -> None:
    call = Call("2.1", number="5557777")
    personal_timeout_then(feed, call, personal_wait=15)
    personal = [s for s in settled(feed) if s.record.queue == "acd-agent-1001"]
    assert [(s.counted, s.queue) for s in personal] == [(False, "support")]  # settled when the next leg began
    feed(call.agent_newchannel("PJSIP/1002"), call.agent("AgentCalled", "PJSIP/1002", "Bob"), dt=3)
    feed(call.leave(), call.agent("AgentConnect", "PJSIP/1002", "Bob", HoldTime="4", RingTime="1"), dt=1)
    feed(call.signal("HangupRequest", "caller", 16), dt=30)
    feed(call.agent("AgentComplete", "PJSIP/1002", "Bob", HoldTime="4", TalkTime="30", Reason="caller"))
    feed(call.signal("Hangup", "caller", 16), call.signal("Hangup", "agent", 16))
    update = updates(feed, "2.1")[-1]
    assert update.call.final and update.call.queue == "support" and update.call.legs == 1
    by_entry = {leg.call_id: leg for leg in update.legs}
    assert (by_entry["2.1"].counted, by_entry["2.1"].queue) == (False, "support")
    shared = by_entry["2.1#2"]
    assert shared.counted and shared.closing
    assert shared.wait_seconds == pytest.approx(4 + 15.5)  # from the first arrival
    assert update.call.wait_seconds == pytest.approx(19.5)
    assert [s.record.id for s in settled(feed)] == ["2.1", "2.1#2"]  # each once


def test_a_caller_who_hangs_up_in_the_personal_queue_is_a_leg_of_the_shared_queue(feed: Feed) -> None:
    effects = customer_calls_of(
        [
            CallFinished(record("c.1", agent="PJSIP/1002", cut_off=True, queue="support")),
            CallFinished(
                record("c.2", queue="acd-agent-1002", outcome="abandoned",
                       joined_at=record("c.1").ended_at + 60,
                       callback_of="c.1")
            ),
        ]
    )  # fmt: skip
    update = [e for e in effects if isinstance(e, CustomerCallUpdated) and e.call.linkedid == "c.2"][-1]
    assert update.call.queue == "support" and update.call.outcome == "abandoned"
    (leg,) = update.legs
    assert leg.counted and leg.queue == "support"
    assert update.call.callback_result == "abandoned"
    assert (update.call.chain_id, update.call.chain_seq) == ("c.1", 1)


def test_the_routing_decision_names_the_shared_queue_of_a_personal_leg(feed: Feed) -> None:
    answered_call(feed, Call("3.1", number="5551111"), ender="caller", cause=41)  # cut off, Alice
    feed.now += 120
    back = Call("3.2", number="5551111", queue="acd-agent-1001")
    decision = AffinityDecision("offer_now", "original_agent", False, "sales", "5551111", "PJSIP/1001",
                                "Alice", "acd-agent-1001", "3.1", feed.now - 120)  # fmt: skip
    feed.core.command(LookupAnswered("d-3.2", "3.2", None, decision), feed.now)
    feed(back.newchannel())
    feed({"Event": "UserEvent", "UserEvent": "AcdRouted", "Channel": back.channel, "Uniqueid": "3.2",
          "Linkedid": "3.2", "Decision": "d-3.2"})  # fmt: skip
    feed(back.join())
    feed(back.agent_newchannel("PJSIP/1001"), back.agent("AgentCalled", "PJSIP/1001", "Alice"), dt=1)
    feed(back.leave(), back.agent("AgentConnect", "PJSIP/1001", "Alice", HoldTime="2", RingTime="1"), dt=1)
    feed(back.signal("HangupRequest", "caller", 16), dt=40)
    feed(back.agent("AgentComplete", "PJSIP/1001", "Alice", HoldTime="2", TalkTime="40", Reason="caller"))
    feed(back.signal("Hangup", "caller", 16), back.signal("Hangup", "agent", 16))
    row = last(feed, "3.2")
    assert row.final and row.queue == "sales" and row.routing == "original_agent"
    assert (row.callback_of, row.chain_id, row.chain_seq) == ("3.1", "3.1", 1)
    assert row.callback_result == "original_agent"
    (leg,) = [s for s in settled(feed) if s.record.id == "3.2"]
    assert (leg.queue, leg.counted, leg.callback_result) == ("sales", True, "original_agent")


def test_a_two_hop_chain_keeps_its_first_call(feed: Feed) -> None:
    answered_call(feed, Call("4.1", number="5552222"), ender="caller", cause=41)
    feed.now += 60
    answered_call(feed, Call("4.2", number="5552222"), "PJSIP/1002", "Bob", ender="agent", cause=38)
    feed.now += 60
    answered_call(feed, Call("4.3", number="5552222"), ender="caller")
    chain = [(last(feed, lid).chain_id, last(feed, lid).chain_seq, last(feed, lid).callback_of)
             for lid in ("4.1", "4.2", "4.3")]  # fmt: skip
    assert chain == [("4.1", 0, None), ("4.1", 1, "4.1"), ("4.1", 2, "4.2")]
    assert last(feed, "4.2").callback_result == "other_agent"
    assert last(feed, "4.3").callback_result == "other_agent"  # Bob's cut-off, Alice took it


def test_a_chain_survives_a_restart_through_the_stored_history(feed: Feed) -> None:
    feed.core.load_history(
        [PastCall("9.2", "9.2", "tel:5553333", "support", "PJSIP/1002", "Bob", True, True, feed.now - 60,
                  chain_id="9.1", chain_seq=1)]
    )  # fmt: skip
    answered_call(feed, Call("9.3", number="5553333"))
    assert (last(feed, "9.3").chain_id, last(feed, "9.3").chain_seq) == ("9.1", 2)


def test_a_transfer_to_another_queue_gives_two_legs_and_moves_the_closing_leg() -> None:
    first = record("t.1", queue="sales", agent="PJSIP/1001", ended_by="transfer")
    second = record("t.1", entry=2, queue="support", agent="PJSIP/1002", joined_at=first.ended_at,
                    wait_seconds=3.0)  # fmt: skip
    effects = customer_calls_of([CallFinished(first), CallFinished(second)])
    update = [e for e in effects if isinstance(e, CustomerCallUpdated)][-1]
    assert [(leg.queue, leg.counted, leg.closing) for leg in update.legs] == [
        ("sales", True, False),
        ("support", True, True),
    ]
    assert (update.call.agent, update.call.queue, update.call.legs) == ("PJSIP/1002", "support", 2)
    assert update.call.wait_seconds == pytest.approx(5.0)  # to the first answer


def test_an_adopted_call_with_no_hold_time_has_no_wait() -> None:
    adopted = record("a.1", wait_seconds=None, partial=True)
    update = [e for e in customer_calls_of([CallFinished(adopted)]) if isinstance(e, CustomerCallUpdated)][-1]
    assert update.call.wait_seconds is None and update.call.partial
    assert update.legs[0].wait_seconds is None


def test_a_caller_still_on_the_line_keeps_the_call_open_until_the_hangup(feed: Feed) -> None:
    call = Call("6.1")
    feed(call.newchannel(), call.join())
    feed(call.abandon(30), dt=30)
    feed(call.leave())  # a timeout: the caller goes on in the dialplan
    feed.tick(2)
    row = last(feed, "6.1")
    assert row.outcome == "exited" and not row.live and not row.final
    feed(call.signal("Hangup", "caller", 16), dt=20)
    assert last(feed, "6.1").final


def test_memory_stays_flat(feed: Feed) -> None:
    stage: CustomerCalls = feed.core.customers
    for i in range(200):
        answered_call(feed, Call(f"7.{i}", number=f"5554{i:03d}"))
    assert stage.open == {} and len(stage._known) == 200
    feed.tick(stage._horizon + feed.core.config.finish_grace_seconds + 10)
    assert stage._known == {}


def test_stale_calls_are_finalized() -> None:
    core = Core(CoreConfig(stale_call_seconds=100))
    stage = core.customers
    stage.observe([CallFinished(record("s.1"))], 0.0)
    stage._channels_live = lambda _: True
    assert stage.open == {}  # no live channel was known: final at once
    stage.observe([CallFinished(record("s.2"))], 0.0)
    assert "s.2" in stage.open
    out = stage.tick(record("s.2").ended_at + 200)
    assert [e.call.final for e in out if isinstance(e, CustomerCallUpdated)] == [True]
    assert stage.open == {}


def adopt_bridged(feed: Feed, uid: str, agent_uid: str, age: str) -> None:
    """acd starts while ``uid`` talks to Alice: the resync's snapshot is all it knows of the call."""
    feed.core.begin_resync(feed.now)
    feed(
        {**member("QueueMember", "support", "PJSIP/1001", "Alice"), "Name": "Alice",
         "Location": "PJSIP/1001"},
        {"Event": "QueueStatusComplete"},
        {"Event": "CoreShowChannel", "Channel": f"PJSIP/trunk-{uid}", "Uniqueid": uid,
         "Linkedid": uid, "CallerIDNum": "5553333", "Application": "Queue",
         "ApplicationData": "support,t", "BridgeId": "b-" + uid, "Duration": age},
        {"Event": "CoreShowChannel", "Channel": "PJSIP/1001-00000009", "Uniqueid": agent_uid,
         "Linkedid": uid, "Application": "AppQueue", "ApplicationData": "(Outgoing Line)",
         "BridgeId": "b-" + uid, "Duration": age},
        {"Event": "CoreShowChannelsComplete"},
    )  # fmt: skip


def test_an_adopted_call_takes_its_wait_and_times_from_the_final_agent_complete(feed: Feed) -> None:
    adopt_bridged(feed, "9.1", "9.2", "00:01:30")  # the channel is 90 s old: not the wait
    feed(
        {"Event": "AgentComplete", "Queue": "support", "Interface": "PJSIP/1001", "MemberName": "Alice",
         "Uniqueid": "9.1", "Linkedid": "9.1", "HoldTime": "4", "TalkTime": "100", "Reason": "caller"},
        dt=20,
    )  # fmt: skip
    completed = feed.now
    feed(
        {"Event": "Hangup", "Uniqueid": "9.1", "Linkedid": "9.1", "Cause": "16"},
        {"Event": "Hangup", "Uniqueid": "9.2", "Linkedid": "9.1", "Cause": "16"},
    )  # fmt: skip
    (rec,) = feed.records()
    assert rec.partial and rec.wait_seconds == 4.0 and rec.talk_seconds == 100.0
    assert rec.answered_at == completed - 100 and rec.joined_at == completed - 104
    assert rec.inferred == () and rec.ended_by == "caller"
    row = last(feed, "9.1")
    assert row.final and row.partial and row.wait_seconds == 4.0 and row.joined_at == completed - 104
    assert updates(feed, "9.1")[-1].legs[0].wait_seconds == 4.0


def test_an_adopted_call_whose_caller_hung_up_takes_its_wait_from_the_agent_complete_after(
    feed: Feed,
) -> None:
    """When the caller hangs up, Asterisk sends AgentComplete after the caller's Hangup and without
    its channel headers (the captures): the adopted call waits for it instead of closing unknown."""
    adopt_bridged(feed, "9.3", "9.4", "00:01:30")
    feed(
        {"Event": "Hangup", "Uniqueid": "9.4", "Linkedid": "9.3", "Cause": "16"},
        {"Event": "Hangup", "Uniqueid": "9.3", "Linkedid": "9.3", "Cause": "16"},
        dt=20,
    )  # fmt: skip
    ended = feed.now
    assert feed.records() == [] and feed.states("PJSIP/1001")[-1] == "available"  # free at once
    feed(
        {"Event": "AgentComplete", "Queue": "support", "Interface": "PJSIP/1001", "MemberName": "Alice",
         "HoldTime": "4", "TalkTime": "100", "Reason": "caller"},
    )  # fmt: skip
    (rec,) = feed.records()
    assert rec.partial and rec.wait_seconds == 4.0 and rec.talk_seconds == 100.0
    assert rec.ended_at == ended and rec.answered_at == ended - 100 and rec.joined_at == ended - 104
    assert not [e for e in feed.effects if getattr(e, "kind", None) == "unknown_call"]
    row = last(feed, "9.3")
    assert row.final and row.wait_seconds == 4.0


def test_an_adopted_call_that_ends_without_agent_complete_has_no_wait(feed: Feed) -> None:
    """Asterisk never told its wait (no AgentComplete): unknown, left out of ASA and service level."""
    adopt_bridged(feed, "9.5", "9.6", "00:01:30")
    feed(
        {"Event": "Hangup", "Uniqueid": "9.5", "Linkedid": "9.5", "Cause": "16"},
        {"Event": "Hangup", "Uniqueid": "9.6", "Linkedid": "9.5", "Cause": "16"},
        dt=20,
    )  # fmt: skip
    ended = feed.now
    feed.tick(feed.core.config.complete_wait_seconds)  # its AgentComplete fell in the gap: none comes
    (rec,) = feed.records()
    assert rec.partial and rec.wait_seconds is None  # never the channel's age
    assert rec.ended_at == ended  # when it ended, not when acd stopped waiting
    assert "answered_at" in rec.inferred
    row = last(feed, "9.5")
    assert row.final and row.wait_seconds is None and updates(feed, "9.5")[-1].legs[0].wait_seconds is None
