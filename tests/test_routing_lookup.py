"""start_routing against a real core, clock and Metrics: lookups over a real socket, the dialplan's
confirmation, the blocked-loop case, mirroring, the fallback agent's UserEvent, the one-ring
withdrawal, bad input, and what is (not) recorded."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import pytest

from acd.clock import EventClock
from acd.core.callcenter import Core
from acd.core.caller_history import PastCall
from acd.core.commands import Command
from acd.core.config import CoreConfig
from acd.core.effects import AffinityDecided, Anomaly, CallFinished, Effect
from acd.metrics.metrics import Metrics
from acd.routing import RoutingHandle, start_routing
from acd.routing.answer import MAX_REQUEST_BYTES
from acd.routing.service import RateLimit
from acd.settings import Settings
from tests.lookup_client import Lookup, lookup, raw, request_line
from tests.support.logs import captured_logs
from tests.support.waiting import DEADLINE

IFACE = "Local/1001@agents-desk"
PERSONAL = "acd-agent-1001"
UID = "1795882275.28"
CHAN = "Local/5551100@caller-sim-00000029;1"
BOUND = 0.4


class FakeAmi:
    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    async def send_action(self, action: dict[str, str], **_: Any) -> object:
        self.sent.append(action)
        return None


class Harness:
    """What the daemon gives routing (core, clock, Metrics, the command queue, AMI), run by hand:
    ``feed`` applies an AMI event, ``drain`` the commands the lookup put on the queue."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock = EventClock(settings.speed)
        self.core = Core(CoreConfig.from_settings(settings))
        self.metrics = Metrics(settings)
        self.ami = FakeAmi()
        self.records: list[Effect] = []
        self.commands: deque[Command] = deque()
        self.woken = threading.Event()
        self.handle: RoutingHandle | None = None

    async def start(self) -> RoutingHandle:
        self.handle = await start_routing(
            self.settings,
            view=lambda: self.core.view.current,
            now=self.clock.now,
            put=self.commands.append,
            wake=self.woken.set,
            send_action=self.ami.send_action,
            metrics=self.metrics,
        )
        return self.handle

    @property
    def port(self) -> int:
        assert self.handle is not None
        return self.handle.port

    def dispatch(self, effects: list[Effect]) -> None:
        assert self.handle is not None
        for effect in effects:
            self.records.append(effect)
            self.metrics.observe(effect)
            self.handle.observe(effect)

    def drain(self) -> None:
        while self.commands:
            self.dispatch(self.core.command(self.commands.popleft(), self.clock.now()))

    def feed(self, **headers: str) -> None:
        self.drain()
        self.dispatch(self.core.apply(headers, self.clock.now()))

    def snapshot(self, *queues: str) -> None:
        """A QueueStatus snapshot listing these queues (as the resync after every connect)."""
        self.core.begin_resync(self.clock.now())
        for q in queues:
            self.feed(Event="QueueParams", Queue=q, ActionID="r1")
        for member in list(self.core.registry.members.values()):  # Asterisk lists its members too
            self.feed(
                Event="QueueMember",
                Queue=member.queue,
                Name=member.name,
                MemberName=member.name,
                Interface=member.interface,
                StateInterface=member.agent,
                Status=str(member.status or 1),
                Paused="1" if member.paused else "0",
                PausedReason=member.paused_reason,
                InCall="0",
                ActionID="r1",
            )
        self.feed(Event="QueueStatusComplete", ActionID="r1")
        self.feed(Event="CoreShowChannelsComplete", ActionID="r2")

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

    def busy(self) -> None:
        """Alice answers a call in the shared queue (its caller joins first: a lone AgentConnect
        names no call, and the core makes no call of it)."""
        self.feed(Event="QueueCallerJoin", Queue="support", Uniqueid="9.1", Channel="PJSIP/trunk-91")
        self.feed(
            Event="AgentConnect",
            Queue="support",
            Uniqueid="9.1",
            Interface=IFACE,
            MemberName="Alice",
            HoldTime="1",
        )

    def confirm(self, answer: Lookup, uniqueid: str = UID, channel: str = CHAN) -> None:
        """What the generated dialplan does after a complete answer: UserEvent(AcdRouted)."""
        assert answer.fields.get("end") == "1"
        self.feed(
            Event="UserEvent",
            UserEvent="AcdRouted",
            Channel=channel,
            Uniqueid=uniqueid,
            Linkedid=uniqueid,
            Decision=answer.fields["id"],
        )

    def join(self, queue: str, uniqueid: str = UID) -> None:
        self.feed(
            Event="QueueCallerJoin",
            Queue=queue,
            Uniqueid=uniqueid,
            Channel=CHAN,
            CallerIDNum="5551100",
            Position="1",
        )

    def decided(self) -> list[AffinityDecided]:
        return [r for r in self.records if isinstance(r, AffinityDecided)]

    def seed(self, call: PastCall) -> None:
        """History as the daemon loads it from the database at start."""
        self.core.load_history([call])

    async def ask(self, **params: str) -> Lookup:
        params.setdefault("queue", "support")
        params.setdefault("caller", "5551100")
        params.setdefault("uniqueid", UID)
        answer = await asyncio.get_running_loop().run_in_executor(None, lambda: lookup(self.port, **params))
        assert answer.status == "HTTP/1.1 200 OK"
        return answer


def cut_off_call(ago: float = 300.0, key: str = "tel:5551100") -> PastCall:
    return PastCall("1.1", "1.1", key, "support", IFACE, "Alice", True, True, time.time() - ago)


def settings(**extra: Any) -> Settings:
    extra.setdefault("routing", {"port": 0, "timeout_seconds": BOUND})
    return Settings(**extra)


async def harness(**extra: Any) -> Harness:
    h = Harness(settings(**extra))
    await h.start()
    h.snapshot("support", PERSONAL)
    h.seed(cut_off_call())
    return h


@pytest.fixture
async def routed() -> AsyncIterator[Harness]:
    h = await harness()
    try:
        yield h
    finally:
        assert h.handle is not None
        await h.handle.close()


async def test_free_agent_is_offered_with_one_ring(routed: Harness) -> None:
    routed.member("support")
    routed.member(PERSONAL)
    answer = await routed.ask()
    v = answer.fields
    assert answer.keys[-1] == "end" and v["end"] == "1"
    assert (v["route"], v["agent_queue"], v["wait"], v["opts"], v["prio"]) == (
        "agent",
        PERSONAL,
        "17",  # the 15 s ring plus a margin: the ring ends as a no-answer, not cut by the wait
        "n",
        "10",
    )
    assert (v["prev"], v["prev_name"], v["callback_of"]) == (IFACE, "Alice", "1.1")
    assert v["pop"] == f"http://127.0.0.1:8080/pop/{UID}"  # the link names the call, not the agent
    assert v["reason"] == "original_agent" and v["cutoff_at"].isdigit()
    assert v["callback_url"] == "http://127.0.0.1:8080/api/v1/calls/1.1"  # the cut-off call
    assert v["call_url"] == f"http://127.0.0.1:8080/api/v1/calls/{UID}"
    assert len(v["id"]) > 8 and v["id"].isalnum()  # safe in UserEvent(AcdRouted,Decision: ...)
    assert (await routed.ask()).fields["id"] != v["id"]


async def test_busy_agent_is_waited_for_within_the_bound(routed: Harness) -> None:
    routed.member("support")
    routed.member(PERSONAL)
    routed.busy()
    v = (await routed.ask()).fields
    assert (v["route"], v["wait"], v["opts"]) == ("agent", "20", "")


async def test_a_decision_counts_only_once_the_dialplan_confirms_it(routed: Harness) -> None:
    routed.member("support")
    routed.member(PERSONAL)
    answer = await routed.ask()
    routed.drain()
    assert routed.core.routed.waiting and not routed.core.routed.tracker.open  # handed over, not decided
    routed.confirm(answer)
    assert UID in routed.core.routed.tracker.open
    routed.join(PERSONAL)
    routed.feed(
        Event="AgentConnect", Queue=PERSONAL, Uniqueid=UID, Interface=IFACE, MemberName="Alice", HoldTime="2"
    )
    assert routed.decided() == []  # settled by the personal leg's record


async def test_an_answer_nobody_confirmed_is_never_recorded(routed: Harness) -> None:
    """Late (after Asterisk's bound) or to a caller who left: no AcdRouted ever comes."""
    routed.member("support")
    routed.member(PERSONAL)
    await routed.ask()
    routed.drain()
    routed.join("support")  # the caller went on without acd's answer
    assert routed.decided() == []
    later = routed.clock.now() + 61.0
    routed.dispatch(routed.core.tick(later))
    assert routed.decided() == []
    assert [r.kind for r in routed.records if isinstance(r, Anomaly)] == ["routing_unconfirmed"]
    assert not routed.core.routed.waiting
    assert (
        routed.metrics.registry.get_sample_value(
            "acd_affinity_decisions_total", {"queue": "support", "reason": "original_agent", "mode": "live"}
        )
        is None
    )


async def test_paused_agent_falls_back_at_once_and_the_fallback_agent_is_told(routed: Harness) -> None:
    routed.member("support", paused=True, reason="lunch")
    routed.member(PERSONAL, paused=True, reason="lunch")
    answer = await routed.ask()
    assert answer.fields["route"] == "queue" and answer.fields["prev"] == IFACE
    assert "agent_queue" not in answer.fields
    routed.confirm(answer)
    routed.join("support")
    recs = routed.decided()
    assert [(r.reason, r.call_ids, r.shadow, r.channel) for r in recs] == [
        ("fallback_unavailable", (UID,), False, CHAN)
    ]
    await asyncio.sleep(0.01)
    told = [a for a in routed.ami.sent if a["Action"] == "UserEvent"]
    assert [
        (a["UserEvent"], a["Uniqueid"], a["PrevAgent"], a["Reason"], a["CallerChannel"]) for a in told
    ] == [("AcdCallbackContext", UID, IFACE, "fallback_unavailable", CHAN)]
    assert told[0]["ScreenPop"] == f"http://127.0.0.1:8080/pop/{UID}"
    sample = routed.metrics.registry.get_sample_value(
        "acd_affinity_decisions_total", {"queue": "support", "reason": "fallback_unavailable", "mode": "live"}
    )
    assert sample == 1.0  # counted by the real Metrics from the core's effect


async def test_anonymous_and_unknown_callers_go_to_the_queue(routed: Harness) -> None:
    routed.member("support")
    routed.member(PERSONAL)
    anonymous = (await routed.ask(caller="anonymous")).fields
    assert (anonymous["route"], anonymous["reason"]) == ("queue", "ineligible")
    unknown = (await routed.ask(caller="5559999")).fields
    assert (unknown["route"], unknown["reason"]) == ("queue", "no_history")
    assert "prev" not in unknown and unknown["pop"].endswith(f"/pop/{UID}")


async def test_account_number_wins_over_the_caller_id(routed: Harness) -> None:
    routed.member("support")
    routed.member(PERSONAL)
    routed.seed(cut_off_call(key="acct:AC-7"))
    answer = await routed.ask(caller="5550000", account="AC-7")
    assert answer.fields["route"] == "agent"
    routed.confirm(answer)
    assert routed.core.registry.channels[UID].account == "AC-7"  # the core keys this call by account too


async def test_caller_id_cannot_inject_parameters(routed: Harness) -> None:
    """The caller id is the caller's to choose: URIENCODEd, it is one value, whatever it holds."""
    routed.member("support")
    routed.member(PERSONAL)
    sly = "+555 1100 &queue=x%&route=agent=&account=ACME"
    answer = await routed.ask(caller=sly)
    assert answer.fields["route"] == "agent" and answer.fields["callback_of"] == "1.1"  # key tel:5551100
    routed.confirm(answer)
    routed.join(PERSONAL)
    assert routed.core.registry.channels[UID].account is None


@pytest.mark.parametrize("how", ["sleep", "spin"])
async def test_answers_while_the_daemon_loop_is_blocked(how: str) -> None:
    """The lookup answers from the published view on threads of its own: the daemon's loop stays
    blocked until the caller has the answer, and hears of it once it runs again. How fast it
    answers on a busy machine is for bench/bench_lookup.py to measure, not for a test: here the
    bound is the longest the settings allow, so only a lookup that needs the loop can fail."""
    routed = await harness(routing={"port": 0, "timeout_seconds": 5.0})
    try:
        routed.member("support")
        routed.member(PERSONAL)
        result: list[Lookup] = []
        client = threading.Thread(
            target=lambda: result.append(
                lookup(routed.port, timeout=DEADLINE, queue="support", caller="5551100", uniqueid=UID)
            )
        )
        client.start()
        if how == "sleep":
            client.join(DEADLINE)  # the loop waits in a system call (GIL released) for the answer
        else:
            until = time.monotonic() + DEADLINE
            while client.is_alive() and time.monotonic() < until:  # stuck in Python code: the GIL
                pass  # is only handed over at the switch interval
        assert result, "no answer while the daemon's loop was blocked"
        assert result[0].fields["route"] == "agent"  # decided from the published view
        assert routed.woken.is_set() and len(routed.commands) == 1  # the loop learns once it runs again
        routed.drain()
        assert list(routed.core.routed.waiting) == [result[0].fields["id"]]  # the core has it now
    finally:
        assert routed.handle is not None
        await routed.handle.close()


async def test_first_ring_without_answer_withdraws_the_caller(routed: Harness) -> None:
    routed.member("support")
    routed.member(PERSONAL)
    routed.busy()
    routed.confirm(await routed.ask())
    routed.join(PERSONAL)
    alice = {"Interface": IFACE, "MemberName": "Alice"}
    routed.feed(Event="AgentComplete", Queue="support", Uniqueid="9.1", TalkTime="5", HoldTime="1", **alice)
    ring = {"Queue": PERSONAL, "Uniqueid": UID, "Channel": CHAN, **alice}
    routed.feed(Event="AgentCalled", DestUniqueid="2.2", **ring)
    routed.feed(Event="AgentRingNoAnswer", RingTime="15000", **ring)
    await asyncio.sleep(0.01)
    withdraws = [a for a in routed.ami.sent if a["Action"] == "QueueWithdrawCaller"]
    assert withdraws == [{"Action": "QueueWithdrawCaller", "Queue": PERSONAL, "Caller": CHAN}]
    # Asterisk's answer: the caller leaves the personal queue (withdrawn) and joins the shared one.
    routed.feed(
        Event="QueueCallerAbandon",
        Queue=PERSONAL,
        Uniqueid=UID,
        Position="1",
        OriginalPosition="1",
        HoldTime="20",
    )
    routed.feed(Event="QueueCallerLeave", Queue=PERSONAL, Uniqueid=UID, Channel=CHAN, Position="1")
    routed.join("support")
    await asyncio.sleep(0.01)
    recs = routed.decided()
    assert [(r.reason, r.action, r.call_ids) for r in recs] == [
        ("fallback_no_answer", "wait_for_agent", (UID,))
    ]
    finished = [r for r in routed.records if isinstance(r, CallFinished) and r.record.queue == PERSONAL]
    assert finished and finished[0].record.exit_reason == "withdraw"  # not counted as an abandon
    told = [a for a in routed.ami.sent if a["Action"] == "UserEvent"]
    assert [a["Reason"] for a in told] == ["fallback_no_answer"]


async def test_logins_and_pauses_are_mirrored_into_existing_personal_queues(routed: Harness) -> None:
    routed.member("support")
    await asyncio.sleep(0.01)
    assert routed.ami.sent[-1]["Action"] == "QueueAdd" and routed.ami.sent[-1]["Queue"] == PERSONAL
    routed.member(PERSONAL)  # Asterisk confirms
    routed.member("support", paused=True, reason="lunch", event="QueueMemberPause")
    await asyncio.sleep(0.01)
    assert routed.ami.sent[-1] == {
        "Action": "QueuePause",
        "Queue": PERSONAL,
        "Interface": IFACE,
        "Paused": "true",
        "Reason": "lunch",
    }
    count = len(routed.ami.sent)
    routed.member("support", paused=True, reason="lunch", event="QueueMemberStatus")  # nothing new
    await asyncio.sleep(0.01)
    assert len(routed.ami.sent) == count


async def test_no_personal_queue_no_action_and_one_warning() -> None:
    """A center without acd-agent-* queues: nothing mirrored (no 'No such queue'), one warning."""
    h = Harness(settings())
    await h.start()
    try:
        with captured_logs("info") as logs:
            h.member("support")  # logged in before the snapshot: nothing known yet, nothing sent
            h.snapshot("support")
            h.feed(
                Event="QueueMemberAdded",
                Queue="support",
                MemberName="Bob",
                Interface="PJSIP/1002",
                StateInterface="PJSIP/1002",
                Status="1",
                Paused="0",
                InCall="0",
            )
            h.member("support", paused=True, reason="lunch", event="QueueMemberPause")
        await asyncio.sleep(0.01)
        assert h.ami.sent == []
        warned = [entry for entry in logs.records() if entry["event"] == "personal_queue_missing"]
        assert len(warned) == 1 and warned[0]["agents"] == [IFACE]
    finally:
        assert h.handle is not None
        await h.handle.close()


async def test_personal_queues_are_learned_again_after_each_snapshot() -> None:
    h = Harness(settings())
    await h.start()
    try:
        h.snapshot("support")
        h.member("support")
        h.snapshot("support", PERSONAL)  # the operator added the queue and reloaded: resync
        await asyncio.sleep(0.01)
        assert [(a["Action"], a["Queue"]) for a in h.ami.sent] == [("QueueAdd", PERSONAL)]
    finally:
        assert h.handle is not None
        await h.handle.close()


async def test_shadow_mode_records_but_routes_to_the_queue() -> None:
    h = await harness(affinity={"shadow": True})
    try:
        h.member("support")
        h.member(PERSONAL)
        answer = await h.ask()
        assert (answer.fields["route"], answer.fields["reason"]) == ("queue", "original_agent")
        h.confirm(answer)
        h.join("support")
        assert [(r.reason, r.action, r.shadow) for r in h.decided()] == [
            ("original_agent", "offer_now", True)
        ]
        await asyncio.sleep(0.01)
        assert not [a for a in h.ami.sent if a["Action"] in ("UserEvent", "QueueWithdrawCaller")]
        labels = {"queue": "support", "reason": "original_agent"}
        assert (
            h.metrics.registry.get_sample_value("acd_affinity_decisions_total", {**labels, "mode": "shadow"})
            == 1
        )
        assert (
            h.metrics.registry.get_sample_value("acd_affinity_decisions_total", {**labels, "mode": "live"})
            is None
        )
    finally:
        assert h.handle is not None
        await h.handle.close()


async def test_global_switch_off_routes_nothing_and_records_nothing() -> None:
    h = await harness(affinity={"enabled": False})
    try:
        h.member("support")
        answer = await h.ask(account="AC-9")
        assert (answer.fields["route"], answer.fields["reason"]) == ("queue", "ineligible")
        h.confirm(answer)
        h.join("support")
        assert not h.core.routed.tracker.open and h.decided() == []
        assert h.core.registry.channels[UID].account == "AC-9"  # the account still keys the call
        await asyncio.sleep(0.01)
        assert h.ami.sent == []  # and nothing mirrored
    finally:
        assert h.handle is not None
        await h.handle.close()


async def test_per_queue_enablement() -> None:
    h = await harness(queues={"support": {"affinity": False}})
    try:
        h.member("support")
        h.member(PERSONAL)
        v = (await h.ask()).fields
        assert (v["route"], v["reason"]) == ("queue", "ineligible")
    finally:
        assert h.handle is not None
        await h.handle.close()


BAD = [
    pytest.param(request_line("/nope", queue="support"), id="unknown-path"),
    pytest.param(request_line("/route", caller="5551100"), id="no-queue"),
    pytest.param(request_line("/route", queue="q" * 400), id="value-too-long"),
    pytest.param(b"GET /route?queue=" + b"x" * MAX_REQUEST_BYTES + b" HTTP/1.1\r\n\r\n", id="oversized"),
    pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", id="tls-hello"),
    pytest.param(b"HELLO\r\n\r\n", id="garbage"),
    pytest.param(request_line("/route", queue="sup\x01port"), id="control-character"),
]


@pytest.mark.parametrize("request_bytes", BAD)
async def test_bad_input_gets_a_shared_queue_answer_and_no_record(
    routed: Harness, request_bytes: bytes
) -> None:
    answer = await asyncio.get_running_loop().run_in_executor(None, lambda: raw(routed.port, request_bytes))
    assert answer.status == "HTTP/1.1 200 OK"  # never an error page: func_curl would parse its body
    assert answer.fields == {"route": "queue", "reason": "bad_request", "end": "1"}
    routed.drain()
    assert not routed.core.routed.waiting


async def test_unknown_queue_and_flood_answer_the_shared_queue(routed: Harness) -> None:
    routed.member("support")
    routed.member(PERSONAL)
    v = (await routed.ask(queue="nosuchqueue")).fields
    assert v == {"route": "queue", "reason": "unknown_queue", "end": "1"}
    assert routed.handle is not None
    now = [0.0]
    routed.handle.service.limit = RateLimit(2.0, 2.0, clock=lambda: now[0])
    assert [(await routed.ask()).fields["reason"] for _ in range(3)] == [
        "original_agent",
        "original_agent",
        "overload",
    ]
    now[0] += 1.0
    assert (await routed.ask()).fields["reason"] == "original_agent"  # the bucket refills
    routed.drain()
    assert len(routed.core.routed.waiting) == 3  # the overload answer handed nothing over
    results = routed.metrics.registry
    assert results.get_sample_value("acd_routing_lookups_total", {"result": "overload"}) == 1
    assert results.get_sample_value("acd_routing_lookups_total", {"result": "unknown_queue"}) == 1


async def test_no_access_log_and_bad_requests_logged_at_a_bounded_rate(routed: Harness) -> None:
    with captured_logs("info") as logs:
        await routed.ask()
        for _ in range(20):
            await asyncio.get_running_loop().run_in_executor(None, lambda: raw(routed.port, b"HELLO\r\n\r\n"))
    assert "5551100" not in logs.stream.getvalue()  # caller numbers never logged
    bad = [entry for entry in logs.records() if entry["event"] == "lookup_bad_request"]
    assert len(bad) == 1  # then at most one line per 10 s, with the count of the ones left out


async def test_ping_answers_and_closing_refuses() -> None:
    h = Harness(settings())
    await h.start()
    port = h.port
    answer = await asyncio.get_running_loop().run_in_executor(None, lambda: lookup(port, "/ping"))
    assert answer.body == "acd=ok&end=1"
    assert h.handle is not None
    await h.handle.close()
    await h.handle.close()  # twice is harmless
    with pytest.raises(ConnectionRefusedError):
        lookup(port, "/ping")
