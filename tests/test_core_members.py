"""Member and agent state: busy/free from the queue events, wrap-up from acd's configuration."""

from __future__ import annotations

from acd.core.callcenter import Core
from acd.core.config import CoreConfig, QueueRules
from acd.core.effects import MemberSession
from tests.core_events import Call, Feed, answered_call, connect, member


def _sessions(feed: Feed) -> list[tuple[str, str, str | None]]:
    return [(e.kind, e.queue, e.reason) for e in feed.effects if isinstance(e, MemberSession)]


def test_login_pause_unpause_logout_sessions() -> None:
    feed = Feed()
    feed(
        member("QueueMemberAdded", "support", "PJSIP/1001", "Alice"),
        member("QueueMemberPause", "support", "PJSIP/1001", "Alice", paused=True, reason="lunch"),
        member("QueueMemberPause", "support", "PJSIP/1001", "Alice", paused=True, reason="training"),
        member("QueueMemberPause", "support", "PJSIP/1001", "Alice"),
        member("QueueMemberRemoved", "support", "PJSIP/1001", "Alice"),
    )
    assert _sessions(feed) == [
        ("login", "support", None),
        ("pause", "support", "lunch"),
        ("pause", "support", "training"),
        ("unpause", "support", None),
        ("logout", "support", None),
    ]
    assert feed.states("PJSIP/1001") == ["available", "paused", "available", "logged_out"]
    assert feed.core.live(feed.now).agents == ()


def test_ringing_in_call_wrapup_available() -> None:
    feed = Feed(core=Core(CoreConfig(queues={"support": QueueRules(wrapup_seconds=15)})))
    feed(
        member("QueueMemberAdded", "support", "PJSIP/1001", "Alice"),
        member("QueueMemberAdded", "sales", "PJSIP/1001", "Alice"),
    )
    answered_call(feed, Call("1.1"))
    # Busy in every queue the agent serves, not only the one the call came from.
    assert feed.core.agent_state("PJSIP/1001", feed.now) == (
        "wrapup",
        {"support": "wrapup", "sales": "wrapup"},
    )
    feed.tick(16)
    assert feed.core.agent_state("PJSIP/1001", feed.now)[0] == "available"
    support = [s for s in feed.states("PJSIP/1001")]
    assert "ringing" in support and "in_call" in support and "wrapup" in support


def test_in_call_ignores_queue_member_status_incall_zero() -> None:
    """docs/asterisk.md: QueueMemberStatus showed InCall 0 while the agent talked; AgentConnect wins."""
    feed = Feed()
    feed(member("QueueMemberAdded", "support", "PJSIP/1001", "Alice"))
    call = Call("1.1")
    connect(feed, call, "PJSIP/1001", "Alice", hold=1)
    feed(member("QueueMemberStatus", "support", "PJSIP/1001", "Alice", status=2))
    assert feed.core.agent_state("PJSIP/1001", feed.now)[0] == "in_call"


def test_state_interface_is_the_identity() -> None:
    feed = Feed()
    feed(member("QueueMemberAdded", "support", "Local/1003@agents", "Carol", state_iface="Custom:agent1003"))
    call = Call("1.1")
    feed(
        call.newchannel(),
        call.join(),
        call.agent_newchannel("Local/1003@agents"),
        call.agent("AgentCalled", "Local/1003@agents", "Carol"),
    )
    assert feed.core.agent_state("Custom:agent1003", feed.now)[0] == "ringing"
    assert feed.core.live(feed.now).agents[0].agent == "Custom:agent1003"


def test_unavailable_device_and_paused_precedence() -> None:
    feed = Feed()
    feed(member("QueueMemberAdded", "support", "PJSIP/1001", "Alice", status=5))
    assert feed.core.agent_state("PJSIP/1001", feed.now)[0] == "unavailable"
    feed(member("QueueMemberPause", "support", "PJSIP/1001", "Alice", paused=True, reason="x", status=5))
    assert feed.core.agent_state("PJSIP/1001", feed.now)[0] == "paused"


def test_live_snapshot_counts_per_queue_and_folds_personal_queues() -> None:
    feed = Feed()
    feed(
        member("QueueMemberAdded", "support", "PJSIP/1001", "Alice"),
        member("QueueMemberAdded", "acd-agent-1001", "PJSIP/1001", "Alice"),
        member("QueueMemberAdded", "support", "PJSIP/1002", "Bob", paused=True, reason="lunch"),
    )
    c1, c2 = Call("1.1"), Call("1.2", queue="acd-agent-1001")
    feed(c1.newchannel(), c1.join(), c2.newchannel(), c2.join())
    live = feed.core.live(feed.now + 12)
    assert [q.name for q in live.queues] == ["support"]
    (support,) = live.queues
    assert support.waiting == 1 and support.longest_wait_seconds == 12
    assert support.agents_by_state == {"available": 1, "paused": 1}
    alice = next(a for a in live.agents if a.name == "Alice")
    assert alice.queues == ("support",)


def test_event_clock_follows_the_first_stamp_even_backwards() -> None:
    from acd.clock import EventClock

    wall = [2_000_000_000.0]
    clock = EventClock(speed=10.0, wall=lambda: wall[0])
    past = 1_800_000_000.0
    assert clock.stamp({"Event": "X", "Timestamp": f"{past:.6f}"}, wall[0]) == past
    wall[0] += 1.0
    assert clock.now() == past + 10.0  # runs at the simulator's pace from the last stamp
    # Reading now() between events does not push the next event forward; events stay monotonic.
    assert clock.stamp({"Event": "X", "Timestamp": f"{past + 3:.6f}"}, wall[0]) == past + 3.0
    assert clock.stamp({"Event": "X", "Timestamp": f"{past - 5:.6f}"}, wall[0]) == past + 3.0
    assert clock.stamp({"Event": "Y"}, wall[0] + 0.5) == past + 8.0
    assert clock.now() >= past + 10.0
