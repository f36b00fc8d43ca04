"""app_queue behaviour the simulator must show, checked on the AMI stream it sends.

Templates alone cannot pass these: they need the model to pick members the way app_queue does.
The clock is manual (speed 0), so each case is deterministic.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from acd.sim import SimConfig, Simulator
from acd.sim.conf_parser import ConfError, parse_conf
from acd.sim.config import load_queues_conf
from tests.sim_helpers import FIXTURES, AmiClient, Driven, get

QUEUES = """
[general]
shared_lastcall = yes

[support]
strategy = rrmemory
timeout = 15
retry = 5
wrapuptime = 0
ringinuse = no
weight = 0

[ring]
strategy = ringall
timeout = 15
retry = 5
ringinuse = no

[vip]
strategy = ringall
timeout = 15
retry = 1
ringinuse = no
weight = 10
"""


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Driven]:
    conf = tmp_path / "queues.conf"
    conf.write_text(QUEUES)
    sim = Simulator(SimConfig(port=0, speed=0, traffic=False, queues_conf=conf, start_epoch=1.8e9, seed=1))
    host, port = await sim.start()
    cli = await AmiClient.connect(host, port)
    await cli.login()
    try:
        yield Driven(sim, cli, read=0.01)
    finally:
        await cli.close()
        await sim.stop()


async def test_paused_member_is_never_rung(h: Driven) -> None:
    h.sim.add_agent("support", "1001", "Alice", answer_after=1.0)
    h.sim.add_agent("support", "1002", "Bob", answer_after=1.0, paused=True, reason="lunch")
    for i in range(4):
        h.sim.place_call(f"55500{i}", "support", talk=2.0)
        await h.step(10.0)
    assert h.called() and all(name == "Alice" for _, name in h.called())


async def test_member_in_a_call_is_not_rung_with_ringinuse_no(h: Driven) -> None:
    h.sim.add_agent("support", "1001", "Alice", answer_after=1.0)
    h.sim.add_agent("support", "1002", "Bob", answer_after=1.0)
    h.sim.place_call("5550001", "support")  # talks until hung up
    await h.step(3.0)
    h.sim.place_call("5550002", "support")
    await h.step(3.0)
    h.sim.place_call("5550003", "support", patience=30.0)
    await h.step(29.0)
    assert h.called() == [("5550001", "Alice"), ("5550002", "Bob")]
    assert not h.cli.events("QueueCallerAbandon")
    await h.step(2.0)
    assert [get(p, "CallerIDNum") for p in h.cli.events("QueueCallerAbandon")] == ["5550003"]


async def test_rrmemory_rotates(h: Driven) -> None:
    for ext, name in (("1001", "Alice"), ("1002", "Bob"), ("1003", "Carol")):
        h.sim.add_agent("support", ext, name, answer_after=1.0)
    for i in range(5):
        h.sim.place_call(f"55510{i}", "support", talk=2.0)
        await h.step(5.0)
    assert [name for _, name in h.called()] == ["Alice", "Bob", "Carol", "Alice", "Bob"]


async def test_ringall_rings_all_and_cancels_the_others(h: Driven) -> None:
    h.sim.add_agent("ring", "1001", "Alice", answer_after=3.0)
    h.sim.add_agent("ring", "1002", "Bob", answer_after=1.0)
    h.sim.add_agent("ring", "1003", "Carol", answer_after=None)
    h.sim.place_call("5552000", "ring", talk=5.0)
    await h.step(2.0)
    assert sorted(name for _, name in h.called()) == ["Alice", "Bob", "Carol"]
    connect = h.cli.events("AgentConnect")
    assert [get(p, "MemberName") for p in connect] == ["Bob"]
    cancelled = [get(p, "DestChannel") for p in h.cli.events("DialEnd") if get(p, "DialStatus") == "CANCEL"]
    assert any("1001@agents" in c for c in cancelled) and any("1003@agents" in c for c in cancelled)
    assert not h.cli.events("AgentRingNoAnswer")


async def test_heavier_queue_wins_a_shared_member(h: Driven) -> None:
    h.sim.add_agent("support", "1001", "Alice", answer_after=1.0)
    h.sim.add_agent("vip", "1001", "Alice", answer_after=1.0)
    first = h.sim.place_call("5553000", "support", talk=10.0)
    await h.step(2.0)
    h.sim.place_call("5553001", "support")  # waits first...
    await h.step(1.0)
    h.sim.place_call("5553002", "vip")  # ...but the heavier queue's caller gets Alice
    await h.step(20.0)
    assert first.state == "done"
    assert h.called()[:2] == [("5553000", "Alice"), ("5553002", "Alice")]


async def test_abandon_only_while_waiting(h: Driven) -> None:
    h.sim.add_agent("support", "1001", "Alice", answer_after=1.0)
    h.sim.place_call("5554000", "support", patience=5.0, talk=20.0)
    await h.step(30.0)
    assert not h.cli.events("QueueCallerAbandon")
    assert [get(p, "Reason") for p in h.cli.events("AgentComplete")] == ["caller"]


async def test_ring_no_answer_then_retry_next_member(h: Driven) -> None:
    h.sim.add_agent("support", "1001", "Alice", answer_after=None)
    h.sim.add_agent("support", "1002", "Bob", answer_after=1.0)
    h.sim.place_call("5555000", "support", talk=3.0)
    await h.step(14.0)
    assert not h.cli.events("AgentRingNoAnswer")
    await h.step(1.5)
    rna = h.cli.events("AgentRingNoAnswer")
    assert [(get(p, "MemberName"), get(p, "RingTime")) for p in rna] == [("Alice", "15000")]
    await h.step(10.0)
    assert [get(p, "MemberName") for p in h.cli.events("AgentConnect")] == ["Bob"]


async def test_queuestatus_shows_waiting_caller_and_busy_member(h: Driven) -> None:
    h.sim.add_agent("support", "1001", "Alice", answer_after=1.0)
    h.sim.place_call("5556000", "support")
    await h.step(2.0)
    h.sim.place_call("5556001", "support")
    await h.step(3.0)
    await h.cli.action("QueueStatus", Queue="support")
    entries = h.cli.events("QueueEntry")
    assert [(get(p, "CallerIDNum"), get(p, "Wait")) for p in entries] == [("5556001", "3")]
    members = h.cli.events("QueueMember")
    assert [(get(p, "Name"), get(p, "Status"), get(p, "InCall")) for p in members] == [("Alice", "2", "1")]


async def test_listcommands_follows_write_classes(h: Driven) -> None:
    ro = await AmiClient.connect(h.sim.server.host, h.sim.server.port)
    await ro.login("ro", "rosecret")
    got = await ro.action("ListCommands")
    keys = {k for k, _ in got}
    assert "Ping" in keys and "QueueStatus" in keys
    assert "QueueAdd" not in keys and "Originate" not in keys
    full = await h.cli.action("ListCommands")
    assert dict(full)["QueueAdd"].endswith("(Priv: agent,all)")
    await ro.close()


async def test_events_off_and_timestamps(tmp_path: Path) -> None:
    sim = Simulator(SimConfig(port=0, speed=0, traffic=False, start_epoch=1.8e9, timestampevents=True))
    host, port = await sim.start()
    try:
        quiet = await AmiClient.connect(host, port)
        await quiet.action("Login", Username="acd", Secret="acdsecret", Events="off")
        loud = await AmiClient.connect(host, port)
        await loud.login()
        sim.add_agent("support", "1001", "Alice")
        await sim.advance(1.0)
        await quiet.read_for(0.05)
        await loud.read_for(0.05)
        assert not quiet.events()
        added = loud.events("QueueMemberAdded")
        assert added and get(added[0], "Timestamp") == "1800000000.000000"
        assert [k for k, _ in added[0]][:3] == ["Event", "Privilege", "Timestamp"]
        await quiet.close()
        await loud.close()
    finally:
        await sim.stop()


def test_conf_reader_runs_generated_weighted_queues() -> None:
    base = "[support]\nstrategy = rrmemory\nweight = 5\n"
    text = base + (FIXTURES / "weighted-queues" / "queues.conf").read_text()
    secs = {s.name: s for s in parse_conf(text, "queues.conf")}
    assert secs["support"].get("weight") == "0"  # the (+) section overrides
    assert secs["acd-agent-1001"].get("weight") == "10"  # inherited from the template
    assert secs["acd-agent-template"].template


def test_conf_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "queues.conf"
    bad.write_text("[support]\nstrategy = roundrobin-ish\n")
    with pytest.raises(ConfError, match=r"queues.conf \[support\] strategy"):
        load_queues_conf(bad)
    with pytest.raises(ConfError, match=r"x.conf:2: expected 'key = value'"):
        parse_conf("[a]\nnonsense\n", "x.conf")


async def test_joinempty_and_leavewhenempty(tmp_path: Path) -> None:
    conf = tmp_path / "queues.conf"
    conf.write_text("[q]\nstrategy = ringall\njoinempty = paused\nleavewhenempty = paused\n")
    truth = tmp_path / "truth.jsonl"
    sim = Simulator(
        SimConfig(port=0, speed=0, traffic=False, queues_conf=conf, truth=truth, start_epoch=1.8e9)
    )
    host, port = await sim.start()
    cli = await AmiClient.connect(host, port)
    await cli.login()
    try:
        sim.add_agent("q", "1001", "Alice", answer_after=None, paused=True, reason="lunch")
        sim.place_call("5557000", "q")  # only a paused member: JOINEMPTY, no queue entry
        await sim.advance(1.0)
        await cli.read_for(0.02)
        assert not cli.events("QueueCallerJoin") and not sim.pbx.calls
        await cli.action("QueuePause", Interface="Local/1001@agents", Paused="false")
        sim.place_call("5557001", "q")
        await sim.advance(1.0)
        await cli.action("QueuePause", Interface="Local/1001@agents", Paused="true", Reason="gone")
        await sim.advance(1.0)
        await cli.read_for(0.02)
        assert [get(p, "CallerIDNum") for p in cli.events("QueueCallerLeave")] == ["5557001"]
        assert not sim.pbx.calls
        import json

        recs = [json.loads(x) for x in truth.read_text().splitlines()]
        assert [(r["caller"], r["outcome"], r["ended_by"]) for r in recs] == [("5557001", "exited", "system")]
    finally:
        await cli.close()
        await sim.stop()


async def test_actions_take_time_so_a_pause_can_lose_the_race(tmp_path: Path) -> None:
    """With action latency, a QueuePause sent while a caller arrives lands after the member
    was rung: the race the daemon must handle happens here too."""
    conf = tmp_path / "queues.conf"
    conf.write_text(QUEUES)
    sim = Simulator(SimConfig(port=0, speed=0, traffic=False, queues_conf=conf, action_latency=0.05))
    host, port = await sim.start()
    cli = await AmiClient.connect(host, port)
    await cli.login()
    try:
        sim.add_agent("support", "1001", "Alice", answer_after=5.0)
        aid = cli.send("QueuePause", Interface="Local/1001@agents", Paused="true", Reason="acd")
        await asyncio.sleep(0.05)
        sim.place_call("5558800", "support")  # arrives before the pause is worked off
        await sim.advance(0.1)
        await cli.read_for(0.05)
        order = [get(p, "Event") or get(p, "ActionID") for p in cli.messages]
        assert order.index("AgentCalled") < order.index(aid) < order.index("QueueMemberPause")
    finally:
        await cli.close()
        await sim.stop()
