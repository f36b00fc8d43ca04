"""start_routing against a real core: decisions from live state over a real FastAGI socket, the
blocked-loop case, mirroring, the fallback agent's UserEvent, the one-ring withdrawal, records."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from acd.clock import EventClock
from acd.core.config import CoreConfig
from acd.core.effects import AffinityDecided, Effect
from acd.core.engine import Core
from acd.core.linking import PastCall
from acd.routing import SWITCH_INTERVAL, RoutingHandle, start_routing
from acd.settings import Settings
from tests.fastagi_client import Dialogue, agi_dialogue, request_for

IFACE = "Local/1001@agents-desk"
PERSONAL = "acd-agent-1001"
UID = "1795882275.28"
CHAN = "Local/5551100@caller-sim-00000029;1"


class FakeMetrics:
    def __init__(self) -> None:
        self.affinity: list[tuple[str, str]] = []

    def observe_affinity(self, queue: str, reason: str) -> None:
        self.affinity.append((queue, reason))


class FakeAmi:
    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    async def send_action(self, action: dict[str, str], **_: Any) -> object:
        self.sent.append(action)
        return None


class FakeDaemon:
    """The attributes start_routing uses, around a real core and clock."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock = EventClock(settings.speed)
        self.core = Core(CoreConfig.from_settings(settings))
        self.metrics = FakeMetrics()
        self.ami = FakeAmi()
        self.records: list[Any] = []
        self._sinks: list[Any] = [self.records.append]
        self.engine = None

    def feed(self, **headers: str) -> list[Effect]:
        effects = self.core.apply(headers, self.clock.now())
        for effect in effects:
            for sink in list(self._sinks):
                sink(effect)
        return effects

    def member(
        self, queue: str, paused: bool = False, reason: str = "", event: str = "QueueMemberAdded"
    ) -> None:
        self.feed(
            Event=event,
            Queue=queue,
            MemberName="Alice",
            Interface=IFACE,
            StateInterface=IFACE,
            Status="1",
            Paused="1" if paused else "0",
            PausedReason=reason,
            InCall="0",
        )


def cut_off_call(ago: float = 300.0, key: str = "tel:5551100") -> PastCall:
    return PastCall("1.1", "1.1", key, "support", IFACE, "Alice", True, True, time.time() - ago)


async def dialogue(**kw: Any) -> Dialogue:
    return await asyncio.get_running_loop().run_in_executor(
        None, lambda: agi_dialogue(PORT[0], request_for(**kw))
    )


PORT = [0]


@pytest.fixture
async def routed() -> AsyncIterator[tuple[FakeDaemon, RoutingHandle]]:
    daemon = FakeDaemon(Settings(fastagi={"port": 0, "deadline_ms": 400}))
    handle = await start_routing(daemon)  # type: ignore[arg-type]
    PORT[0] = handle.port
    handle.seed([cut_off_call()])
    try:
        yield daemon, handle
    finally:
        await handle.close()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


async def test_free_agent_is_offered_with_one_ring(routed: tuple[FakeDaemon, RoutingHandle]) -> None:
    daemon, _ = routed
    daemon.member("support")
    daemon.member(PERSONAL)
    d = await dialogue(uniqueid=UID)
    v = d.variables
    assert v["ACD_ROUTE"] == "agent" and list(v)[-1] == "ACD_ROUTE"
    assert (v["ACD_AGENT_QUEUE"], v["ACD_WAIT"], v["ACD_QUEUE_OPTS"], v["ACD_PRIO"]) == (
        PERSONAL,
        "17",  # the 15 s ring plus a margin: the ring ends as a no-answer, not cut by the wait
        "n",
        "10",
    )
    assert (v["ACD_PREV_AGENT"], v["ACD_PREV_AGENT_NAME"], v["ACD_CALLBACK_OF"]) == (IFACE, "Alice", "1.1")
    assert v["ACD_SCREENPOP_URL"] == "http://127.0.0.1:8080/api/v1/agents/{agent}/now"
    assert v["ACD_REASON"] == "original_agent" and v["ACD_CUTOFF_AT"].isdigit()
    assert (
        v["ACD_CALLBACK_URL"] == "http://127.0.0.1:8080/api/v1/calls/1.1"
    )  # the cut-off call, notes and all
    assert v["ACD_CALL_URL"] == f"http://127.0.0.1:8080/api/v1/calls/{UID}"


async def test_busy_agent_is_waited_for_within_the_bound(routed: tuple[FakeDaemon, RoutingHandle]) -> None:
    daemon, _ = routed
    daemon.member("support")
    daemon.member(PERSONAL)
    daemon.feed(
        Event="AgentConnect",
        Queue="support",
        Uniqueid="9.1",
        Interface=IFACE,
        MemberName="Alice",
        HoldTime="1",
    )
    v = (await dialogue(uniqueid=UID)).variables
    assert (v["ACD_ROUTE"], v["ACD_WAIT"], v["ACD_QUEUE_OPTS"]) == ("agent", "20", "")


async def test_paused_agent_falls_back_at_once_and_the_fallback_agent_is_told(
    routed: tuple[FakeDaemon, RoutingHandle],
) -> None:
    daemon, _ = routed
    daemon.member("support", paused=True, reason="lunch")
    daemon.member(PERSONAL, paused=True, reason="lunch")
    d = await dialogue(uniqueid=UID)
    assert d.variables["ACD_ROUTE"] == "queue" and d.variables["ACD_PREV_AGENT"] == IFACE
    assert "ACD_AGENT_QUEUE" not in d.variables
    await settle()
    events = [a for a in daemon.ami.sent if a["Action"] == "UserEvent"]
    assert len(events) == 1
    ev = events[0]
    assert (ev["UserEvent"], ev["Uniqueid"], ev["PrevAgent"], ev["Reason"]) == (
        "AcdCallbackContext",
        UID,
        IFACE,
        "fallback_unavailable",
    )
    daemon.feed(
        Event="QueueCallerJoin",
        Queue="support",
        Uniqueid=UID,
        Channel=CHAN,
        CallerIDNum="5551100",
        Position="1",
    )
    recs = [r for r in daemon.records if isinstance(r, AffinityDecided)]
    assert [(r.reason, r.call_ids, r.shadow) for r in recs] == [("fallback_unavailable", (UID,), False)]
    assert daemon.metrics.affinity == [("support", "fallback_unavailable")]


async def test_anonymous_and_unknown_callers_go_to_the_queue(
    routed: tuple[FakeDaemon, RoutingHandle],
) -> None:
    daemon, _ = routed
    daemon.member("support")
    daemon.member(PERSONAL)
    assert (await dialogue(callerid="anonymous")).variables == {
        "ACD_REASON": "ineligible",
        "ACD_ROUTE": "queue",
    }
    assert (await dialogue(callerid="5559999")).variables == {
        "ACD_REASON": "no_history",
        "ACD_ROUTE": "queue",
    }


async def test_account_number_wins_over_the_caller_id(routed: tuple[FakeDaemon, RoutingHandle]) -> None:
    daemon, handle = routed
    daemon.member("support")
    daemon.member(PERSONAL)
    handle.seed([cut_off_call(key="acct:AC-7")])
    v = (await dialogue(callerid="5550000", account="AC-7", uniqueid=UID)).variables
    assert v["ACD_ROUTE"] == "agent"
    await settle()
    assert daemon.core.channels[UID].account == "AC-7"  # the core keys this call by account too


@pytest.mark.parametrize("how", ["sleep", "spin"])
async def test_answers_in_time_while_the_daemon_loop_is_blocked(
    routed: tuple[FakeDaemon, RoutingHandle], how: str
) -> None:
    daemon, handle = routed
    daemon.member("support")
    daemon.member(PERSONAL)
    result: list[Dialogue] = []
    client = threading.Thread(
        target=lambda: result.append(agi_dialogue(handle.port, request_for(uniqueid=UID)))
    )
    client.start()
    if how == "sleep":
        time.sleep(1.0)  # the daemon's loop does nothing else for a second (GIL released)
    else:
        until = time.monotonic() + 1.0
        while time.monotonic() < until:  # stuck in Python code: the GIL is only handed over
            pass
    client.join(2)
    assert result and result[0].elapsed < 0.4 + 0.05
    assert result[0].variables["ACD_ROUTE"] == "agent"  # decided from the snapshot, not from the loop
    await settle()
    assert UID in handle.edge.tracker.open  # the loop learned of the decision once it ran again


async def test_first_ring_without_answer_withdraws_the_caller(
    routed: tuple[FakeDaemon, RoutingHandle],
) -> None:
    daemon, _ = routed
    daemon.member("support")
    daemon.member(PERSONAL)
    daemon.feed(
        Event="AgentConnect",
        Queue="support",
        Uniqueid="9.1",
        Interface=IFACE,
        MemberName="Alice",
        HoldTime="1",
    )
    await dialogue(uniqueid=UID)
    await settle()
    daemon.feed(
        Event="QueueCallerJoin",
        Queue=PERSONAL,
        Uniqueid=UID,
        Channel=CHAN,
        CallerIDNum="5551100",
        Position="1",
    )
    daemon.feed(
        Event="AgentComplete",
        Queue="support",
        Uniqueid="9.1",
        Interface=IFACE,
        MemberName="Alice",
        TalkTime="5",
        HoldTime="1",
        Reason="caller",
    )
    daemon.feed(
        Event="AgentCalled",
        Queue=PERSONAL,
        Uniqueid=UID,
        Channel=CHAN,
        Interface=IFACE,
        MemberName="Alice",
        DestUniqueid="2.2",
    )
    daemon.feed(
        Event="AgentRingNoAnswer",
        Queue=PERSONAL,
        Uniqueid=UID,
        Channel=CHAN,
        Interface=IFACE,
        MemberName="Alice",
        RingTime="15000",
    )
    await settle()
    withdraws = [a for a in daemon.ami.sent if a["Action"] == "QueueWithdrawCaller"]
    assert withdraws == [{"Action": "QueueWithdrawCaller", "Queue": PERSONAL, "Caller": CHAN}]
    # Asterisk's answer: the caller leaves the personal queue (withdrawn) and joins the shared one.
    daemon.feed(
        Event="QueueCallerAbandon",
        Queue=PERSONAL,
        Uniqueid=UID,
        Position="1",
        OriginalPosition="1",
        HoldTime="20",
    )
    daemon.feed(Event="QueueCallerLeave", Queue=PERSONAL, Uniqueid=UID, Channel=CHAN, Position="1")
    daemon.feed(
        Event="QueueCallerJoin",
        Queue="support",
        Uniqueid=UID,
        Channel=CHAN,
        CallerIDNum="5551100",
        Position="1",
    )
    await settle()
    recs = [r for r in daemon.records if isinstance(r, AffinityDecided)]
    assert [(r.reason, r.action, r.call_ids) for r in recs] == [
        ("fallback_no_answer", "wait_for_agent", (UID,))
    ]
    finished = [
        r for r in daemon.records if type(r).__name__ == "CallFinished" and r.record.queue == PERSONAL
    ]
    assert finished and finished[0].record.exit_reason == "withdraw"  # not counted as an abandon
    told = [a for a in daemon.ami.sent if a["Action"] == "UserEvent"]
    assert [a["Reason"] for a in told] == ["fallback_no_answer"]


async def test_shared_queue_login_and_pause_are_mirrored(routed: tuple[FakeDaemon, RoutingHandle]) -> None:
    daemon, _ = routed
    daemon.member("support")
    await settle()
    assert daemon.ami.sent[-1]["Action"] == "QueueAdd" and daemon.ami.sent[-1]["Queue"] == PERSONAL
    daemon.member(PERSONAL)  # Asterisk confirms
    daemon.member("support", paused=True, reason="lunch", event="QueueMemberPause")
    await settle()
    assert daemon.ami.sent[-1] == {
        "Action": "QueuePause",
        "Queue": PERSONAL,
        "Interface": IFACE,
        "Paused": "true",
        "Reason": "lunch",
    }
    count = len(daemon.ami.sent)
    daemon.member("support", paused=True, reason="lunch", event="QueueMemberStatus")  # nothing new
    await settle()
    assert len(daemon.ami.sent) == count


async def test_shadow_mode_records_but_routes_to_the_queue() -> None:
    daemon = FakeDaemon(Settings(fastagi={"port": 0}, affinity={"shadow": True}))
    handle = await start_routing(daemon)  # type: ignore[arg-type]
    try:
        handle.seed([cut_off_call()])
        daemon.member("support")
        daemon.member(PERSONAL)
        d = await asyncio.get_running_loop().run_in_executor(
            None, lambda: agi_dialogue(handle.port, request_for(uniqueid=UID))
        )
        assert d.variables["ACD_ROUTE"] == "queue" and d.variables["ACD_REASON"] == "original_agent"
        await settle()
        daemon.feed(
            Event="QueueCallerJoin",
            Queue="support",
            Uniqueid=UID,
            Channel=CHAN,
            CallerIDNum="5551100",
            Position="1",
        )
        recs = [r for r in daemon.records if isinstance(r, AffinityDecided)]
        assert [(r.reason, r.action, r.shadow) for r in recs] == [("original_agent", "offer_now", True)]
        assert not [a for a in daemon.ami.sent if a["Action"] in ("UserEvent", "QueueWithdrawCaller")]
    finally:
        await handle.close()


async def test_global_switch_off_routes_nothing_and_records_nothing() -> None:
    daemon = FakeDaemon(Settings(fastagi={"port": 0}, affinity={"enabled": False}))
    handle = await start_routing(daemon)  # type: ignore[arg-type]
    try:
        handle.seed([cut_off_call()])
        daemon.member("support")
        d = await asyncio.get_running_loop().run_in_executor(
            None, lambda: agi_dialogue(handle.port, request_for(uniqueid=UID))
        )
        assert d.variables == {"ACD_REASON": "ineligible", "ACD_ROUTE": "queue"}
        await settle()
        assert not handle.edge.tracker.open
    finally:
        await handle.close()


async def test_per_queue_enablement() -> None:
    daemon = FakeDaemon(Settings(fastagi={"port": 0}, queues={"support": {"affinity": False}}))
    handle = await start_routing(daemon)  # type: ignore[arg-type]
    try:
        handle.seed([cut_off_call()])
        daemon.member("support")
        daemon.member(PERSONAL)
        v = (
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: agi_dialogue(handle.port, request_for())
            )
        ).variables
        assert (v["ACD_ROUTE"], v["ACD_REASON"]) == ("queue", "ineligible")
    finally:
        await handle.close()


async def test_after_close_the_port_refuses() -> None:
    daemon = FakeDaemon(Settings(fastagi={"port": 0}))
    handle = await start_routing(daemon)  # type: ignore[arg-type]
    port = handle.port
    await handle.close()
    with pytest.raises(ConnectionRefusedError):
        agi_dialogue(port)


async def test_start_routing_is_idempotent_per_daemon() -> None:
    daemon = FakeDaemon(Settings(fastagi={"port": 0}))
    handle = await start_routing(daemon)  # type: ignore[arg-type]
    daemon.routing = handle  # type: ignore[attr-defined]
    try:
        assert await start_routing(daemon) is handle  # type: ignore[arg-type]
        assert daemon._sinks.count(handle.edge.observe) == 1
    finally:
        await handle.close()
        await handle.close()  # twice is harmless


async def test_the_gil_is_handed_over_often_while_routing_runs() -> None:
    before = sys.getswitchinterval()
    daemon = FakeDaemon(Settings(fastagi={"port": 0}))
    handle = await start_routing(daemon)  # type: ignore[arg-type]
    try:
        assert sys.getswitchinterval() == min(before, SWITCH_INTERVAL)
    finally:
        await handle.close()
    assert sys.getswitchinterval() == before
