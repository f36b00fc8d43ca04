"""End to end: the very dialplan and personal queues of deploy/asterisk, run by the simulator, with
the whole daemon (AMI, core, writer, routing started as the daemon will start it) over real sockets.

The simulator runs in manual time (``speed=0``): each step advances simulated time, so a 20 s wait
takes no real time. Only the FastAGI port in the shipped dialplan is replaced by a free one.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from acd.core.effects import AffinityDecided, CallFinished
from acd.core.linking import PastCall
from acd.daemon import Daemon
from acd.routing import RoutingHandle, start_routing
from acd.sim import SimConfig, Simulator
from tests.sim_helpers import AmiClient, get
from tests.support.credentials import login
from tests.test_e2e_daemon import daemon_settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "asterisk"
ALICE = "Local/1001@agents"
PERSONAL = "acd-agent-1001"
CALLER = "5551100"

SHARED_QUEUES = """
[general]
shared_lastcall = yes

[support]
strategy = rrmemory
timeout = 15
retry = 1
ringinuse = no
weight = 0
"""

INBOUND = """
[acd-test-in]
exten => _X.,1,Answer()
 same => n,Set(CALLERID(num)=${EXTEN})
 same => n,Set(ACD_QUEUE=support)
 same => n,Goto(acd-route,route,1)
exten => anon,1,Answer()
 same => n,Set(CALLERID(num)=anonymous)
 same => n,Set(ACD_QUEUE=support)
 same => n,Goto(acd-route,route,1)

"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Center:
    sim: Simulator
    cli: AmiClient
    daemon: Daemon | None
    routing: RoutingHandle | None
    records: list[AffinityDecided]

    async def step(self, seconds: float, polls: int = 4) -> None:
        for _ in range(polls):
            await self.sim.advance(seconds / polls)
            await asyncio.sleep(0.02)
        await self.cli.read_for(0.02)

    async def until(self, check: Any, seconds: float = 5.0) -> None:
        for _ in range(int(seconds / 0.05)):
            if check():
                return
            await asyncio.sleep(0.05)

    def cut_off_before(self, number: str = CALLER, agent: str = ALICE, ago: float = 120.0) -> None:
        """A cut-off call of this caller with this agent, as the database would give it at start."""
        assert self.daemon is not None and self.routing is not None
        call = PastCall(
            "0.1",
            "0.1",
            f"tel:{number}",
            "support",
            agent,
            "Alice",
            True,
            True,
            self.daemon.clock.now() - ago,
        )
        self.daemon.core.load_history([call])
        self.routing.seed([call])

    async def call_in(self, exten: str = CALLER) -> None:
        await self.cli.action(
            "Originate", Channel=f"Local/{exten}@caller-sim", Context="acd-test-in", Exten=exten, Priority=1
        )

    def joins(self) -> list[tuple[str, str, str]]:
        return [
            (get(p, "Queue"), get(p, "CallerIDNum"), get(p, "Position"))
            for p in self.cli.events("QueueCallerJoin")
        ]

    def connects(self) -> list[tuple[str, str]]:
        return [(get(p, "Queue"), get(p, "MemberName")) for p in self.cli.events("AgentConnect")]

    def reasons(self) -> list[tuple[str, str]]:
        return [(r.action, r.reason) for r in self.records]

    def user_events(self, name: str) -> list[list[tuple[str, str]]]:
        return [p for p in self.cli.events("UserEvent") if get(p, "UserEvent") == name]


async def open_center(tmp_path: Path, *, daemon: bool = True, **affinity: Any) -> Center:
    agi_port = free_port()
    plan = (
        (DEPLOY / "extensions-acd.conf")
        .read_text()
        .replace("agi://127.0.0.1:4573/", f"agi://127.0.0.1:{agi_port}/")
    )
    (tmp_path / "extensions.conf").write_text(INBOUND + plan)
    (tmp_path / "queues.conf").write_text(SHARED_QUEUES + (DEPLOY / "queues-acd.conf").read_text())
    sim = Simulator(
        SimConfig(
            port=0,
            speed=0,
            traffic=False,
            queues_conf=tmp_path / "queues.conf",
            dialplan=tmp_path / "extensions.conf",
            truth=tmp_path / "truth.jsonl",
            start_epoch=1.8e9,
            seed=5,
            **login(),
        )
    )
    _host, port = await sim.start()
    cli = await AmiClient.connect("127.0.0.1", port)
    await cli.login()
    records: list[AffinityDecided] = []
    center = Center(sim, cli, None, None, records)
    if daemon:
        settings = daemon_settings(tmp_path, port, fastagi={"port": agi_port}, affinity=affinity)
        center.daemon = Daemon(settings)
        center.daemon._sinks.append(lambda e: records.append(e) if isinstance(e, AffinityDecided) else None)
        await center.daemon.start()
        center.routing = await start_routing(center.daemon)
        await center.until(lambda: center.daemon is not None and center.daemon.stats.resyncs >= 1)
    return center


async def close_center(center: Center) -> None:
    if center.routing is not None:
        await center.routing.close()
    if center.daemon is not None:
        await center.daemon.stop()
    await center.cli.close()
    await center.sim.stop()


@pytest.fixture
async def center(tmp_path: Path) -> AsyncIterator[Center]:
    c = await open_center(tmp_path)
    try:
        yield c
    finally:
        await close_center(c)


async def login_alice(c: Center, answer_after: float | None = 1.0) -> None:
    """Alice logs in to support only; acd adds her to her personal queue over AMI."""
    assert c.daemon is not None
    c.sim.add_agent("support", "1001", "Alice", answer_after=answer_after)
    await c.until(lambda: (PERSONAL, ALICE) in c.daemon.core.members)  # type: ignore[union-attr]
    assert (PERSONAL, ALICE) in c.daemon.core.members, "acd mirrored the login into the personal queue"


def caller_channel(c: Center, number: str = CALLER) -> str:
    joined = [get(p, "Channel") for p in c.cli.events("QueueCallerJoin") if get(p, "CallerIDNum") == number]
    return joined[-1]


async def hang_up(c: Center, number: str = CALLER) -> None:
    await c.cli.action("Hangup", Channel=caller_channel(c, number).replace(";1", ";2"), Cause=16)
    await c.step(2.0)


async def settled(c: Center, count: int = 1) -> None:
    await c.until(lambda: len(c.records) >= count, 3.0)


async def test_free_agent_gets_the_callback(center: Center) -> None:
    await login_alice(center)
    center.cut_off_before()
    await center.call_in()
    await center.step(3.0)
    assert center.connects() == [(PERSONAL, "Alice")]
    assert [q for q, _, _ in center.joins()] == [PERSONAL]
    await hang_up(center)
    await settled(center)
    assert center.reasons() == [("offer_now", "original_agent")]
    assert not center.user_events("AcdCallbackContext")


async def test_busy_agent_freed_within_the_wait(center: Center) -> None:
    await login_alice(center)
    center.sim.place_call("5745000", "support", talk=6.0)
    await center.step(3.0)  # Alice is talking
    center.cut_off_before()
    await center.call_in()
    await center.step(2.0)
    assert (PERSONAL, CALLER, "1") in center.joins()
    await center.step(8.0)  # her call ends; app_queue gives her the callback first
    assert center.connects() == [("support", "Alice"), (PERSONAL, "Alice")]
    await hang_up(center)
    await settled(center)
    assert center.reasons() == [("wait_for_agent", "original_agent")]


async def test_busy_agent_never_freed_goes_to_the_queue_at_the_head(center: Center) -> None:
    await login_alice(center)
    center.sim.place_call("5745000", "support")  # Alice busy for good
    await center.step(3.0)
    center.sim.place_call("5745001", "support")  # already waiting in support
    await center.step(1.0)
    center.cut_off_before()
    await center.call_in()
    await center.step(10.0)
    assert [q for q, n, _ in center.joins() if n == CALLER] == [PERSONAL]
    await center.step(12.0)  # the bounded wait: min(30 s, service level 20 s)
    assert (("support", CALLER, "1")) in center.joins()  # QUEUE_PRIO: ahead of 5745001
    await settled(center)
    assert center.reasons() == [("wait_for_agent", "fallback_busy_timeout")]
    await center.cli.read_for(0.2)
    told = center.user_events("AcdCallbackContext")
    assert [(get(p, "PrevAgent"), get(p, "Reason")) for p in told] == [(ALICE, "fallback_busy_timeout")]
    assert get(told[0], "CallerChannel") == caller_channel(center)


async def test_paused_agent_is_skipped_at_once(center: Center) -> None:
    await login_alice(center)
    await center.cli.action("QueuePause", Interface=ALICE, Paused="true", Reason="lunch")
    await center.step(1.0)
    center.cut_off_before()
    await center.call_in()
    await center.step(1.0)
    assert [q for q, _, _ in center.joins()] == ["support"]
    await settled(center)
    assert center.reasons() == [("queue", "fallback_unavailable")]
    await center.cli.read_for(0.2)
    told = center.user_events("AcdCallbackContext")
    assert [(get(p, "PrevAgent"), get(p, "PrevAgentName"), get(p, "Reason")) for p in told] == [
        (ALICE, "Alice", "fallback_unavailable")
    ]


async def test_agent_who_does_not_answer_is_rung_once(center: Center) -> None:
    await login_alice(center, answer_after=None)
    center.cut_off_before()
    await center.call_in()
    await center.step(14.0)
    await center.step(4.0, polls=16)  # one ring of 15 s, no answer: Queue()'s `n` ends the leg
    called = [get(p, "Queue") for p in center.cli.events("AgentCalled") if get(p, "Queue") == PERSONAL]
    assert called == [PERSONAL]
    assert [q for q, n, _ in center.joins() if n == CALLER] == [PERSONAL, "support"]
    status = [get(p, "Value") for p in center.cli.events("VarSet") if get(p, "Variable") == "QUEUESTATUS"]
    # app_queue leaves on the time-out cycle (`n`) before acd's QueueWithdrawCaller can, and well
    # before the 17 s wait runs out; the withdrawal stays the backstop for a ring that outlasts it
    assert status[:1] == ["TIMEOUT"]
    await settled(center)
    assert center.reasons() == [("offer_now", "fallback_no_answer")]
    assert (
        center.routing is not None and center.routing.edge.actions_failed == 0
    )  # a late withdraw is no failure


async def test_anonymous_caller_goes_to_the_queue(center: Center) -> None:
    await login_alice(center)
    center.cut_off_before()
    await center.call_in("anon")
    await center.step(1.0)
    assert [q for q, _, _ in center.joins()] == ["support"]
    await settled(center)
    assert center.reasons() == [("queue", "ineligible")]


async def test_daemon_down_the_dialplan_falls_through_to_the_queue(tmp_path: Path) -> None:
    c = await open_center(tmp_path, daemon=False)
    try:
        c.sim.add_agent("support", "1001", "Alice", answer_after=1.0)
        await c.call_in()
        await c.step(3.0)
        assert [q for q, _, _ in c.joins()] == ["support"]  # refused AGI: straight to the shared queue
        assert c.connects() == [("support", "Alice")]
    finally:
        await close_center(c)


async def wait_in_personal_queue(c: Center) -> None:
    """Alice busy for good in support, the callback waiting for her in her personal queue."""
    await login_alice(c)
    c.sim.place_call("5745000", "support")
    await c.step(3.0)
    c.cut_off_before()
    await c.call_in()
    await c.step(2.0)
    assert [q for q, n, _ in c.joins() if n == CALLER] == [PERSONAL]


async def test_agent_logging_out_while_the_caller_waits_sends_them_on(center: Center) -> None:
    await wait_in_personal_queue(center)
    await center.cli.action("QueueRemove", Queue="support", Interface=ALICE)  # acd mirrors it
    await center.step(2.0)
    assert [q for q, n, _ in center.joins() if n == CALLER] == [PERSONAL, "support"]
    await settled(center)
    assert center.reasons() == [("wait_for_agent", "fallback_unavailable")]


async def test_agent_pausing_while_the_caller_waits_sends_them_on(center: Center) -> None:
    await wait_in_personal_queue(center)
    await center.cli.action("QueuePause", Queue="support", Interface=ALICE, Paused="true", Reason="lunch")
    await center.step(2.0)  # paused in every shared queue: acd pauses her personal queue too
    assert [q for q, n, _ in center.joins() if n == CALLER] == [PERSONAL, "support"]
    await settled(center)
    assert center.reasons() == [("wait_for_agent", "fallback_unavailable")]


async def test_callback_after_the_window_is_an_ordinary_call(center: Center) -> None:
    await login_alice(center)
    center.cut_off_before(ago=3700.0)  # the callback window is 60 min
    await center.call_in()
    await center.step(3.0)
    assert [q for q, _, _ in center.joins()] == ["support"]
    await settled(center)
    assert center.reasons() == [("queue", "no_history")]


async def test_freed_agent_takes_the_callback_before_a_waiting_queue_caller(center: Center) -> None:
    await login_alice(center)
    center.sim.place_call("5745000", "support", talk=8.0)
    await center.step(2.0)
    center.sim.place_call("5745001", "support")  # waiting in support before the callback arrives
    await center.step(1.0)
    center.cut_off_before()
    await center.call_in()
    await center.step(10.0)
    assert center.connects() == [("support", "Alice"), (PERSONAL, "Alice")]  # no ring for 5745001
    rung = [get(p, "CallerIDNum") for p in center.cli.events("AgentCalled")]
    assert "5745001" not in rung


async def test_acd_stopped_while_a_caller_waits_leaves_nothing_stuck(center: Center) -> None:
    await wait_in_personal_queue(center)
    assert center.routing is not None and center.daemon is not None
    await center.routing.close()
    await center.daemon.stop()
    center.routing = center.daemon = None
    await center.step(20.0)  # the wait bound is Asterisk's own: the caller moves on without acd
    assert [q for q, n, _ in center.joins() if n == CALLER] == [PERSONAL, "support"]
    paused = [p for p in center.cli.events("QueueMemberPause") if get(p, "Paused") == "1"]
    assert paused == []  # nothing was reserved, so nothing is left paused


async def test_shadow_mode_records_without_changing_the_call(tmp_path: Path) -> None:
    c = await open_center(tmp_path, shadow=True)
    try:
        await login_alice(c)
        c.cut_off_before()
        await c.call_in()
        await c.step(3.0)
        assert [q for q, _, _ in c.joins()] == ["support"]  # as without acd
        assert c.connects() == [("support", "Alice")]
        await settled(c)
        assert [(r.action, r.reason, r.shadow) for r in c.records] == [("offer_now", "original_agent", True)]
    finally:
        await close_center(c)


async def test_two_callbacks_for_the_same_agent(center: Center) -> None:
    await login_alice(center)
    center.sim.place_call("5745000", "support", talk=5.0)
    await center.step(2.0)
    center.cut_off_before()
    center.cut_off_before(number="5551200")
    await center.call_in()
    await center.step(1.0)
    await center.call_in("5551200")
    await center.step(1.0)
    assert [(q, n) for q, n, _ in center.joins() if q == PERSONAL] == [
        (PERSONAL, CALLER),
        (PERSONAL, "5551200"),
    ]
    await center.step(6.0)  # Alice frees: the first callback gets her, the second keeps waiting
    assert center.connects() == [("support", "Alice"), (PERSONAL, "Alice")]
    connected = [
        get(p, "CallerIDNum") for p in center.cli.events("AgentConnect") if get(p, "Queue") == PERSONAL
    ]
    assert connected == [CALLER]
    await center.step(16.0)  # she stays busy: the second one's wait runs out, on to the shared queue
    assert (("support", "5551200", "1")) in center.joins()
    await center.until(lambda: len(center.records) >= 1, 3.0)
    assert ("wait_for_agent", "fallback_busy_timeout") in center.reasons()


async def test_slow_daemon_still_sends_the_caller_on_within_the_deadline(center: Center) -> None:
    assert center.routing is not None
    await login_alice(center)
    center.cut_off_before()
    service = center.routing.service
    real = service.decide

    def slow(request: Any) -> Any:
        time.sleep(2.0)  # the decision takes far longer than the 500 ms deadline
        return real(request)

    service.decide = slow  # type: ignore[method-assign]
    started = time.monotonic()
    await center.call_in()
    for _ in range(40):
        await center.step(0.05, polls=1)
        if center.joins():
            break
    assert center.joins() and center.joins()[0][0] == "support"
    assert time.monotonic() - started < 1.0  # 500 ms deadline, then straight to the shared queue
    assert center.routing.server.stats.late == 1


HUNG = """
import sys, time
from acd.routing.fastagi import FastAgiServer, Reply
reply = Reply((("ACD_ROUTE", "queue"),))
srv = FastAgiServer("127.0.0.1", int(sys.argv[1]), 500, lambda r: reply, lambda r, w: reply)
srv.start()
print("ready", file=sys.stderr, flush=True)
time.sleep(60)
"""


async def test_wholly_hung_process_is_the_watchdogs(tmp_path: Path) -> None:
    """A frozen acd (SIGSTOP: no thread runs) holds a connected caller in silence, as Asterisk waits
    for a connected script forever; systemd's watchdog kills it after WatchdogSec (here 1 s), the
    connection drops, and the dialplan goes on to the shared queue."""
    c = await open_center(tmp_path, daemon=False)
    port = int((tmp_path / "extensions.conf").read_text().split("agi://127.0.0.1:", 1)[1].split("/", 1)[0])
    proc = subprocess.Popen(
        [sys.executable, "-c", HUNG, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).parent.parent,
    )
    try:
        assert proc.stderr is not None and proc.stderr.readline().strip() == b"ready"
        os.kill(proc.pid, signal.SIGSTOP)
        c.sim.add_agent("support", "1001", "Alice", answer_after=1.0)
        await c.call_in()
        for _ in range(10):
            await c.step(0.1, polls=1)
        assert c.joins() == []  # held: the script is connected and never answers
        proc.kill()  # the watchdog's SIGABRT/SIGKILL after WatchdogSec
        proc.wait(5)
        for _ in range(20):
            await c.step(0.1, polls=1)
            if c.joins():
                break
        assert [q for q, _, _ in c.joins()] == ["support"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        await close_center(c)


async def test_daemon_restarted_between_cut_off_and_callback(tmp_path: Path) -> None:
    """The cut-off is seen and written by one daemon; a new one, started from the same database,
    routes the callback: the routing history is loaded from storage at start."""
    c = await open_center(tmp_path)
    try:
        await login_alice(c)
        c.sim.place_call(CALLER, "support", talk=3.0, ending="agent_cut", cause=41)
        await c.step(8.0)
        assert c.connects() == [("support", "Alice")]
        assert c.daemon is not None and c.routing is not None
        await c.until(lambda: c.daemon is not None and not c.daemon.core.entries, 3.0)
        await c.routing.close()
        await c.daemon.stop()  # the cut-off call's row is flushed on the way out
        settings = c.daemon.settings
        c.daemon = Daemon(settings)
        c.daemon._sinks.append(lambda e: c.records.append(e) if isinstance(e, AffinityDecided) else None)
        await c.daemon.start()
        c.routing = await start_routing(c.daemon)
        await c.until(lambda: c.daemon is not None and c.daemon.stats.resyncs >= 1)
        await c.step(1.0)
        await c.call_in()
        await c.step(3.0)
        assert c.connects()[-1] == (PERSONAL, "Alice")
        await hang_up(c)
        await settled(c)
        assert c.reasons() == [("offer_now", "original_agent")]
        assert c.records[0].callback_of is not None
        await c.routing.close()
        await c.daemon.stop()
        c.routing = c.daemon = None
        db = sqlite3.connect(tmp_path / "acd.db")
        try:
            decisions = db.execute(
                "select uniqueid, action, reason, shadow from routing_decisions"
            ).fetchall()
            routed = db.execute("select queue, routing from calls where routing is not null").fetchall()
        finally:
            db.close()
        uid = c.records[0].uniqueid
        assert decisions == [(uid, "offer_now", "original_agent", 0)]  # written by the daemon's writer
        assert (PERSONAL, "original_agent") in routed
    finally:
        await close_center(c)


TRAFFIC_IN = """
[inbound]
exten => _X.,1,Answer()
 same => n,Set(ACD_QUEUE=${SIM_QUEUE})
 same => n,Goto(acd-route,route,1)

"""


@dataclass
class TrafficRun:
    records: list[AffinityDecided]
    finished: list[CallFinished]
    truth: dict[str, dict[str, Any]]


async def run_traffic(tmp_path: Path, **affinity: Any) -> TrafficRun:
    """160 callers, a third of the answered ones cut off and most of those calling back, all
    through the shipped dialplan, with the daemon and routing running."""
    from acd.asterisk_config import from_settings, render_queues
    from acd.settings import Settings

    agi_port = free_port()
    plan = (
        (DEPLOY / "extensions-acd.conf")
        .read_text()
        .replace("agi://127.0.0.1:4573/", f"agi://127.0.0.1:{agi_port}/")
    )
    (tmp_path / "extensions.conf").write_text(TRAFFIC_IN + plan)
    agents = [f"Local/{1001 + i}@agents" for i in range(4)]
    personal = render_queues(from_settings(Settings(), agents))
    sim_queues = (Path(__file__).resolve().parent.parent / "acd" / "sim" / "queues.conf").read_text()
    (tmp_path / "queues.conf").write_text(sim_queues.replace("wrapuptime = 5", "wrapuptime = 0") + personal)
    sim = Simulator(
        SimConfig(
            port=0,
            speed=float("inf"),
            seed=21,
            queues=["support"],
            queues_conf=tmp_path / "queues.conf",
            dialplan=tmp_path / "extensions.conf",
            truth=tmp_path / "truth.jsonl",
            start_epoch=1.8e9,
            hold_until_login=True,
            rate_per_min=3.0,
            agents=4,
            max_calls=160,
            cutoff_share=0.3,
            callback_share=0.9,
            repeat_share=0.0,
            pause_share=0.05,
            patience_mean=600.0,
            talk_mean=40.0,
            **login(),
        )
    )
    _host, port = await sim.start()
    run = TrafficRun([], [], {})
    daemon = Daemon(daemon_settings(tmp_path, port, fastagi={"port": agi_port}, affinity=affinity))
    daemon._sinks.append(lambda e: run.records.append(e) if isinstance(e, AffinityDecided) else None)
    daemon._sinks.append(lambda e: run.finished.append(e) if isinstance(e, CallFinished) else None)
    routing = await start_routing(daemon)  # before AMI connects: traffic starts at the login
    daemon.routing = routing  # type: ignore[attr-defined]  # what Daemon.start will find
    await daemon.start()
    try:
        await sim.wait_calls_done(300)
        for _ in range(100):
            if not daemon.queue and not daemon.core.entries and not routing.edge.tracker.open:
                break
            await asyncio.sleep(0.1)
    finally:
        await routing.close()
        await daemon.stop()
        await sim.stop()
    lines = (tmp_path / "truth.jsonl").read_text().splitlines()
    run.truth = {r["id"]: r for r in (json.loads(x) for x in lines)}
    return run


@pytest.mark.slow
async def test_traffic_every_decision_agrees_with_what_the_simulator_did(tmp_path: Path) -> None:
    """A center with cut-offs and callbacks, every caller through the shipped dialplan: each
    recorded reason matches what happened to the caller in the simulator's truth, and every
    callback the simulator knows of was recognised by acd."""
    run = await run_traffic(tmp_path)
    records, finished, truth = run.records, run.finished, run.truth
    problems = []
    for rec in records:
        first = truth.get(rec.call_ids[0]) if rec.call_ids else None
        if first is None:
            problems.append(f"{rec.uniqueid}: {rec.reason} but no truth for {rec.call_ids}")
            continue
        entered_personal = first["queue"].startswith("acd-agent-")
        if rec.reason == "original_agent":
            ok = entered_personal and first["outcome"] == "answered" and first["agent"] == rec.agent_name
        elif rec.reason in ("fallback_busy_timeout", "fallback_no_answer"):
            ok = entered_personal and first["outcome"] == "exited"
        elif rec.reason == "fallback_unavailable":
            ok = first["outcome"] == "exited" if entered_personal else first["queue"] == rec.queue
        elif rec.reason == "abandoned":
            ok = entered_personal and first["outcome"] == "abandoned"
        else:  # no_history, ineligible: straight to the shared queue
            ok = not entered_personal and first["queue"] == rec.queue
        if not ok:
            problems.append(f"{rec.uniqueid}: {rec.action}/{rec.reason} vs truth {first}")
    assert problems == []
    by_uid = {r.uniqueid: r for r in records}
    callbacks = [t for t in truth.values() if t["callback_of"] and "#" not in t["id"]]
    assert len(callbacks) >= 5, "the run must exercise callbacks"
    missed = [
        t["id"]
        for t in callbacks
        if by_uid.get(t["id"]) is None or by_uid[t["id"]].reason in ("no_history", "ineligible")
    ]
    assert missed == []
    # While a callback waited for its agent, that agent was not rung for a shared-queue call:
    # app_queue holds them for the heavier personal queue (rings come from AgentCalled).
    rings = [
        (o.agent, o.rang_at, c.record.id)
        for c in finished
        if not c.record.queue.startswith("acd-agent-")
        for o in c.record.offers
    ]
    for rec in records:
        if rec.reason != "fallback_busy_timeout":
            continue
        p = truth[rec.call_ids[0]]
        start, end = p["joined_at"], p["joined_at"] + p["wait_seconds"]
        # a ring that began at the very instant the callback joined or left is the race app_queue
        # settles either way (truth times are rounded to the millisecond)
        took = [cid for agent, at, cid in rings if agent == rec.agent and start + 0.01 < at < end - 0.01]

        assert took == [], f"{rec.agent} rung for {took} while callback {rec.uniqueid} waited for them"
    reasons = Counter(r.reason for r in records)
    firsts = [t["id"] for t in truth.values() if "#" not in t["id"]]
    assert sorted(firsts) == sorted(by_uid) and len(records) == len(by_uid)  # one record per caller
    assert reasons["original_agent"] >= 3 and reasons["no_history"] >= 50


@pytest.mark.slow
async def test_traffic_in_shadow_mode_records_and_changes_no_call(tmp_path: Path) -> None:
    run = await run_traffic(tmp_path, shadow=True)
    assert not [t for t in run.truth.values() if t["queue"].startswith("acd-agent-")]  # as without acd
    firsts = sorted(t["id"] for t in run.truth.values() if "#" not in t["id"])
    assert sorted(r.uniqueid for r in run.records) == firsts  # every caller decided, once
    assert all(r.shadow for r in run.records)
    by_uid = {r.uniqueid: r for r in run.records}
    callbacks = [t["id"] for t in run.truth.values() if t["callback_of"] and "#" not in t["id"]]
    assert len(callbacks) >= 5
    assert all(by_uid[c].reason not in ("no_history", "ineligible") for c in callbacks)
    assert {by_uid[c].action for c in callbacks} >= {"offer_now"}  # what acd would have done
