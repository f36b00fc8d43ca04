"""The affinity decision as a table: agent state x history x configuration -> action and reason."""

from __future__ import annotations

from dataclasses import replace

import pytest

from acd.core.affinity import (
    AffinityPolicy,
    AgentView,
    CallbackRequest,
    decide,
    personal_queue_name,
)
from acd.core.caller_history import PastCall
from acd.core.effects import MemberState

NOW = 10_000.0
AGENT = "PJSIP/1001"
PERSONAL = "acd-agent-1001"
REQ = CallbackRequest("support", "tel:5551100")
CUT = PastCall(
    "1.1", "1.1", "tel:5551100", "support", AGENT, "Alice", True, True, NOW - 300
)  # cut off 5 min ago
OLD_CUT = replace(CUT, ended_at=NOW - 7200)  # beyond the 60 min window
ANSWERED = replace(CUT, cut_off=False)  # ended normally
POLICY = AffinityPolicy()


def view(
    shared: MemberState | None,
    personal: MemberState | None = "available",
    reason: str = "",
    overall: MemberState | None = None,
) -> AgentView:
    queues: dict[str, MemberState] = {}
    if shared is not None:
        queues["support"] = shared
    if personal is not None:
        queues[PERSONAL] = personal
    paused = {"support": reason} if shared == "paused" else {}
    if personal == "paused":
        paused[PERSONAL] = reason
    best = overall or (shared or personal or "logged_out")
    return AgentView(AGENT, "Alice", best, queues, paused)


ACW_OK = replace(POLICY, allowed_pause_reasons=frozenset({"acw"}))

# (id, request, past call, agent view, policy, action, reason, wait, detail)
TABLE = [
    ("free", REQ, CUT, view("available"), POLICY, "offer_now", "original_agent", 17.0, "agent_free"),
    (
        "in_call",
        REQ,
        CUT,
        view("in_call", "in_call"),
        POLICY,
        "wait_for_agent",
        "original_agent",
        20.0,
        "in_call",
    ),
    (
        "ringing",
        REQ,
        CUT,
        view("ringing", "ringing"),
        POLICY,
        "wait_for_agent",
        "original_agent",
        20.0,
        "ringing",
    ),
    (
        "wrapup",
        REQ,
        CUT,
        view("wrapup", "wrapup"),
        POLICY,
        "wait_for_agent",
        "original_agent",
        20.0,
        "wrapup",
    ),
    (
        "wait_bound_below_sl",
        REQ,
        CUT,
        view("in_call", "in_call"),
        replace(POLICY, wait_seconds=8.0),
        "wait_for_agent",
        "original_agent",
        8.0,
        "in_call",
    ),
    (
        "no_wait_allowed",
        REQ,
        CUT,
        view("in_call", "in_call"),
        replace(POLICY, wait_seconds=0.0),
        "queue",
        "fallback_busy_timeout",
        0.0,
        "in_call:no_wait",
    ),
    (
        "paused",
        REQ,
        CUT,
        view("paused", reason="lunch"),
        POLICY,
        "queue",
        "fallback_unavailable",
        0.0,
        "paused:lunch",
    ),
    (
        "paused_allowed",
        REQ,
        CUT,
        view("paused", reason="acw"),
        ACW_OK,
        "offer_now",
        "original_agent",
        17.0,
        "agent_free",
    ),
    (
        "paused_other_reason",
        REQ,
        CUT,
        view("paused", reason="lunch"),
        ACW_OK,
        "queue",
        "fallback_unavailable",
        0.0,
        "paused:lunch",
    ),
    (
        "personal_paused",
        REQ,
        CUT,
        view("available", "paused", reason="no-callbacks"),
        POLICY,
        "queue",
        "fallback_unavailable",
        0.0,
        "paused_for_callbacks",
    ),
    (
        "device_unavailable",
        REQ,
        CUT,
        view("unavailable", "unavailable"),
        POLICY,
        "queue",
        "fallback_unavailable",
        0.0,
        "device_unavailable",
    ),
    ("logged_out", REQ, CUT, None, POLICY, "queue", "fallback_unavailable", 0.0, "logged_out"),
    (
        "not_a_member",
        REQ,
        CUT,
        view(None, "available"),
        POLICY,
        "queue",
        "fallback_unavailable",
        0.0,
        "not_a_member",
    ),
    (
        "no_personal_membership",
        REQ,
        CUT,
        view("available", None),
        POLICY,
        "queue",
        "fallback_unavailable",
        0.0,
        "not_in_personal_queue",
    ),
    ("no_history", REQ, None, view("available"), POLICY, "queue", "no_history", 0.0, "no_answered_call"),
    ("after_window", REQ, OLD_CUT, view("available"), POLICY, "queue", "no_history", 0.0, "window_expired"),
    ("not_cut_off", REQ, ANSWERED, view("available"), POLICY, "queue", "no_history", 0.0, "not_cut_off"),
    (
        "sticky_repeat",
        REQ,
        ANSWERED,
        view("available"),
        replace(POLICY, sticky=True),
        "offer_now",
        "original_agent",
        17.0,
        "agent_free",
    ),
    (
        "sticky_too_old",
        REQ,
        replace(ANSWERED, ended_at=NOW - 90_000),
        view("available"),
        replace(POLICY, sticky=True),
        "queue",
        "no_history",
        0.0,
        "not_cut_off",
    ),
    (
        "anonymous",
        replace(REQ, caller_key=None),
        CUT,
        view("available"),
        POLICY,
        "queue",
        "ineligible",
        0.0,
        "anonymous",
    ),
    (
        "no_queue",
        replace(REQ, queue=""),
        CUT,
        view("available"),
        POLICY,
        "queue",
        "ineligible",
        0.0,
        "no_queue",
    ),
    (
        "global_off",
        REQ,
        CUT,
        view("available"),
        replace(POLICY, enabled=False),
        "queue",
        "ineligible",
        0.0,
        "affinity_off",
    ),
    (
        "queue_off",
        REQ,
        CUT,
        view("available"),
        replace(POLICY, queue_enabled=False),
        "queue",
        "ineligible",
        0.0,
        "queue_disabled",
    ),
]


@pytest.mark.parametrize(
    ("request_", "past", "agent", "policy", "action", "reason", "wait", "detail"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_decision_table(
    request_: CallbackRequest,
    past: PastCall | None,
    agent: AgentView | None,
    policy: AffinityPolicy,
    action: str,
    reason: str,
    wait: float,
    detail: str,
) -> None:
    d = decide(request_, past, agent, policy, NOW)
    assert (d.action, d.reason, d.wait_seconds, d.detail) == (action, reason, wait, detail)
    assert d.route == action  # not shadow: the caller is told what was decided
    if action != "queue":
        assert d.agent == AGENT and d.personal_queue == PERSONAL and d.callback_of == past.id  # type: ignore[union-attr]


def test_callback_names_the_previous_agent_and_the_cut_off_time_even_when_falling_back() -> None:
    d = decide(REQ, CUT, view("paused", reason="lunch"), POLICY, NOW)
    assert d.route == "queue" and d.is_callback
    assert (d.agent, d.agent_name, d.cutoff_at, d.callback_of) == (AGENT, "Alice", CUT.ended_at, "1.1")


def test_sticky_decision_is_marked_and_has_no_cut_off_time() -> None:
    d = decide(REQ, ANSWERED, view("in_call", "in_call"), replace(POLICY, sticky=True), NOW)
    assert d.sticky and d.cutoff_at is None and d.action == "wait_for_agent"


def test_a_cut_off_wins_over_sticky_mode() -> None:
    d = decide(REQ, CUT, view("available"), replace(POLICY, sticky=True), NOW)
    assert not d.sticky and d.cutoff_at == CUT.ended_at


@pytest.mark.parametrize("state", ["available", "in_call", "paused"])
def test_shadow_mode_decides_the_same_but_routes_to_the_queue(state: MemberState) -> None:
    live = decide(REQ, CUT, view(state, reason="lunch"), POLICY, NOW)
    shadow = decide(REQ, CUT, view(state, reason="lunch"), replace(POLICY, shadow=True), NOW)
    assert (shadow.action, shadow.reason, shadow.detail) == (live.action, live.reason, live.detail)
    assert shadow.shadow and shadow.route == "queue"


def test_wait_bound_is_the_smaller_of_wait_and_service_level() -> None:
    assert AffinityPolicy(wait_seconds=30, service_level_seconds=20).wait_bound == 20
    assert AffinityPolicy(wait_seconds=10, service_level_seconds=20).wait_bound == 10


def test_window_edge_is_inclusive() -> None:
    edge = replace(CUT, ended_at=NOW - 3600)
    assert decide(REQ, edge, view("available"), POLICY, NOW).reason == "original_agent"
    assert (
        decide(REQ, replace(edge, ended_at=NOW - 3600.5), view("available"), POLICY, NOW).reason
        == "no_history"
    )


@pytest.mark.parametrize(
    ("agent", "queue"),
    [
        ("PJSIP/1001", "acd-agent-1001"),
        ("Local/1001@agents", "acd-agent-1001"),
        ("Local/1001@agents-desk", "acd-agent-1001"),
        ("SIP/alice", "acd-agent-alice"),
        ("Custom:agent1003", "acd-agent-agent1003"),
        ("PJSIP/a b;c", "acd-agent-abc"),
        ("PJSIP/", None),
    ],
)
def test_personal_queue_name(agent: str, queue: str | None) -> None:
    assert personal_queue_name(agent) == queue
