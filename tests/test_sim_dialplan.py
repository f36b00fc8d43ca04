"""The simulator's dialplan: parsing, expressions, and calls run through extensions.conf."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from acd.sim import SimConfig, Simulator
from acd.sim.dialplan import DialplanError, load_dialplan, parse_dialplan
from acd.sim.expressions import Env, evaluate, substitute
from tests.sim_helpers import FIXTURES, SHARED_QUEUES, AmiClient, Driven, get

WQ = FIXTURES / "weighted-queues"


# ---- parsing and expressions ------------------------------------------------------------------


def test_parses_the_weighted_queues_dialplan() -> None:
    dp = load_dialplan(WQ / "extensions.conf")
    ext = dp.find("wl-callback", "5745504")
    assert ext is not None and ext.labels == {"shared": 12}
    assert ext.prios[8].app == "Queue"
    assert dp.find("wl-support", "12") is None  # _5XXXXXX needs 7 digits starting with 5


def test_unsupported_application_names_the_line() -> None:
    text = "[in]\nexten => s,1,Answer()\n same => n,ChanSpy(PJSIP/100)\n"
    with pytest.raises(DialplanError, match=r"x.conf:3: application ChanSpy\(\) is not supported"):
        parse_dialplan(text, "x.conf")
    with pytest.raises(DialplanError, match=r"x.conf:2: priority 'n'"):
        parse_dialplan("[in]\nexten => s,n,Answer()\n", "x.conf")


async def test_substitution_and_expressions() -> None:
    env = Env({"WL_AGENT": "", "N": "7"}, {"CALLERID(num)": "5551234"}, {"/acd/5551234": "Local/1001@agents"})
    assert await substitute('${IF($["${WL_AGENT}" = ""]?1001:${WL_AGENT})}', env, "t") == "1001"
    assert await substitute("${DB(acd/${CALLERID(num)})}", env, "t") == "Local/1001@agents"
    assert await substitute("$[${N} * 2 + 1]", env, "t") == "15"
    assert await substitute("${CALLERID(num):0:3}", env, "t") == "555"
    assert await substitute("${NOPE}", env, "t") == ""
    assert evaluate('"abc" != "abd" & (3 >= 2)') == "1"
    assert evaluate("0 | 0") == "0"
    with pytest.raises(DialplanError, match="function FOO"):
        await substitute("${FOO(x)}", env, "t")
    with pytest.raises(DialplanError, match="unterminated"):
        await substitute("${CALLERID(num)", env, "t")


async def test_epoch_follows_the_simulated_clock() -> None:
    env = Env({}, {}, {}, clock=lambda: 1800000000.7)
    assert await substitute("${EPOCH}", env, "t") == "1800000000"


# ---- calls through a dialplan -------------------------------------------------------------------


class H(Driven):
    """The simulator running a dialplan: each step in three, so its channels' tasks keep up."""

    def __init__(self, sim: Simulator, cli: AmiClient):
        super().__init__(sim, cli, polls=3, pause=0.01)


async def _harness(tmp_path: Path, dialplan: str, extra_queues: str = "") -> tuple[Simulator, AmiClient]:
    qconf = tmp_path / "queues.conf"
    qconf.write_text(SHARED_QUEUES + extra_queues)
    dp = tmp_path / "extensions.conf"
    dp.write_text(dialplan)
    truth = tmp_path / "truth.jsonl"
    sim = Simulator(
        SimConfig(
            port=0,
            speed=0,
            traffic=False,
            queues_conf=qconf,
            dialplan=dp,
            truth=truth,
            start_epoch=1.8e9,
            seed=3,
        )
    )
    host, port = await sim.start()
    cli = await AmiClient.connect(host, port)
    await cli.login()
    return sim, cli


@pytest.fixture
async def weighted(tmp_path: Path) -> AsyncIterator[H]:
    sim, cli = await _harness(
        tmp_path, (WQ / "extensions.conf").read_text(), (WQ / "queues.conf").read_text()
    )
    try:
        yield H(sim, cli)
    finally:
        await cli.close()
        await sim.stop()


async def test_personal_queue_timeout_then_shared_queue_at_the_head(weighted: H) -> None:
    """The weighted-queues capture's e3 flow: the callback waits in acd-agent-1001 (Alice never
    frees), times out (QueueCallerAbandon + Leave, QUEUESTATUS=TIMEOUT), then enters support with
    QUEUE_PRIO=10 ahead of a caller who was already waiting."""
    sim, cli = weighted.sim, weighted.cli
    sim.add_agent("support", "1001", "Alice", answer_after=1.0)
    sim.add_agent("acd-agent-1001", "1001", "Alice", answer_after=1.0)
    sim.place_call("5745000", "support")  # Alice busy with this one for good
    await weighted.step(3.0)
    await cli.action(
        "Originate", Channel="Local/5745100@caller-sim", Context="wl-support", Exten="5745100", Priority=1
    )
    await weighted.step(2.0)
    await cli.action(
        "Originate",
        Channel="Local/5745504@caller-sim",
        Context="wl-callback",
        Exten="5745504",
        Priority=1,
        Variable="WL_WAIT=5",
    )
    await weighted.step(8.0)
    fb = weighted.user_events("WLFallback")
    assert [(get(p, "Caller"), get(p, "PersonalStatus"), get(p, "Prio")) for p in fb] == [
        ("5745504", "TIMEOUT", "10")
    ]
    joins = [
        (get(p, "Queue"), get(p, "CallerIDNum"), get(p, "Position")) for p in cli.events("QueueCallerJoin")
    ]
    assert ("acd-agent-1001", "5745504", "1") in joins
    assert ("support", "5745504", "1") in joins  # at the head, ahead of 5745100
    assert ("support", "5745100", "1") in joins
    aband = [get(p, "Queue") for p in cli.events("QueueCallerAbandon")]
    assert aband == ["acd-agent-1001"]
    status = [get(p, "Value") for p in cli.events("VarSet") if get(p, "Variable") == "QUEUESTATUS"]
    assert status == ["TIMEOUT"]
    assert not sim.interp or not sim.interp.errors


async def test_callback_gets_the_free_agent_in_the_personal_queue(weighted: H) -> None:
    sim, cli = weighted.sim, weighted.cli
    sim.add_agent("support", "1001", "Alice", answer_after=1.0)
    sim.add_agent("acd-agent-1001", "1001", "Alice", answer_after=1.0)
    await cli.action(
        "Originate", Channel="Local/5745600@caller-sim", Context="wl-callback", Exten="5745600", Priority=1
    )
    await weighted.step(4.0)
    conn = [(get(p, "Queue"), get(p, "MemberName")) for p in cli.events("AgentConnect")]
    assert conn == [("acd-agent-1001", "Alice")]


ONE_RING_QUEUES = """
[acd-agent-1001]
strategy = ringall
timeout = 4
retry = 2
ringinuse = no
"""

ONE_RING_DP = """
[in]
exten => _X.,1,Answer()
 same => n,Queue(acd-agent-1001,t{opts},,,60)
 same => n,UserEvent(Left,Status: ${QUEUESTATUS})
 same => n,Hangup()
"""


@pytest.mark.parametrize("opts", ["n", ""], ids=["n", "retry"])
async def test_queue_n_option_leaves_after_one_ring_cycle(tmp_path: Path, opts: str) -> None:
    """Queue()'s ``n``: the member's ring times out, and instead of ringing again after ``retry``
    the caller leaves as app_queue's "Exiting on time-out cycle" does (QueueCallerAbandon, Leave,
    QUEUESTATUS=TIMEOUT) and the dialplan goes on. Without it the member is rung again."""
    sim, cli = await _harness(tmp_path, ONE_RING_DP.replace("{opts}", opts), ONE_RING_QUEUES)
    h = H(sim, cli)
    try:
        sim.add_agent("acd-agent-1001", "1001", "Alice", answer_after=None)
        await cli.action(
            "Originate", Channel="Local/5557001@caller-sim", Context="in", Exten="5557001", Priority=1
        )
        await h.step(9.0, polls=9)
        rung = [get(p, "Queue") for p in cli.events("AgentCalled")]
        no_answer = cli.events("AgentRingNoAnswer")
        if opts == "n":
            assert rung == ["acd-agent-1001"] and len(no_answer) == 1
            assert [get(p, "Queue") for p in cli.events("QueueCallerAbandon")] == ["acd-agent-1001"]
            assert len(cli.events("QueueCallerLeave")) == 1
            assert [get(p, "Status") for p in h.user_events("Left")] == ["TIMEOUT"]
        else:
            assert len(rung) == 2 and len(no_answer) >= 1  # rung again after retry
            assert not cli.events("QueueCallerLeave") and not h.user_events("Left")
        assert not sim.interp or not sim.interp.errors
    finally:
        await cli.close()
        await sim.stop()


FASTAGI_DP = """
[fastagi-in]
exten => _X.,1,NoOp(FastAGI routed call from ${CALLERID(num)})
 same => n,Answer()
 same => n,AGI(agi://127.0.0.1:{port}/route?queue=support&mode=affinity,arg1,arg2)
 same => n,UserEvent(Routed,Status: ${AGISTATUS},Agent: ${ROUTE_AGENT})
 same => n,Hangup()
"""


async def _agi_server(script: list[str]) -> tuple[asyncio.Server, int, list[str]]:
    seen: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            line = (await reader.readline()).decode()
            if line in ("\n", ""):
                break
            seen.append(line.rstrip("\n"))
        for cmd in script:
            writer.write((cmd + "\n").encode())
            seen.append("< " + (await reader.readline()).decode().strip())
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen


async def test_fastagi_request_and_commands(tmp_path: Path) -> None:
    server, port, seen = await _agi_server(
        ['GET VARIABLE "CALLERID(num)"', 'SET VARIABLE ROUTE_AGENT "Local/1002@agents"']
    )
    sim, cli = await _harness(tmp_path, FASTAGI_DP.replace("{port}", str(port)))
    h = H(sim, cli)
    try:
        await cli.action(
            "Originate", Channel="Local/5551100@caller-sim", Context="fastagi-in", Exten="5551100", Priority=1
        )
        for _ in range(20):
            await h.step(0.3)
            if h.user_events("Routed"):
                break
        real_keys = [
            ln.split(":")[0] for ln in (FIXTURES / "fastagi_request.txt").read_text().splitlines() if ln
        ]
        got_keys = [ln.split(":")[0] for ln in seen if not ln.startswith("< ")]
        assert got_keys == real_keys
        assert "agi_network_script: route?queue=support&mode=affinity" in seen
        assert [ln for ln in seen if ln.startswith("< ")] == ["< 200 result=1 (5551100)", "< 200 result=1"]
        ev = h.user_events("Routed")
        assert [(get(p, "Status"), get(p, "Agent")) for p in ev] == [("SUCCESS", "Local/1002@agents")]
        assert [get(p, "Command") for p in cli.events("AGIExecEnd")] == [
            'GET VARIABLE "CALLERID(num)"',
            'SET VARIABLE ROUTE_AGENT "Local/1002@agents"',
        ]
    finally:
        server.close()
        await cli.close()
        await sim.stop()


async def test_refused_fastagi_falls_through_at_once(tmp_path: Path) -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    sim, cli = await _harness(tmp_path, FASTAGI_DP.replace("{port}", str(port)))
    h = H(sim, cli)
    try:
        await cli.action(
            "Originate", Channel="Local/5551101@caller-sim", Context="fastagi-in", Exten="5551101", Priority=1
        )
        await h.step(0.3)
        ev = h.user_events("Routed")
        assert [(get(p, "Status"), get(p, "Agent")) for p in ev] == [("FAILURE", "")]
    finally:
        await cli.close()
        await sim.stop()


REDIRECT_DP = """
[inbound]
exten => _X.,1,Answer()
 same => n,Queue(support,t,,,300)
 same => n,Hangup()

[elsewhere]
exten => 1002,1,UserEvent(Redirected,Caller: ${CALLERID(num)},Prio: ${QUEUE_PRIO})
 same => n,Queue(support,t,,,300)
"""


async def test_redirect_and_setvar_change_the_call(tmp_path: Path) -> None:
    sim, cli = await _harness(tmp_path, REDIRECT_DP)
    h = H(sim, cli)
    try:
        sim.add_agent("support", "1001", "Alice", answer_after=1.0, paused=True, reason="acw")
        await cli.action(
            "Originate", Channel="Local/5559001@caller-sim", Context="inbound", Exten="5559001", Priority=1
        )
        await h.step(2.0)
        ch = next(get(p, "Channel") for p in cli.events("QueueCallerJoin"))
        got = await cli.action("Setvar", Channel=ch, Variable="QUEUE_PRIO", Value="5")
        assert get(got, "Message") == "Variable Set"
        await cli.action("Redirect", Channel=ch, Context="elsewhere", Exten="1002", Priority=1)
        await h.step(2.0)
        ev = h.user_events("Redirected")
        assert [(get(p, "Caller"), get(p, "Prio")) for p in ev] == [("5559001", "5")]
        joins = [get(p, "Uniqueid") for p in cli.events("QueueCallerJoin")]
        assert len(joins) == 2 and joins[0] == joins[1]
        await cli.action("QueuePause", Interface="Local/1001@agents", Paused="false")
        await h.step(6.0)
        await cli.action("Hangup", Channel=ch.replace(";1", ";2"), Cause=16)
        await h.step(1.0)
        recs = [json.loads(x) for x in (tmp_path / "truth.jsonl").read_text().splitlines()]
        uid = joins[0]
        assert [(r["id"], r["outcome"], r["ended_by"]) for r in recs] == [
            (uid, "exited", "system"),
            (f"{uid}#2", "answered", "caller"),
        ]
    finally:
        await cli.close()
        await sim.stop()


async def test_dialplan_traffic_uses_the_default_dialplan(tmp_path: Path) -> None:
    truth = tmp_path / "t.jsonl"
    sim = Simulator(
        SimConfig(
            port=0,
            speed=float("inf"),
            seed=9,
            truth=truth,
            max_calls=40,
            start_epoch=1.8e9,
            dialplan=Path(__file__).parents[1] / "acd" / "sim" / "extensions.conf",
        )
    )
    await sim.start()
    try:
        await sim.wait_calls_done(60)
    finally:
        await sim.stop()
    recs = [json.loads(x) for x in truth.read_text().splitlines()]
    assert len(recs) == 40 and {r["outcome"] for r in recs} <= {"answered", "abandoned"}
    assert sim.interp is not None and not sim.interp.errors


DIAL_DP = """
[inbound]
exten => _X.,1,Answer()
 same => n,Dial(Local/1004@agents-noanswer,5)
 same => n,UserEvent(Dialed,Status: ${DIALSTATUS})
 same => n,Hangup()
"""


async def test_dial_no_answer_goes_on_with_dialstatus(tmp_path: Path) -> None:
    sim, cli = await _harness(tmp_path, DIAL_DP)
    h = H(sim, cli)
    try:
        sim.pbx.device("Local/1004@agents-noanswer").behaviour.answer_after = None
        await cli.action(
            "Originate", Channel="Local/5550400@caller-sim", Context="inbound", Exten="5550400", Priority=1
        )
        await h.step(4.0)
        assert not h.user_events("Dialed")
        await h.step(2.0)
        assert [get(p, "Status") for p in h.user_events("Dialed")] == ["NOANSWER"]
        statuses = [get(p, "DialStatus") for p in cli.events("DialEnd") if "1004@" in get(p, "DestChannel")]
        assert "NOANSWER" in statuses
        assert not sim.pbx.calls  # Hangup() ended the channel
        first = next(
            p
            for p in cli.events()
            if get(p, "Event") in ("SoftHangupRequest", "HangupRequest", "Hangup")
            and get(p, "Channel").startswith("Local/5550400@")
        )
        assert (get(first, "Event"), get(first, "Channel")[-2:]) == (
            "SoftHangupRequest",
            ";1",
        )  # ;1 ends first
    finally:
        await cli.close()
        await sim.stop()


async def test_scripted_call_through_the_dialplan(tmp_path: Path) -> None:
    """place_call(context=...) runs the dialplan with the call's script: the caller abandons
    after its patience, an answered one talks for its talk time."""
    sim, cli = await _harness(
        tmp_path, (Path(__file__).parents[1] / "acd" / "sim" / "extensions.conf").read_text()
    )
    h = H(sim, cli)
    try:
        sim.add_agent("support", "1001", "Alice", answer_after=1.0)
        sim.place_call("5551700", "support", talk=4.0, context="inbound")
        sim.place_call("5551701", "support", patience=3.0, context="inbound")
        await h.step(10.0)
        recs = [json.loads(x) for x in (tmp_path / "truth.jsonl").read_text().splitlines()]
        assert sorted((r["caller"], r["outcome"]) for r in recs) == [
            ("5551700", "answered"),
            ("5551701", "abandoned"),
        ]
        with pytest.raises(ValueError, match="no dialplan context"):
            sim.place_call("5551702", "support", context="nowhere")
    finally:
        await cli.close()
        await sim.stop()
