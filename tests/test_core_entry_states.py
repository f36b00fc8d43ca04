"""Queue entry states: the moves are a table, and an event that asks for a move the table does not
hold is reported as an anomaly, not applied."""

from __future__ import annotations

from typing import get_args

from acd.core.effects import Anomaly
from acd.core.entry_states import TRANSITIONS, EntryState, allowed
from tests.core_events import Call, Feed, connect, member


def _feed() -> Feed:
    f = Feed()
    f(member("QueueMemberAdded", "support", "PJSIP/1001", "Alice"))
    return f


def test_the_table_has_a_row_per_state_and_final_states_go_nowhere() -> None:
    assert set(TRANSITIONS) == set(get_args(EntryState))
    for final in ("completed", "abandoned", "exited"):
        assert not any(allowed(final, to) for to in get_args(EntryState))
    assert allowed("waiting", "connected") and allowed("leaving", "connected")
    assert not allowed("waiting", "completed"), "a call is answered before it completes"
    assert not allowed("connected", "abandoned"), "an answered caller cannot abandon"


def test_a_second_agent_complete_is_an_anomaly_and_changes_nothing() -> None:
    feed = _feed()
    call = Call("1700000000.1")
    connect(feed, call, hold=2)
    complete = call.agent("AgentComplete", "PJSIP/1001", "Alice", HoldTime="2", TalkTime="30", Reason="agent")
    feed(call.signal("HangupRequest", "agent", 16), complete, dt=30)
    entry = feed.core.registry.entries["1700000000.1"]
    assert entry.state == "completed" and entry.talk_time == 30.0
    out = feed(call.agent("AgentComplete", "PJSIP/1001", "Alice", TalkTime="99", Reason="caller"), dt=5)
    assert [(a.kind, a.event) for a in out if isinstance(a, Anomaly)] == [
        ("illegal_transition", "AgentComplete")
    ]
    assert entry.state == "completed" and entry.talk_time == 30.0 and entry.completed_by == "agent"
    feed(call.signal("Hangup", "agent", 16), call.signal("Hangup", "caller", 16))
    (r,) = feed.records()
    assert (r.outcome, r.ended_by, r.talk_seconds) == ("answered", "agent", 30.0)


def test_an_agent_connect_after_the_complete_is_an_anomaly() -> None:
    feed = _feed()
    call = Call("1700000000.2")
    connect(feed, call)
    feed(
        call.agent("AgentComplete", "PJSIP/1001", "Alice", HoldTime="1", TalkTime="5", Reason="caller"), dt=5
    )
    out = feed(call.agent("AgentConnect", "PJSIP/1001", "Alice", HoldTime="1", RingTime="1"))
    (anomaly,) = [a for a in out if isinstance(a, Anomaly)]
    assert anomaly.kind == "illegal_transition" and "completed -> connected" in anomaly.detail
    assert feed.core.registry.agents["PJSIP/1001"].calls == set(), "Alice is not in a call again"


def test_a_caller_who_hung_up_while_waiting_ends_abandoned() -> None:
    feed = _feed()
    call = Call("1700000000.3")
    feed(call.newchannel(), call.join())
    feed(call.abandon(12), call.signal("Hangup", "caller", 16), call.leave(), dt=12)
    (r,) = feed.records()
    assert (r.outcome, r.exit_reason, r.ended_by) == ("abandoned", "long", "caller")
