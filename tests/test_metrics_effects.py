"""Each metric family counted from effects, checked on a fresh Metrics with get_sample_value.

Effects are fed as the daemon feeds them: the entry records, then what the core's customer-call
stage makes of them (``feed``); metrics count the settled legs, once each."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from acd.core.customer import customer_calls_of
from acd.core.effects import (
    AffinityDecided,
    Anomaly,
    CallFinished,
    CallStarted,
    GapRecorded,
    MemberSession,
    MemberStateChanged,
    OutcomeReported,
    ResyncDone,
)
from acd.metrics import Metrics
from acd.settings import Settings
from tests.support.synthetic import record


def decided(queue: str, reason: str, shadow: bool = False, uid: str = "9.1") -> AffinityDecided:
    """A routing decision as the core emits it once settled."""
    return AffinityDecided(uid, uid, (uid,), queue, "queue", reason, shadow, None, None, None, "", 0.0, 0.0)


def make(**settings: Any) -> Metrics:
    return Metrics(Settings(**settings))


def val(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def feed(m: Metrics, *effects: Any) -> None:
    """The effects, then the customer-call stage's (each call final at the end), all observed."""
    for effect in [*effects, *customer_calls_of(list(effects))]:
        m.observe(effect)


def test_own_registry_not_global() -> None:
    m = make()
    feed(m, CallFinished(record("1", "sales")))
    assert val(m, "acd_calls_offered_total", queue="sales") == 1
    assert REGISTRY.get_sample_value("acd_calls_offered_total", {"queue": "sales"}) is None
    # Two instances do not collide (a process-global registry would raise on the second).
    assert val(make(), "acd_calls_offered_total", queue="sales") is None


def test_volume_offered_is_answered_plus_abandoned_plus_exited() -> None:
    m = make()
    feed(
        m,
        CallFinished(record("1", "sales", wait=4)),
        CallFinished(record("2", "sales", wait=30)),
        CallFinished(record("3", "sales", outcome="abandoned", wait=3, exit_reason="short")),
        CallFinished(record("4", "sales", outcome="abandoned", wait=40, exit_reason="long")),
        CallFinished(record("5", "sales", outcome="abandoned", wait=12)),  # no reason: by threshold
        CallFinished(record("6", "sales", outcome="exited", wait=60, exit_reason="timeout")),
        CallFinished(record("7", "sales", outcome="exited", wait=60, exit_reason="weird")),
        CallFinished(record("8", "sales", wait=None, partial=True)),  # adopted, wait never told
    )
    assert val(m, "acd_calls_offered_total", queue="sales") == 8
    assert val(m, "acd_calls_answered_total", queue="sales") == 3
    assert val(m, "acd_calls_answered_in_sl_total", queue="sales") == 1  # 4 s <= 20 s, 30 s is not
    assert val(m, "acd_calls_abandoned_total", queue="sales", kind="short") == 1
    assert val(m, "acd_calls_abandoned_total", queue="sales", kind="long") == 2
    assert val(m, "acd_calls_exited_total", queue="sales", reason="timeout") == 1
    assert val(m, "acd_calls_exited_total", queue="sales", reason="other") == 1
    assert val(m, "acd_call_wait_seconds_count", queue="sales", outcome="answered") == 2  # not the unknown
    assert val(m, "acd_call_wait_seconds_sum", queue="sales", outcome="abandoned") == 55
    assert val(m, "acd_call_talk_seconds_sum", queue="sales") == 180
    assert val(m, "acd_calls_ended_total", queue="sales", ended_by="caller") == 3


def test_wait_buckets_include_each_queue_service_level_threshold() -> None:
    m = make(queues={"vip": {"service_level_seconds": 7, "short_abandon_seconds": 4}})
    feed(m, CallFinished(record("1", "vip", wait=6.5)), CallFinished(record("2", "vip", wait=7.5)))
    assert val(m, "acd_call_wait_seconds_bucket", queue="vip", outcome="answered", le="7.0") == 1
    assert val(m, "acd_call_wait_seconds_bucket", queue="vip", outcome="answered", le="20.0") == 2
    assert val(m, "acd_calls_answered_in_sl_total", queue="vip") == 1
    assert val(m, "acd_queue_service_level_threshold_seconds", queue="vip") == 7
    assert val(m, "acd_queue_service_level_target_ratio", queue="vip") == 0.8


def test_cutoffs_by_side_and_cause_class() -> None:
    m = make()
    feed(
        m,
        CallFinished(record("1", "sales", cut_off=True, cause=38, ended_by="caller")),
        CallFinished(record("2", "sales", cut_off=True, cause=None, partial=True, ended_by="system")),
        CallFinished(record("3", "sales", cut_off=True, cause=27, ended_by="agent")),
        CallFinished(record("4", "sales", agent_released_short=True, ended_by="agent")),
    )
    assert val(m, "acd_cutoffs_total", queue="sales", side="caller", cause_class="resource_unavailable") == 1
    assert val(m, "acd_cutoffs_total", queue="sales", side="system", cause_class="lost") == 1
    assert val(m, "acd_cutoffs_total", queue="sales", side="agent", cause_class="normal_event") == 1
    assert val(m, "acd_calls_agent_released_short_total", queue="sales") == 1
    assert val(m, "acd_calls_partial_total", queue="sales") == 1


def test_repeats_and_callbacks_and_callback_results() -> None:
    m = make()
    feed(
        m,
        CallFinished(record("1", "sales", agent=1, cut_off=True, cause=34)),
        CallFinished(record("2", "sales", agent=1, callback_of="1", repeat_of="1")),  # original
        CallFinished(record("3", "sales", agent=2, cut_off=True, cause=34)),
        CallFinished(record("4", "sales", agent=5, callback_of="3")),  # someone else
        CallFinished(record("5", "sales", outcome="abandoned", wait=30, callback_of="3")),
        CallFinished(record("6", "sales", agent=5, callback_of="forgotten")),
    )
    assert val(m, "acd_calls_repeat_total", queue="sales") == 1
    assert val(m, "acd_calls_callback_total", queue="sales") == 4
    assert val(m, "acd_callback_results_total", queue="sales", result="original_agent") == 1
    assert val(m, "acd_callback_results_total", queue="sales", result="other_agent") == 1
    assert val(m, "acd_callback_results_total", queue="sales", result="abandoned") == 1
    assert val(m, "acd_callback_results_total", queue="sales", result="original_unknown") == 1


def test_affinity_decisions_bounded_to_known_reasons() -> None:
    m = make()
    m.observe(decided("sales", "original_agent"))
    m.observe(decided("sales", "fallback_busy_timeout"))
    m.observe(decided("sales", "made-up"))
    m.observe(decided("sales", "original_agent", shadow=True))
    m.observe(decided("acd-agent-7", "original_agent"))  # no shared queue known: dropped
    live = {"mode": "live"}
    assert val(m, "acd_affinity_decisions_total", queue="sales", reason="original_agent", **live) == 1
    assert val(m, "acd_affinity_decisions_total", queue="sales", reason="fallback_busy_timeout", **live) == 1
    assert val(m, "acd_affinity_decisions_total", queue="sales", reason="other", **live) == 1
    assert val(m, "acd_affinity_decisions_total", queue="sales", reason="original_agent", mode="shadow") == 1
    assert (
        val(m, "acd_affinity_decisions_total", queue="acd-agent-7", reason="original_agent", **live) is None
    )


def test_personal_queue_folded_into_shared_queue() -> None:
    m = make()
    personal = {"outcome": "exited", "exit_reason": "timeout", "callback_of": "1", "at": 0.0}
    shared = {"agent": 4, "wait": 14, "callback_of": "1", "linkedid": "2", "uniqueid": "2", "entry": 2}
    feed(
        m,
        CallFinished(record("1", "sales", agent=3, cut_off=True, cause=41, at=-600.0)),
        # A callback waits in the personal queue, times out, then is answered in the shared queue.
        CallStarted("2", "2", "2", "acd-agent-3", "k", 0.0, "1", None),
        CallFinished(record("2", "acd-agent-3", wait=12, **personal)),
        CallFinished(record("2#2", "sales", at=12.0, **shared)),
        # Another callback answered in the personal queue (no shared entry follows).
        CallFinished(record("3", "acd-agent-3", agent=3, wait=2, callback_of="1")),
        # A personal-queue call with no known shared queue is not exported under any queue label.
        CallFinished(record("9", "acd-agent-8", agent=8)),
    )
    out = m.registry.collect()
    queues = {s.labels.get("queue") for fam in out for s in fam.samples if "queue" in s.labels}
    assert not any(q.startswith("acd-agent-") for q in queues if q)
    assert val(m, "acd_calls_offered_total", queue="sales") == 3  # 1, 2#2 and the personal answer 3
    assert val(m, "acd_calls_answered_total", queue="sales") == 3
    # The shared leg's wait runs from the first arrival (personal queue): 12 s + 14 s > 20 s.
    assert val(m, "acd_call_wait_seconds_sum", queue="sales", outcome="answered") == 5 + 26 + 2
    assert val(m, "acd_calls_answered_in_sl_total", queue="sales") == 2  # 1 (5 s) and 3 (2 s)
    assert val(m, "acd_affinity_wait_seconds_count", queue="sales", result="fallback") == 1
    assert val(m, "acd_affinity_wait_seconds_sum", queue="sales", result="fallback") == 12
    assert val(m, "acd_affinity_wait_seconds_count", queue="sales", result="answered") == 1
    assert val(m, "acd_callback_results_total", queue="sales", result="original_agent") == 1
    assert val(m, "acd_callback_results_total", queue="sales", result="other_agent") == 1


def test_wrapup_histogram_from_member_states() -> None:
    m = make()
    m.observe(MemberStateChanged("sales", "PJSIP/1", "Ann", "wrapup", "in_call", None, 100.0))
    m.observe(MemberStateChanged("sales", "PJSIP/1", "Ann", "available", "wrapup", None, 115.0))
    m.observe(MemberStateChanged("acd-agent-1", "PJSIP/1", "Ann", "wrapup", "in_call", None, 100.0))
    m.observe(MemberStateChanged("acd-agent-1", "PJSIP/1", "Ann", "available", "wrapup", None, 200.0))
    assert val(m, "acd_agent_wrapup_seconds_count", queue="sales") == 1
    assert val(m, "acd_agent_wrapup_seconds_sum", queue="sales") == 15
    assert val(m, "acd_agent_wrapup_seconds_count", queue="acd-agent-1") is None


def test_outcome_writes_are_counted_and_what_they_decide_is_not() -> None:
    """Dispositions, notes, resolved and credit change after the fact (a re-post, an adjustment):
    they are window KPIs from the database, never counters; a write is counted once."""
    m = make(credit_policy="split", metrics_per_agent=True)
    feed(
        m,
        CallFinished(record("1", "sales", agent=1, cut_off=True, cause=38)),
        CallFinished(record("2", "sales", agent=2, callback_of="1")),
    )
    m.observe(OutcomeReported("2", "2", "PJSIP/1002", "sale", True, "closed it", 10.0, 1.0))
    m.observe(OutcomeReported("2", "2", "PJSIP/1002", "sale", True, "closed it", 10.0, 2.0))
    m.observe(OutcomeReported(None, None, None, None, False, None, 4.0, 1.0))
    assert val(m, "acd_outcome_writes_total") == 3
    names = {fam.name for fam in m.registry.collect()}
    gone = {"acd_dispositions", "acd_outcomes_notes_empty", "acd_credit_points", "acd_agent_credit_points"}
    assert not gone & names


def test_per_agent_series_only_when_enabled() -> None:
    off = make()
    feed(off, CallFinished(record("1", "sales", agent=1, talk=30)))
    names = {fam.name for fam in off.registry.collect()}
    assert not any(n.startswith("acd_agent_") and n != "acd_agent_wrapup_seconds" for n in names)
    on = make(metrics_per_agent=True)
    feed(
        on,
        CallFinished(record("1", "sales", agent=1, talk=30, cut_off=True, cause=41, ended_by="agent")),
        CallFinished(record("2", "sales", agent=1, agent_released_short=True)),
    )
    assert val(on, "acd_agent_calls_answered_total", agent="Agent 1") == 2
    assert val(on, "acd_agent_talk_seconds_total", agent="Agent 1") == 90
    assert val(on, "acd_agent_cutoffs_total", agent="Agent 1", side="agent") == 1
    assert val(on, "acd_agent_released_short_calls_total", agent="Agent 1") == 1


def test_health_counters() -> None:
    backlog = [7]
    m = Metrics(Settings(), db_backlog=lambda: backlog[0], version="9.9")
    m.set_ami_connected(True)
    m.ami_reconnected()
    for name in ("Hangup", "Hangup", "QueueCallerJoin", "SomethingNew", "AnotherNew"):
        m.count_event(name)
    m.count_event("VarSet", 40)  # events framed but not parsed are counted in bulk
    m.handler_error("writer")
    m.observe_db_write(0.02, 50)
    m.observe(ResyncDone(1.0, 2, 3, 4, 5))
    m.observe(GapRecorded(10.0, 40.0, "disconnect", 2))
    assert val(m, "acd_gap_queue_log_reads_total", result="unreadable") == 0  # there from the start
    m.observe(GapRecorded(50.0, 60.0, "ami_disconnect", 0, 3, 4, "read"))
    m.observe(GapRecorded(70.0, 80.0, "ami_disconnect", 1, queue_log="unreadable"))
    assert val(m, "acd_gap_queue_log_reads_total", result="read") == 1
    assert val(m, "acd_gap_queue_log_reads_total", result="unreadable") == 1
    assert val(m, "acd_gap_calls_from_queue_log_total", how="recovered") == 3
    assert val(m, "acd_gap_calls_from_queue_log_total", how="merged") == 4
    m.observe(Anomaly("unknown_channel", "Hangup", "x", 1.0))
    m.observe(MemberSession("pause", "sales", "PJSIP/1", "Ann", "lunch", 1.0))
    m.observe(MemberSession("login", "acd-agent-1", "PJSIP/1", "Ann", None, 1.0))
    assert val(m, "acd_ami_up") == 1
    assert val(m, "acd_ami_reconnects_total") == 1
    assert val(m, "acd_ami_events_total", event="Hangup") == 2
    assert val(m, "acd_ami_events_total", event="other") == 2
    assert val(m, "acd_ami_events_total", event="VarSet") == 40
    assert val(m, "acd_handler_errors_total", handler="writer") == 1
    assert val(m, "acd_db_write_seconds_count") == 1
    assert val(m, "acd_db_rows_written_total") == 50
    assert val(m, "acd_db_backlog_records") == 7
    backlog[0] = 9
    assert val(m, "acd_db_backlog_records") == 9
    assert val(m, "acd_resyncs_total") == 1
    assert val(m, "acd_gaps_total", reason="disconnect") == 1
    assert val(m, "acd_gap_seconds_total") == 50
    assert val(m, "acd_gap_calls_reconciled_total") == 3
    assert val(m, "acd_anomalies_total", kind="unknown_channel") == 1
    assert val(m, "acd_pauses_total", reason="lunch") == 1
    assert val(m, "acd_member_sessions_total", kind="pause") == 1
    assert val(m, "acd_member_sessions_total", kind="login") is None  # personal queue: plumbing
    assert val(m, "acd_effects_total", type="GapRecorded") == 3
    assert val(m, "acd_build_info", version="9.9", python=__import__("platform").python_version()) == 1
    m.set_ami_connected(False)
    assert val(m, "acd_ami_up") == 0


def test_broken_backlog_callable_does_not_break_scrape() -> None:
    def broken() -> int:
        raise RuntimeError("writer gone")

    m = Metrics(Settings(), db_backlog=broken)
    feed(m, CallFinished(record("1", "sales")))
    assert val(m, "acd_calls_offered_total", queue="sales") == 1
    assert val(m, "acd_db_backlog_records") is None
    assert m.health.backlog_errors >= 1


def test_unknown_effect_type_is_ignored() -> None:
    m = make()
    m.observe(object())  # type: ignore[arg-type]
    counted = [s.value for fam in m.registry.collect() if fam.name == "acd_effects" for s in fam.samples]
    assert counted and sum(counted) == 0


def test_personal_answer_counted_once_routing_names_the_shared_queue() -> None:
    m = make()
    decided = AffinityDecided(
        uniqueid="7",
        linkedid="7",
        call_ids=("7",),
        queue="sales",
        action="offer_now",
        reason="original_agent",
        shadow=False,
        agent="PJSIP/1002",
        agent_name="Agent 2",
        callback_of=None,
        detail="free",
        decided_at=1.0,
        at=1.0,
    )
    # Answered in the personal queue, no shared entry: the routing decision names the queue.
    feed(m, CallFinished(record("7", "acd-agent-2", agent=2, wait=3)), decided)
    assert val(m, "acd_calls_answered_total", queue="sales") == 1
    # The routing decision is counted from the core's AffinityDecided (emitted once per caller).
    assert val(m, "acd_affinity_decisions_total", queue="sales", reason="original_agent", mode="live") == 1
    assert val(m, "acd_calls_answered_in_sl_total", queue="sales") == 1
    assert val(m, "acd_affinity_wait_seconds_count", queue="sales", result="answered") == 1
    # Never resolved: a personal answer with no shared queue stays out of the queue labels.
    feed(m, CallFinished(record("8", "acd-agent-9", agent=9)))
    assert val(m, "acd_calls_offered_total", queue="sales") == 1


def test_affinity_wait_series_exist_at_zero_once_a_queue_is_seen() -> None:
    """Prometheus cannot see the first observation of a series born at 1; rare series start at 0."""
    m = make()
    assert val(m, "acd_affinity_wait_seconds_count", queue="sales", result="answered") is None
    feed(m, CallFinished(record("1", "sales", wait=4)))
    for result in ("answered", "fallback"):
        assert val(m, "acd_affinity_wait_seconds_count", queue="sales", result=result) == 0
