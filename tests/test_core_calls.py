"""Core transitions, one rule per test, with SIP-shaped channels (no Local halves)."""

from __future__ import annotations

import pytest

from acd.core.callcenter import Core
from acd.core.caller_history import caller_key
from acd.core.classify import CutoffPolicy, Signal, classify_cutoff, ended_by
from acd.core.config import CoreConfig, QueueRules
from acd.core.effects import Anomaly, CallFinished, CallStarted, GapRecorded, MemberSession, ResyncDone
from acd.core.entities import interface_of_channel
from tests.core_events import Call, Feed, answered_call, connect, member


@pytest.fixture
def feed() -> Feed:
    f = Feed()
    f(
        member("QueueMemberAdded", "support", "PJSIP/1001", "Alice"),
        member("QueueMemberAdded", "support", "PJSIP/1002", "Bob"),
    )
    return f


def test_sip_answered_call_record(feed: Feed) -> None:
    call = Call("1700000000.1", number="+1 (555) 010-2000")
    answered_call(feed, call, hold=7, talk=95)
    (r,) = feed.records()
    assert (r.outcome, r.agent, r.agent_name, r.ended_by) == ("answered", "PJSIP/1001", "Alice", "caller")
    assert (r.wait_seconds, r.talk_seconds) == (7.0, 95.0)
    assert r.caller_key == "tel:15550102000"
    assert not r.cut_off and not r.partial
    assert [(o.agent, o.result) for o in r.offers] == [("PJSIP/1001", "answered")]


def test_agent_side_network_failure_is_a_cut_off(feed: Feed) -> None:
    answered_call(feed, Call("1700000000.1"), ender="agent", cause=38, reason="caller")
    (r,) = feed.records()
    assert r.ended_by == "agent"  # the first signal, not AgentComplete's Reason
    assert r.cut_off and r.cut_off_reasons == ("caller_cause_38", "agent_cause_38")
    assert r.cause == 38


def test_record_waits_for_the_last_hangup_then_grace(feed: Feed) -> None:
    call = Call("1700000000.1")
    connect(feed, call, "PJSIP/1001", "Alice", hold=1)
    feed(call.signal("SoftHangupRequest", "agent", 16), call.signal("BridgeLeave", "agent"), dt=10)
    feed(call.agent("AgentComplete", "PJSIP/1001", "Alice", HoldTime="1", TalkTime="10", Reason="agent"))
    assert feed.records() == []  # causes not known yet
    feed(call.signal("Hangup", "agent", 41))
    assert feed.records() == []
    feed.tick(11)  # the caller's hang-up never came: the grace period closes the record
    (r,) = feed.records()
    assert r.ended_by == "agent" and r.cut_off and r.agent_cause == 41


def test_agent_complete_without_channel_is_matched_by_member(feed: Feed) -> None:
    call = Call("1700000000.1")
    connect(feed, call, "PJSIP/1002", "Bob", hold=2)
    feed(call.signal("BridgeLeave", "agent"), call.signal("Hangup", "agent", 16), dt=30)
    bare = {
        "Event": "AgentComplete",
        "Queue": "support",
        "Interface": "PJSIP/1002",
        "MemberName": "Bob",
        "HoldTime": "2",
        "TalkTime": "30",
        "Reason": "caller",
    }
    feed(bare, call.signal("Hangup", "caller", 16))
    (r,) = feed.records()
    assert r.id == "1700000000.1" and r.talk_seconds == 30 and r.ended_by == "agent"


def test_abandon_with_hangup_first_short_and_long(feed: Feed) -> None:
    for uid, hold in (("1.1", 4), ("1.2", 45)):
        call = Call(uid)
        feed(call.newchannel(), call.join())
        feed(call.signal("HangupRequest", "caller", 16), call.abandon(hold), call.leave(), dt=hold)
    assert [(r.outcome, r.exit_reason, r.wait_seconds) for r in feed.records()] == [
        ("abandoned", "short", 4.0),
        ("abandoned", "long", 45.0),
    ]


def test_caller_who_leaves_and_hangs_up_a_moment_later_abandoned(feed: Feed) -> None:
    call = Call("1.1")
    feed(call.newchannel(), call.join())
    feed(call.abandon(20), call.leave(), dt=20)
    assert feed.records() == []
    feed(call.signal("SoftHangupRequest", "caller", 16), dt=0.01)
    assert [r.outcome for r in feed.records()] == ["abandoned"]


def test_caller_who_leaves_and_stays_exited_on_timeout(feed: Feed) -> None:
    call = Call("1.1")
    feed(call.newchannel(), call.join())
    feed(call.abandon(30), call.leave(), dt=30)
    feed.tick(2)
    (r,) = feed.records()
    assert (r.outcome, r.exit_reason, r.wait_seconds) == ("exited", "timeout", 30.0)


def test_reentry_numbers_entries_and_links_the_customer_call(feed: Feed) -> None:
    first = Call("1.1", queue="acd-agent-1001")
    feed(first.newchannel(), first.join())
    feed(first.abandon(10), first.leave(), dt=10)
    second = Call("1.1", queue="support")
    feed(second.join(), dt=0.2)
    ids = [r.id for r in feed.records()]
    assert ids == ["1.1"]
    assert feed.records()[0].exit_reason == "timeout"
    answered = [e for e in feed.effects if isinstance(e, CallStarted)]
    assert [s.id for s in answered] == ["1.1", "1.1#2"]


def test_withdraw_hint_makes_an_exit_even_if_caller_then_hangs_up(feed: Feed) -> None:
    call = Call("1.1")
    feed(call.newchannel(), call.join())
    feed.core.withdrawing("1.1")
    feed(call.abandon(5), call.leave(), call.signal("Hangup", "caller", 16), dt=5)
    (r,) = feed.records()
    assert (r.outcome, r.exit_reason) == ("exited", "withdraw")


def test_redirect_out_of_queue_is_an_exit(feed: Feed) -> None:
    call = Call("1.1")
    feed(call.newchannel(), call.join())
    feed(call.abandon(5), call.leave(context="direct-agent"), dt=5)
    feed({"Event": "Newchannel", "Channel": "PJSIP/1002-00000009", "Uniqueid": "1.5", "Linkedid": "1.1"})
    (r,) = feed.records()
    assert (r.outcome, r.exit_reason) == ("exited", "redirect")


def test_unknown_events_and_missing_headers_are_anomalies_not_errors(feed: Feed) -> None:
    out = feed(
        {"Event": "NoSuchEvent", "X": "1"},
        {"Event": "QueueCallerJoin"},
        {"Event": "AgentConnect", "Queue": "q"},
        {"Response": "Success"},
        {"Event": "Hangup"},
    )
    assert all(isinstance(e, Anomaly) for e in out)
    assert {e.kind for e in out if isinstance(e, Anomaly)} == {"missing_header", "unknown_call"}


def test_blind_transfer_finishes_at_complete(feed: Feed) -> None:
    call = Call("1.1")
    connect(feed, call, "PJSIP/1001", "Alice", hold=1)
    feed(
        {
            "Event": "BlindTransfer",
            "TransfererUniqueid": call.agent_uid,
            "TransfereeUniqueid": call.uid,
            "TransfererLinkedid": call.linkedid,
        },
        dt=20,
    )
    feed(
        call.signal("BridgeLeave", "agent"),
        call.agent("AgentComplete", "PJSIP/1001", "Alice", HoldTime="1", TalkTime="20", Reason="transfer"),
    )
    (r,) = feed.records()
    assert r.ended_by == "transfer" and r.transfer_target == "BlindTransfer" and not r.cut_off


def test_interface_of_channel() -> None:
    assert interface_of_channel("Local/1001@agents-00000003;1") == "Local/1001@agents"
    assert interface_of_channel("Local/1005@agents-disposition-0000002c;2") == "Local/1005@agents-disposition"
    assert interface_of_channel("PJSIP/1001-0000002a") == "PJSIP/1001"
    assert interface_of_channel("SIP/peer") == "SIP/peer"


# ---------------------------------------------------------------- classifiers (pure tables)

S = Signal


@pytest.mark.parametrize(
    ("signals", "reason", "transferred", "shutdown", "expected"),
    [
        ([S("BridgeLeave", "agent")], "caller", False, False, "agent"),
        ([S("SoftHangupRequest", "caller", 16), S("BridgeLeave", "agent")], "caller", False, False, "caller"),
        ([S("HangupRequest", "agent", 41)], "agent", False, False, "agent"),
        ([S("SoftHangupRequest", "agent", 4)], "agent", False, False, "system"),
        (
            [S("BridgeLeave", "caller"), S("SoftHangupRequest", "caller", 16)],
            "caller",
            False,
            False,
            "caller",
        ),
        (
            [S("BridgeLeave", "caller"), S("BridgeLeave", "agent"), S("NewLeg", "other")],
            "caller",
            False,
            False,
            "transfer",
        ),
        ([S("BridgeLeave", "agent")], "transfer", False, False, "transfer"),
        ([S("BridgeLeave", "agent")], "caller", True, False, "transfer"),
        ([], "agent", False, False, "agent"),
        ([], "caller", False, True, "system"),
        ([], None, False, False, None),
    ],
)
def test_ended_by_table(
    signals: list[Signal], reason: str | None, transferred: bool, shutdown: bool, expected: str | None
) -> None:
    assert ended_by(signals, reason=reason, transferred=transferred, shutdown=shutdown) == expected


POLICY = CutoffPolicy()


@pytest.mark.parametrize(
    ("answered", "caller", "agent", "ended", "talk", "lost", "policy", "expected"),
    [
        (True, [16], [16], "caller", 60, None, POLICY, (False, (), False)),
        (True, [16, 0], [0], "caller", 60, None, POLICY, (False, (), False)),  # 0 is never a cut-off
        (True, [41], [16], "caller", 60, None, POLICY, (True, ("caller_cause_41",), False)),
        (True, [17, 19, 21], [16], "caller", 60, None, POLICY, (False, (), False)),
        (True, [16], [16], "agent", 5, None, POLICY, (False, (), True)),
        (
            True,
            [16],
            [16],
            "agent",
            5,
            None,
            CutoffPolicy(short_agent_release_is_cutoff=True),
            (True, ("agent_released_short",), False),  # a cut-off is never also a short release
        ),
        # Cut off on the agent's leg after a short talk: a cut-off, not a short release.
        (True, [16], [41], "agent", 5, None, POLICY, (True, ("agent_cause_41",), False)),
        (True, [16], [16], None, 60, "ami_gap", POLICY, (True, ("ami_gap",), False)),
        (
            True,
            [34],
            [16],
            "caller",
            60,
            None,
            CutoffPolicy(normal_causes=frozenset({16, 34})),
            (False, (), False),
        ),
        (False, [41], [41], None, 0, None, POLICY, (False, (), False)),
    ],
)
def test_cutoff_table(
    answered: bool,
    caller: list[int],
    agent: list[int],
    ended: str | None,
    talk: float,
    lost: str | None,
    policy: CutoffPolicy,
    expected: tuple[bool, tuple[str, ...], bool],
) -> None:
    got = classify_cutoff(
        answered=answered,
        caller_causes=caller,
        agent_causes=agent,
        ended=ended,
        talk_seconds=talk,
        lost=lost,
        policy=policy,
    )
    assert got == expected


@pytest.mark.parametrize(
    ("number", "account", "key"),
    [
        ("5551234", None, "tel:5551234"),
        ("+44 20 7946 0000", None, "tel:442079460000"),
        ("0044 20 7946 0000", None, "tel:442079460000"),
        ("anonymous", None, None),
        ("", None, None),
        ("Restricted", None, None),
        ("12", None, None),
        ("5551234", "ACME-77", "acct:ACME-77"),
        (None, "  ", None),
    ],
)
def test_caller_key(number: str | None, account: str | None, key: str | None) -> None:
    assert caller_key(number, account) == key


# ---------------------------------------------------------------- linking


def _cut_off_then_call_again(feed: Feed, gap: float, number: str = "5559999") -> list[CallStarted]:
    answered_call(feed, Call("2.1", number=number), ender="caller", cause=41)
    feed.now += gap
    again = Call("2.2", number=number)
    feed(again.newchannel(), again.join())
    return [e for e in feed.effects if isinstance(e, CallStarted)]


def test_callback_within_window(feed: Feed) -> None:
    starts = _cut_off_then_call_again(feed, 600)
    assert starts[-1].callback_of == "2.1" and starts[-1].repeat_of is None


def test_after_the_window_only_a_repeat(feed: Feed) -> None:
    starts = _cut_off_then_call_again(feed, 3700)
    assert starts[-1].callback_of is None and starts[-1].repeat_of == "2.1"


def test_anonymous_never_links(feed: Feed) -> None:
    starts = _cut_off_then_call_again(feed, 60, number="anonymous")
    assert starts[-1].callback_of is None and starts[-1].repeat_of is None


def test_per_queue_callback_window() -> None:
    config = CoreConfig(queues={"support": QueueRules(callback_window_seconds=120)})
    feed = Feed(core=Core(config))
    starts = _cut_off_then_call_again(feed, 300)
    assert starts[-1].callback_of is None and starts[-1].repeat_of == "2.1"


def test_account_wins_over_number(feed: Feed) -> None:
    answered_call(feed, Call("3.1", number="5550001"), cause=38)
    feed.core.set_account("3.2", "ACME-1")
    feed.core.set_account("3.1", "ACME-1")  # too late for 3.1: its record is out
    again = Call("3.2", number="5550002")
    feed(again.join())
    starts = [e for e in feed.effects if isinstance(e, CallStarted)]
    assert starts[-1].callback_of is None  # 3.1 was keyed by its number, 3.2 by the account
    record_keys = [r.caller_key for r in feed.records()]
    assert record_keys == ["tel:5550001"]


def test_history_is_pruned(feed: Feed) -> None:
    for i in range(50):
        answered_call(feed, Call(f"4.{i}", number=f"55500{i:02d}"))
    assert len(feed.core.history) == 50
    feed.tick(feed.core.config.history_horizon + 10)
    assert len(feed.core.history) == 0


# ---------------------------------------------------------------- gaps and resync


def test_resync_reconciles_and_records_the_gap(feed: Feed) -> None:
    waiting = Call("5.1")
    talking = Call("5.2")
    feed(waiting.newchannel(), waiting.join())
    connect(feed, talking, "PJSIP/1001", "Alice", hold=3)
    feed.core.disconnected(feed.now)
    feed.now += 120
    feed.core.begin_resync(feed.now)
    # Snapshot: Alice still logged in, Bob gone; neither call exists any more; a new caller waits.
    out = feed(
        {"Event": "QueueParams", "Queue": "support"},
        {
            **member("QueueMember", "support", "PJSIP/1001", "Alice"),
            "Event": "QueueMember",
            "Name": "Alice",
            "Location": "PJSIP/1001",
        },
        {
            "Event": "QueueEntry",
            "Queue": "support",
            "Position": "1",
            "Channel": "PJSIP/trunk-9",
            "Uniqueid": "5.3",
            "CallerIDNum": "5550303",
            "CallerIDName": "x",
            "Wait": "40",
        },
        {"Event": "QueueStatusComplete", "EventList": "Complete", "ListItems": "3"},
        {
            "Event": "CoreShowChannel",
            "Channel": "PJSIP/trunk-9",
            "Uniqueid": "5.3",
            "Linkedid": "5.3",
            "Application": "Queue",
            "ApplicationData": "support",
            "BridgeId": "",
            "Duration": "00:00:40",
        },
        {"Event": "CoreShowChannelsComplete", "EventList": "Complete", "ListItems": "1"},
    )
    records = {r.id: r for r in feed.records()}
    assert records["5.1"].partial and records["5.1"].outcome == "exited"
    assert records["5.2"].partial and records["5.2"].cut_off and "ami_gap" in records["5.2"].cut_off_reasons
    gaps = [e for e in out if isinstance(e, GapRecorded)]
    assert len(gaps) == 1 and gaps[0].reason == "ami_disconnect" and gaps[0].calls_reconciled == 2
    assert gaps[0].ended_at - (gaps[0].started_at or 0) == pytest.approx(120)
    assert any(isinstance(e, ResyncDone) for e in out)
    assert any(isinstance(e, MemberSession) and e.kind == "logout" and e.agent == "PJSIP/1002" for e in out)
    live = feed.core.live(feed.now)
    assert live.queues[0].waiting == 1 and live.queues[0].longest_wait_seconds == pytest.approx(40)


def test_attach_to_a_bridged_call_on_startup() -> None:
    feed = Feed()
    feed.core.begin_resync(feed.now)
    feed(
        {
            **member("QueueMember", "support", "PJSIP/1001", "Alice"),
            "Event": "QueueMember",
            "Name": "Alice",
            "Location": "PJSIP/1001",
        },
        {"Event": "QueueStatusComplete"},
        {
            "Event": "CoreShowChannel",
            "Channel": "PJSIP/trunk-1",
            "Uniqueid": "6.1",
            "Linkedid": "6.1",
            "CallerIDNum": "5550606",
            "Application": "Queue",
            "ApplicationData": "support,t",
            "BridgeId": "b1",
            "Duration": "00:01:30",
        },
        {
            "Event": "CoreShowChannel",
            "Channel": "PJSIP/1001-00000007",
            "Uniqueid": "6.2",
            "Linkedid": "6.1",
            "Application": "AppQueue",
            "ApplicationData": "(Outgoing Line)",
            "BridgeId": "b1",
            "Duration": "00:01:29",
        },
        {"Event": "CoreShowChannelsComplete"},
    )
    assert feed.core.live(feed.now).agents[0].state == "in_call"
    gap = [e for e in feed.effects if isinstance(e, GapRecorded)]
    assert gap and gap[0].reason == "startup" and gap[0].started_at is None
    bare = {
        "Event": "AgentComplete",
        "Queue": "support",
        "Interface": "PJSIP/1001",
        "MemberName": "Alice",
        "HoldTime": "4",
        "TalkTime": "120",
        "Reason": "caller",
    }
    feed(
        {"Event": "HangupRequest", "Uniqueid": "6.1", "Linkedid": "6.1", "Cause": "16"},
        bare,
        {"Event": "Hangup", "Uniqueid": "6.1", "Linkedid": "6.1", "Cause": "16"},
        {"Event": "Hangup", "Uniqueid": "6.2", "Linkedid": "6.1", "Cause": "16"},
        dt=30,
    )
    (r,) = feed.records()
    assert r.partial and r.agent_name == "Alice" and r.talk_seconds == 120 and r.ended_by == "caller"
    assert not r.cut_off


def test_shutdown_closes_live_calls_as_system_cut_offs(feed: Feed) -> None:
    call = Call("7.1")
    connect(feed, call, "PJSIP/1001", "Alice", hold=3)
    waiting = Call("7.2")
    feed(waiting.newchannel(), waiting.join())
    feed({"Event": "Shutdown", "Shutdown": "Cleanly", "Restart": "True"}, dt=10)
    records = {r.id: r for r in feed.records()}
    assert records["7.1"].ended_by == "system" and records["7.1"].cut_off
    assert records["7.2"].outcome == "exited" and records["7.2"].exit_reason == "asterisk_restart"
    assert all(isinstance(e, CallFinished) or not isinstance(e, Anomaly) for e in feed.effects)


def test_memory_is_flat_after_many_calls(feed: Feed) -> None:
    for i in range(2000):
        answered_call(feed, Call(f"8.{i}", number=f"555{i % 300:04d}"), talk=30)
        if i % 3 == 0:
            c = Call(f"9.{i}", number="anonymous")
            feed(c.newchannel(), c.join())
            feed(
                c.signal("HangupRequest", "caller", 16),
                c.abandon(3),
                c.leave(),
                c.signal("Hangup", "caller", 16),
                dt=3,
            )
    core = feed.core
    assert core.registry.entries == {} and core.registry.by_uniqueid == {} and core.registry.watch == {}
    assert core.registry.by_linkedid == {} and core.registry.leaving == {} and core.registry.by_member == {}
    assert len(core.registry.channels) == 0 and len(core.registry.entry_seq) == 0
    assert len(core.timers) < 50


def test_a_call_that_ends_while_the_snapshot_streams_in_is_not_adopted() -> None:
    feed = Feed()
    feed.core.begin_resync(feed.now)
    feed(
        {"Event": "QueueStatusComplete"},
        {
            "Event": "CoreShowChannel",
            "Channel": "PJSIP/trunk-1",
            "Uniqueid": "6.1",
            "Linkedid": "6.1",
            "CallerIDNum": "5550606",
            "Application": "Queue",
            "ApplicationData": "support",
            "BridgeId": "b1",
            "Duration": "00:01:30",
        },
        {"Event": "Hangup", "Uniqueid": "6.1", "Linkedid": "6.1", "Cause": "16"},
        {"Event": "CoreShowChannelsComplete"},
    )
    assert feed.core.registry.entries == {} and feed.records() == []


def test_a_wrap_up_code_from_the_phone_may_leave_an_order_open_or_close_it() -> None:
    """``UserEvent(CallOutcome,...,OrderRef: ...,OrderStatus: open,OrderLeft: ...)`` carries an
    order as the API's outcome does; a status acd does not know, or a reference longer than the
    API allows, is an anomaly and the outcome is kept without the order."""
    from acd.core.effects import Effect, OutcomeReported

    core = Core()

    def wrap_up(**extra: str) -> list[Effect]:
        headers = {"Event": "UserEvent", "Privilege": "user,all", "UserEvent": "CallOutcome"}
        headers |= {"Linkedid": "1.1", "Agent": "PJSIP/1001", "Outcome": "sale", "Points": "40", **extra}
        return core.apply(headers, 100.0)

    opened = wrap_up(OrderRef="ORD-7", OrderStatus="Open", OrderLeft="ID check")
    [o] = [e for e in opened if isinstance(e, OutcomeReported)]
    assert (o.order_ref, o.order_status, o.order_left, o.points) == ("ORD-7", "open", "ID check", 40.0)
    [c] = [e for e in wrap_up(OrderRef="ORD-7", OrderStatus="closed") if isinstance(e, OutcomeReported)]
    assert (c.order_ref, c.order_status, c.order_left) == ("ORD-7", "closed", None)
    for bad in (
        {"OrderRef": "ORD-8", "OrderStatus": "maybe"},
        {"OrderRef": "x" * 129, "OrderStatus": "open"},
    ):
        effects = wrap_up(**bad)
        [kept] = [e for e in effects if isinstance(e, OutcomeReported)]
        assert kept.order_ref is None and kept.disposition == "sale"
        assert [a.kind for a in effects if isinstance(a, Anomaly)] == ["bad_value"]
    [plain] = [e for e in wrap_up() if isinstance(e, OutcomeReported)]
    assert plain.order_ref is None and plain.order_status is None
