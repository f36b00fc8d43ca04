"""One preferred attempt per call: later effects give the final reason; membership mirroring."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from acd.core.affinity import (
    AffinityDecision,
    AffinityTracker,
    MemberFacts,
    mirror_actions,
)
from acd.core.effects import AgentOffer, CallFinished, CallRecord, CallStarted, MemberStateChanged

AGENT = "PJSIP/1001"
PERSONAL = "acd-agent-1001"
UID = "1795882275.28"
CHAN = "PJSIP/trunk-00000001"

OFFER = AffinityDecision(
    "offer_now",
    "original_agent",
    False,
    "support",
    "tel:5551100",
    agent=AGENT,
    agent_name="Alice",
    personal_queue=PERSONAL,
    callback_of="1.1",
    cutoff_at=100.0,
    wait_seconds=15.0,
    detail="agent_free",
)
WAIT = replace(OFFER, action="wait_for_agent", wait_seconds=20.0, detail="in_call")
UNAVAILABLE = replace(OFFER, action="queue", reason="fallback_unavailable", detail="paused:lunch")


def started(queue: str, entry: int = 1) -> CallStarted:
    cid = UID if entry == 1 else f"{UID}#{entry}"
    return CallStarted(cid, UID, UID, queue, "tel:5551100", 1000.0, None, None)


def finished(queue: str, **kw: Any) -> CallFinished:
    base: dict[str, Any] = dict(
        id=UID,
        uniqueid=UID,
        entry=1,
        linkedid=UID,
        queue=queue,
        caller_num="5551100",
        caller_name=None,
        caller_key="tel:5551100",
        joined_at=1000.0,
        ended_at=1010.0,
        outcome="exited",
        exit_reason="timeout",
        agent=None,
        agent_name=None,
        answered_at=None,
        wait_seconds=10.0,
        talk_seconds=0.0,
        ended_by=None,
        cause=None,
        caller_cause=None,
        agent_cause=None,
        cut_off=False,
        cut_off_reasons=(),
        agent_released_short=False,
        transfer_target=None,
        callback_of="1.1",
        repeat_of=None,
        partial=False,
        position=1,
    )
    base.update(kw)
    return CallFinished(CallRecord(**base))


def run(decision: AffinityDecision, *effects: Any, ring_unanswered: bool = False) -> list[Any]:
    tracker = AffinityTracker()
    tracker.decided(UID, CHAN, decision, 999.0)
    out: list[Any] = []
    for i, effect in enumerate(effects):
        if ring_unanswered and i == 1:
            assert tracker.ring_unanswered(UID)
            assert not tracker.ring_unanswered(UID)  # one preferred attempt: one withdrawal
        out += tracker.on_effect(effect, 1000.0 + i)
    assert not tracker.open  # every attempt ends in exactly one record
    return out


ANSWERED = finished(
    PERSONAL, outcome="answered", exit_reason=None, agent=AGENT, agent_name="Alice", answered_at=1002.0
)
NO_ANSWER = AgentOffer(AGENT, "Alice", 1000.0, "no_answer", 15.0)


@pytest.mark.parametrize(
    ("decision", "effects", "reason"),
    [
        ("offer", [started(PERSONAL), ANSWERED], "original_agent"),
        ("wait", [started(PERSONAL), ANSWERED], "original_agent"),
        (
            "wait",
            [started(PERSONAL), finished(PERSONAL, wait_seconds=20.0), started("support", 2)],
            "fallback_busy_timeout",
        ),
        ("wait", [started(PERSONAL), finished(PERSONAL, exit_reason="empty")], "fallback_unavailable"),
        ("wait", [started(PERSONAL), finished(PERSONAL, wait_seconds=20.0)], "fallback_busy_timeout"),
        (
            "wait",
            [started(PERSONAL), finished(PERSONAL, wait_seconds=4.0)],
            "fallback_unavailable",
        ),  # left early
        ("offer", [started(PERSONAL), finished(PERSONAL, offers=(NO_ANSWER,))], "fallback_no_answer"),
        (
            "wait",
            [started(PERSONAL), finished(PERSONAL, outcome="abandoned", exit_reason="short")],
            "abandoned",
        ),
        ("offer", [started("support")], "fallback_unavailable"),  # JOINEMPTY: no personal entry
        ("unavailable", [started("support")], "fallback_unavailable"),
    ],
)
def test_final_reason(decision: str, effects: list[Any], reason: str) -> None:
    d = {"offer": OFFER, "wait": WAIT, "unavailable": UNAVAILABLE}[decision]
    out = run(d, *effects)
    assert len(out) == 1
    rec = out[0]
    assert rec.reason == reason
    assert rec.uniqueid == UID and rec.linkedid == UID and rec.call_ids[0] == UID
    assert (rec.agent, rec.callback_of, rec.queue, rec.action) == (AGENT, "1.1", "support", d.action)


def test_ring_without_answer_reported_live_settles_as_no_answer_after_withdrawal() -> None:
    out = run(WAIT, started(PERSONAL), finished(PERSONAL, exit_reason="withdraw"), ring_unanswered=True)
    assert [r.reason for r in out] == ["fallback_no_answer"]


def test_shadow_offer_is_recorded_as_decided_when_the_caller_joins_the_queue() -> None:
    out = run(replace(OFFER, shadow=True), started("support"))
    assert [(r.reason, r.shadow, r.action) for r in out] == [("original_agent", True, "offer_now")]


def freed(agent: str = AGENT, state: str = "available") -> MemberStateChanged:
    return MemberStateChanged("support", agent, "Alice", state, "in_call", None, 0.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("events", "reason"),
    [
        ([(5.0, freed())], "original_agent"),  # she frees up 5 s into the 20 s wait
        ([(5.0, freed(state="ringing"))], "original_agent"),  # rung for someone else: free
        ([(5.0, freed(agent="PJSIP/2002"))], "fallback_busy_timeout"),  # someone else frees up
        ([(25.0, freed())], "fallback_busy_timeout"),  # too late
        ([], "fallback_busy_timeout"),
    ],
)
def test_shadow_wait_records_what_would_have_happened(events: list[tuple[float, Any]], reason: str) -> None:
    tracker = AffinityTracker()
    tracker.decided(UID, CHAN, replace(WAIT, shadow=True), 1000.0)
    assert tracker.on_effect(started("support"), 1000.5) == []  # the caller is in the queue, as without acd
    out = []
    for at, effect in events:
        out += tracker.tick(at + 1000.0)
        out += tracker.on_effect(effect, at + 1000.0)
    out += tracker.tick(1021.0)
    assert [(r.reason, r.shadow, r.detail, r.call_ids) for r in out] == [
        (reason, True, "in_call;would_have", (UID,))
    ]
    assert not tracker.open


def test_shadow_attempt_never_asks_for_a_withdrawal() -> None:
    tracker = AffinityTracker()
    tracker.decided(UID, CHAN, replace(OFFER, shadow=True), 0.0)
    assert not tracker.ring_unanswered(UID)


def test_other_callers_effects_are_ignored_and_stale_attempts_close() -> None:
    tracker = AffinityTracker(stale_seconds=60)
    tracker.decided(UID, CHAN, WAIT, 0.0)
    other = replace(started("support"), uniqueid="9.9", id="9.9")
    assert tracker.on_effect(other, 1.0) == []
    assert tracker.tick(30.0) == []
    out = tracker.tick(61.0)
    assert [(r.reason, r.call_ids, r.detail) for r in out] == [("original_agent", (), "in_call;unresolved")]


def test_waiting_attempts_by_agent() -> None:
    tracker = AffinityTracker()
    tracker.decided(UID, CHAN, WAIT, 0.0)
    assert tracker.attempt_for_agent(AGENT) == []  # not in the personal queue yet
    tracker.on_effect(started(PERSONAL), 1.0)
    assert tracker.attempt_for_agent(AGENT) == [(UID, CHAN, PERSONAL)]
    assert tracker.attempt_for_agent("PJSIP/2002") == []


# ---- mirroring personal-queue membership -----------------------------------------------------------

IFACE = "Local/1001@agents-desk"


def member(queue: str, paused: bool = False, reason: str = "", agent: str = IFACE) -> MemberFacts:
    return MemberFacts(queue, IFACE, agent, "Alice", paused, reason)


NONE: frozenset[str] = frozenset()


def test_login_in_a_shared_queue_adds_the_personal_member() -> None:
    assert mirror_actions(IFACE, [member("support")], NONE) == [
        {
            "Action": "QueueAdd",
            "Queue": PERSONAL,
            "Interface": IFACE,
            "MemberName": "Alice",
            "Penalty": "0",
            "Paused": "false",
        }
    ]


def test_state_interface_is_carried_when_it_differs() -> None:
    (action,) = mirror_actions("Custom:a1001", [member("support", agent="Custom:a1001")], NONE)
    assert action["StateInterface"] == "Custom:a1001" and action["Queue"] == "acd-agent-a1001"


def test_last_shared_logout_removes_the_personal_member() -> None:
    assert mirror_actions(IFACE, [member(PERSONAL)], NONE) == [
        {"Action": "QueueRemove", "Queue": PERSONAL, "Interface": IFACE}
    ]
    assert mirror_actions(IFACE, [], NONE) == []


def test_paused_everywhere_pauses_the_personal_member_with_the_reason() -> None:
    got = mirror_actions(
        IFACE, [member("support", True, "lunch"), member("sales", True, "lunch"), member(PERSONAL)], NONE
    )
    assert got == [
        {"Action": "QueuePause", "Queue": PERSONAL, "Interface": IFACE, "Paused": "true", "Reason": "lunch"}
    ]


def test_paused_in_one_queue_only_keeps_callbacks_flowing() -> None:
    assert (
        mirror_actions(IFACE, [member("support", True, "lunch"), member("sales"), member(PERSONAL)], NONE)
        == []
    )


def test_allow_listed_pause_unpauses_the_personal_member() -> None:
    got = mirror_actions(
        IFACE, [member("support", True, "acw"), member(PERSONAL, True, "acw")], frozenset({"acw"})
    )
    assert got == [{"Action": "QueuePause", "Queue": PERSONAL, "Interface": IFACE, "Paused": "false"}]


def test_in_step_needs_nothing() -> None:
    assert (
        mirror_actions(IFACE, [member("support", True, "lunch"), member(PERSONAL, True, "lunch")], NONE) == []
    )
    assert mirror_actions(IFACE, [member("support"), member(PERSONAL)], NONE) == []
