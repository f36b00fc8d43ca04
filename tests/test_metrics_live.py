"""Live state read from the core's snapshot at scrape time: no stale series, personal queues hidden."""

from __future__ import annotations

from acd.core.live import AgentLive, LiveSnapshot, QueueLive
from acd.metrics import Metrics
from acd.settings import Settings


def snapshot(agents: list[AgentLive], waiting: int = 2) -> LiveSnapshot:
    states: dict[str, int] = {}
    for a in agents:
        states[a.state] = states.get(a.state, 0) + 1
    return LiveSnapshot(
        at=100.0,
        queues=(
            QueueLive("sales", waiting, 42.5, states),  # type: ignore[arg-type]
            QueueLive("acd-agent-1", 1, 7.0, {"in_call": 1}),
        ),
        agents=tuple(agents),
    )


def test_queue_and_agent_state_follow_the_snapshot_without_stale_series() -> None:
    ann = AgentLive("PJSIP/1", "Ann", "in_call", ("sales",))
    bob = AgentLive("PJSIP/2", "Bob", "paused", ("sales",), paused_reason="lunch")
    current = [snapshot([ann, bob])]
    m = Metrics(Settings(metrics_per_agent=True), live=lambda: current[0])
    get = m.registry.get_sample_value
    assert get("acd_queue_callers_waiting", {"queue": "sales"}) == 2
    assert get("acd_queue_longest_wait_seconds", {"queue": "sales"}) == 42.5
    assert get("acd_queue_agents", {"queue": "sales", "state": "in_call"}) == 1
    assert get("acd_queue_agents", {"queue": "sales", "state": "paused"}) == 1
    assert get("acd_queue_agents", {"queue": "sales", "state": "available"}) == 0
    assert get("acd_agents", {"state": "paused"}) == 1
    assert get("acd_agent_state", {"agent": "Bob", "state": "paused"}) == 1
    assert get("acd_queue_callers_waiting", {"queue": "acd-agent-1"}) is None

    # Bob logs off: his series disappear at the next scrape, nothing is left at its last value.
    current[0] = snapshot([ann], waiting=0)
    assert get("acd_agent_state", {"agent": "Bob", "state": "paused"}) is None
    assert get("acd_queue_agents", {"queue": "sales", "state": "paused"}) == 0
    assert get("acd_queue_callers_waiting", {"queue": "sales"}) == 0
    assert get("acd_agents", {"state": "paused"}) == 0


def test_per_agent_state_off_by_default() -> None:
    m = Metrics(Settings(), live=lambda: snapshot([AgentLive("PJSIP/1", "Ann", "available", ("sales",))]))
    assert m.registry.get_sample_value("acd_agent_state", {"agent": "Ann", "state": "available"}) is None
    assert m.registry.get_sample_value("acd_agents", {"state": "available"}) == 1


def test_snapshot_failure_is_counted_and_other_families_still_render() -> None:
    def broken() -> LiveSnapshot:
        raise RuntimeError("core busy")

    m = Metrics(Settings(), live=broken)
    assert m.registry.get_sample_value("acd_live_snapshot_errors_total") == 1
    assert m.registry.get_sample_value("acd_ami_up") == 0
    assert m.registry.get_sample_value("acd_queue_callers_waiting", {"queue": "sales"}) is None


def test_live_attached_later() -> None:
    m = Metrics(Settings())
    assert m.registry.get_sample_value("acd_agents", {"state": "available"}) is None
    m.attach_live(lambda: snapshot([AgentLive("PJSIP/1", "Ann", "available", ("sales",))]))
    assert m.registry.get_sample_value("acd_agents", {"state": "available"}) == 1
