"""End to end: the very dialplan and personal queues of deploy/asterisk, run by the simulator, with
the whole daemon (AMI, core, writer, routing lookup) over real sockets.

The simulator runs in manual time (``speed=0``): each step advances simulated time, so a 20 s wait
takes no real time; its ``CURL()`` runs in wall time under the dialplan's bound, as Asterisk's does.
Only the lookup port in the shipped dialplan is replaced by a free one.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from acd.core.caller_history import PastCall
from acd.core.effects import AffinityDecided, CallFinished
from acd.daemon import Daemon
from acd.routing import RoutingHandle
from acd.sim import SimConfig, Simulator
from tests.lookup_client import lookup
from tests.sim_helpers import SHARED_QUEUES, AmiClient, drive, get
from tests.support.credentials import login
from tests.support.ports import free_port
from tests.support.simulated import fast_center
from tests.support.waiting import DEADLINE, eventually, until
from tests.test_e2e_daemon import daemon_settings
from tests.test_e2e_signals import Daemon as DaemonProcess

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "asterisk"
ALICE = "Local/1001@agents"
PERSONAL = "acd-agent-1001"
CALLER = "5551100"


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
exten => cid,1,Answer()
 same => n,Set(CALLERID(num)=${CID})
 same => n,Set(ACD_QUEUE=support)
 same => n,Goto(acd-route,route,1)

"""
SHIPPED_LOOKUP = "http://127.0.0.1:8081/"


@dataclass
class Center:
    sim: Simulator
    cli: AmiClient
    daemon: Daemon | None
    routing: RoutingHandle | None
    records: list[AffinityDecided]
    ami_port: int = 0

    async def step(self, seconds: float, polls: int = 4) -> None:
        await drive(self.sim, self.cli, seconds, polls=polls, pause=0.02)

    async def until(self, check: Any, seconds: float = DEADLINE) -> None:
        """Wait up to ``seconds`` for ``check``; the test's asserts judge what came of it."""
        await until(check, seconds, interval=0.05, fail=False)

    async def seen(self, check: Any, seconds: float = 10.0) -> None:
        """Read AMI until ``check`` holds (up to ``seconds``), the simulated clock still: for what
        acd does over AMI in wall time (mirroring a pause, withdrawing a caller) after a step."""
        deadline = time.monotonic() + seconds
        while not check() and time.monotonic() < deadline:
            await self.cli.read_for(0.01)

    async def acd_sees(self, state: str, queue: str | None = None, agent: str = ALICE) -> None:
        """Wait until acd's routing view has ``agent`` in ``state`` (overall, or in ``queue``): the
        daemon reads AMI in wall time, and a lookup before it caught up would decide from the
        state before."""
        assert self.daemon is not None
        core = self.daemon.core

        def now_in() -> bool:
            view = core.view.current.agents.get(agent)
            if view is None:
                return False
            return (view.overall if queue is None else view.queues.get(queue)) == state

        await until(now_in, what=f"acd seeing {agent} {state}", describe=lambda: core.view.current.agents)

    def cut_off_before(self, number: str = CALLER, agent: str = ALICE, ago: float = 120.0) -> None:
        """A cut-off call of this caller with this agent, as the database would give it at start."""
        assert self.daemon is not None
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

    async def call_in(self, exten: str = CALLER, **variables: str) -> None:
        """Call in and wait (in wall time, the simulated clock still) until the caller joined a
        queue: the dialplan's lookup runs in wall time, and simulated time moved on before the
        caller is queued would shift every later ring and answer of the test."""
        before = len(self.cli.events("QueueCallerJoin"))
        await self.originate(exten, **variables)

        async def joined() -> bool:
            await self.cli.read_for(0.01)
            return len(self.cli.events("QueueCallerJoin")) > before

        await eventually(joined, what=f"{exten} joining a queue", interval=0.0)

    async def originate(self, exten: str = CALLER, **variables: str) -> None:
        extra = {"Variable": ",".join(f"{k}={v}" for k, v in variables.items())} if variables else {}
        await self.cli.action(
            "Originate",
            Channel=f"Local/{exten}@caller-sim",
            Context="acd-test-in",
            Exten=exten,
            Priority=1,
            **extra,
        )

    async def call_in_still(self, exten: str = CALLER) -> str:
        """Call in with the simulated clock still; the queue of the caller's next QueueCallerJoin
        ("" if none within the deadline). With no simulated time passing, only the lookup's answer
        or CURL()'s own wall-time bound can move the caller on; which of the two did, the
        asterisk log says (``lookup_log``). How many wall seconds it took is no test's business:
        on a loaded machine the test's own loop may be late to look."""
        before = len([n for _, n, _ in self.joins() if n == exten])
        await self.originate(exten)
        await self.seen(lambda: len([n for _, n, _ in self.joins() if n == exten]) > before)
        mine = [q for q, n, _ in self.joins() if n == exten]
        return mine[before] if len(mine) > before else ""

    def lookup_log(self, caller: str = CALLER) -> list[str]:
        """What Asterisk logged about this caller's routing lookup (a time-out, a refused connect)."""
        return [
            text
            for level, text in self.sim.asterisk_log
            if level == "WARNING" and f"/route?queue=support&caller={caller}" in text
        ]

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


def shipped_dialplan(lookup_port: int) -> str:
    plan = (DEPLOY / "extensions-acd.conf").read_text()
    assert SHIPPED_LOOKUP in plan
    return plan.replace(SHIPPED_LOOKUP, f"http://127.0.0.1:{lookup_port}/")


async def open_center(
    tmp_path: Path, *, daemon: bool = True, lookup_port: int = 0, **affinity: Any
) -> Center:
    lookup_port = lookup_port or free_port()
    plan = shipped_dialplan(lookup_port)
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
    center = Center(sim, cli, None, None, records, port)
    if daemon:
        settings = daemon_settings(tmp_path, port, routing={"port": lookup_port}, affinity=affinity)
        center.daemon = Daemon(settings)
        center.daemon._sinks.append(lambda e: records.append(e) if isinstance(e, AffinityDecided) else None)
        await center.daemon.start()
        center.routing = center.daemon.routing
        await center.until(lambda: center.daemon is not None and center.daemon.stats.resyncs >= 1)
    return center


async def close_center(center: Center) -> None:
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
    await c.until(lambda: (PERSONAL, ALICE) in c.daemon.core.registry.members)  # type: ignore[union-attr]
    assert (PERSONAL, ALICE) in c.daemon.core.registry.members, (
        "acd mirrored the login into the personal queue"
    )


def caller_channel(c: Center, number: str = CALLER) -> str:
    joined = [get(p, "Channel") for p in c.cli.events("QueueCallerJoin") if get(p, "CallerIDNum") == number]
    return joined[-1]


async def hang_up(c: Center, number: str = CALLER) -> None:
    await c.cli.action("Hangup", Channel=caller_channel(c, number).replace(";1", ";2"), Cause=16)
    await c.step(2.0)


async def settled(c: Center, count: int = 1) -> None:
    await c.until(lambda: len(c.records) >= count)


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
    await center.acd_sees("in_call")
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
    await center.acd_sees("in_call")
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
    await center.acd_sees("paused", "support")
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
    await c.acd_sees("in_call")
    c.cut_off_before()
    await c.call_in()
    await c.step(2.0)
    assert [q for q, n, _ in c.joins() if n == CALLER] == [PERSONAL]


async def test_agent_logging_out_while_the_caller_waits_sends_them_on(center: Center) -> None:
    await wait_in_personal_queue(center)
    await center.cli.action("QueueRemove", Queue="support", Interface=ALICE)  # acd mirrors it
    await center.step(2.0)
    await center.seen(lambda: len([n for _, n, _ in center.joins() if n == CALLER]) >= 2)
    assert [q for q, n, _ in center.joins() if n == CALLER] == [PERSONAL, "support"]
    await settled(center)
    assert center.reasons() == [("wait_for_agent", "fallback_unavailable")]


async def test_agent_pausing_while_the_caller_waits_sends_them_on(center: Center) -> None:
    await wait_in_personal_queue(center)
    await center.cli.action("QueuePause", Queue="support", Interface=ALICE, Paused="true", Reason="lunch")
    await center.step(2.0)  # paused in every shared queue: acd pauses her personal queue too
    await center.seen(lambda: len([n for _, n, _ in center.joins() if n == CALLER]) >= 2)
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
    await center.acd_sees("in_call")
    center.cut_off_before()
    await center.call_in()
    await center.step(10.0)
    assert center.connects() == [("support", "Alice"), (PERSONAL, "Alice")]  # no ring for 5745001
    rung = [get(p, "CallerIDNum") for p in center.cli.events("AgentCalled")]
    assert "5745001" not in rung


async def test_acd_stopped_while_a_caller_waits_leaves_nothing_stuck(center: Center) -> None:
    await wait_in_personal_queue(center)
    assert center.daemon is not None
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
    await center.acd_sees("in_call")
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
    await center.until(lambda: len(center.records) >= 1)
    assert ("wait_for_agent", "fallback_busy_timeout") in center.reasons()


async def test_answer_after_the_bound_sends_the_caller_on_and_is_never_recorded(center: Center) -> None:
    """acd decides only after Asterisk's bound ran out: with no simulated time passing, the caller
    is in the shared queue because CURL() gave up (Asterisk logs the timeout with the URL), and the
    late decision, never confirmed by the dialplan, is not recorded."""
    assert center.routing is not None and center.daemon is not None
    await login_alice(center)
    center.cut_off_before()
    service = center.routing.service
    real = service.decide
    released = threading.Event()

    def late(request: Any, view: Any) -> Any:
        released.wait(10.0)  # the decision comes after CURL() gave up
        return real(request, view)

    service.decide = late  # type: ignore[method-assign]
    queue = await center.call_in_still()
    assert queue == "support" and [q for q, _, _ in center.joins()] == ["support"]
    assert any("timed out after" in w for w in center.lookup_log())  # CURL()'s bound sent them on
    released.set()
    daemon = center.daemon
    await center.until(lambda: bool(daemon.core.routed.waiting))  # the late answer reached the core
    await center.step(3.0)
    await hang_up(center)
    await center.step(2.0)
    assert center.user_events("AcdRouted") == []  # the dialplan never used it
    assert center.records == []  # so it is not a decision
    assert daemon.core.routed.waiting and not daemon.core.routed.tracker.open


async def test_acd_down_the_caller_goes_on_at_once(tmp_path: Path) -> None:
    c = await open_center(tmp_path, daemon=False)
    try:
        c.sim.add_agent("support", "1001", "Alice", answer_after=1.0)
        queue = await c.call_in_still()
        assert queue == "support"
        told = c.lookup_log()
        assert any("Failed to connect" in w for w in told)  # refused: no wait for the bound
        assert not any("timed out" in w for w in told)
        await c.step(3.0)
        assert [q for q, _, _ in c.joins()] == ["support"]
        assert c.connects() == [("support", "Alice")]
        assert any("Failed to connect" in text for _, text in c.sim.asterisk_log)
    finally:
        await close_center(c)


class AcdProcess(DaemonProcess):
    """``acd run`` as a process of its own, so it can be frozen (SIGSTOP) like a stuck daemon."""

    def __init__(self, tmp_path: Path, ami_port: int, lookup_port: int) -> None:
        super().__init__(
            tmp_path,
            ami_port,
            "acd",
            ACD_ROUTING__PORT=str(lookup_port),
            ACD_SPEED="1",
            ACD_AMI__USERNAME=login()["username"],
            ACD_AMI__SECRET=login()["secret"],
        )
        self.lookup_port = lookup_port

    def ask(self) -> dict[str, str]:
        return lookup(self.lookup_port, queue="support", caller=CALLER, timeout=1.0).fields

    def frozen(self) -> bool:
        """Every thread stopped. SIGSTOP reaches a process with several threads (the lookup's
        workers) one thread at a time: on a loaded machine a worker still answers a lookup some
        milliseconds after kill() returned, until the group stop reaches it."""
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue  # a thread that ended meanwhile
            if state not in ("T", "t"):
                return False
        return True

    def stop_now(self) -> int:
        self.proc.send_signal(signal.SIGCONT)
        return self.stop()


async def in_thread(fn: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn)


async def test_acd_frozen_during_a_callback_holds_no_caller_beyond_the_bound(tmp_path: Path) -> None:
    """SIGSTOP (a swap storm, a paused VM): the kernel still accepts the lookup's connection, nobody
    answers, CURL() gives up at the bound and the caller goes to the shared queue. The decision acd
    makes from the backlog once it runs again reaches nobody and is never recorded."""
    lookup_port = free_port()
    c = await open_center(tmp_path, daemon=False, lookup_port=lookup_port)
    acd = AcdProcess(tmp_path, c.ami_port, lookup_port)
    try:
        for _ in range(300):
            health = await in_thread(acd.health)
            if health and health["ami_connected"] and health["events"] > 0:
                break
            assert acd.proc.poll() is None, acd.log.read_text()
            await c.step(0.1, polls=1)
        c.sim.add_agent("support", "1001", "Alice", answer_after=1.0)
        for _ in range(100):  # acd mirrors her login into her personal queue
            await c.step(0.1, polls=1)
            if any(get(p, "Queue") == PERSONAL for p in c.cli.events("QueueMemberAdded")):
                break
        c.sim.place_call(CALLER, "support", talk=3.0, ending="agent_cut", cause=41)  # cut off
        await c.step(8.0)
        assert c.connects() == [("support", "Alice")]
        for _ in range(100):  # until acd knows the cut-off call (its lookup recognises the caller)
            await c.step(0.5, polls=1)
            if (await in_thread(acd.ask)).get("reason") == "original_agent":
                break
        else:
            raise AssertionError("acd never recognised the callback:\n" + acd.log.read_text())
        acd.proc.send_signal(signal.SIGSTOP)
        await until(acd.frozen, what="acd stopped by SIGSTOP")
        queue = await c.call_in_still()
        assert queue == "support" and any("timed out after" in w for w in c.lookup_log()), (
            queue,
            list(c.sim.asterisk_log),
            acd.log.read_text()[-4000:],
        )
        acd.proc.send_signal(signal.SIGCONT)
        await c.step(3.0)
        await hang_up(c)
        await c.step(2.0)
        assert acd.stop_now() == 0
        db = sqlite3.connect(tmp_path / "acd.db")
        try:
            decisions = db.execute("select uniqueid, reason from routing_decisions").fetchall()
        finally:
            db.close()
        assert decisions == []  # the answer computed after the freeze was never confirmed
        assert c.user_events("AcdRouted") == []
    finally:
        if acd.proc.poll() is None:
            acd.proc.send_signal(signal.SIGCONT)
            acd.proc.kill()
            acd.proc.wait(10)
        await close_center(c)


async def test_caller_id_with_url_characters_routes_and_injects_nothing(center: Center) -> None:
    """``&``, ``=``, ``%`` and spaces in the caller id: URIENCODEd, acd reads one value, the digits
    key the caller, and nothing the caller wrote becomes a parameter."""
    await login_alice(center)
    center.cut_off_before()
    sly = "+555 1100 &queue=acd-agent-x%&route=agent="
    await center.call_in("cid", CID=sly)
    await center.step(3.0)
    assert center.connects() == [(PERSONAL, "Alice")]  # recognised as tel:5551100
    await hang_up(center, sly)
    await settled(center)
    assert [(r.queue, r.action, r.reason) for r in center.records] == [
        ("support", "offer_now", "original_agent")
    ]
    stranger = "555%20999&queue=acd-agent-1001&route=agent&end=1"
    await center.call_in("cid", CID=stranger)
    await center.step(2.0)
    assert [q for q, n, _ in center.joins() if n == stranger] == ["support"]
    await settled(center, 2)
    assert [(r.queue, r.reason) for r in center.records][1] == ("support", "no_history")


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
        await c.until(lambda: c.daemon is not None and not c.daemon.core.registry.entries)
        await c.daemon.stop()  # the cut-off call's row is flushed on the way out
        settings = c.daemon.settings
        c.daemon = Daemon(settings)
        c.daemon._sinks.append(lambda e: c.records.append(e) if isinstance(e, AffinityDecided) else None)
        await c.daemon.start()
        c.routing = c.daemon.routing
        await c.until(lambda: c.daemon is not None and c.daemon.stats.resyncs >= 1)
        await c.step(1.0)
        await c.call_in()
        await c.step(3.0)
        assert c.connects()[-1] == (PERSONAL, "Alice")
        await hang_up(c)
        await settled(c)
        assert c.reasons() == [("offer_now", "original_agent")]
        assert c.records[0].callback_of is not None
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

    lookup_port = free_port()
    (tmp_path / "extensions.conf").write_text(TRAFFIC_IN + shipped_dialplan(lookup_port))
    agents = [f"Local/{1001 + i}@agents" for i in range(4)]
    personal = render_queues(from_settings(Settings(), agents))
    sim_queues = (Path(__file__).resolve().parent.parent / "acd" / "sim" / "queues.conf").read_text()
    (tmp_path / "queues.conf").write_text(sim_queues.replace("wrapuptime = 5", "wrapuptime = 0") + personal)
    sim = Simulator(
        fast_center(
            seed=21,
            queues=["support"],
            queues_conf=tmp_path / "queues.conf",
            dialplan=tmp_path / "extensions.conf",
            truth=tmp_path / "truth.jsonl",
            rate_per_min=3.0,
            agents=4,
            max_calls=160,
            cutoff_share=0.3,
            callback_share=0.9,
            repeat_share=0.0,
            pause_share=0.05,
            patience_mean=600.0,
            talk_mean=40.0,
        )
    )
    _host, port = await sim.start()
    run = TrafficRun([], [], {})
    daemon = Daemon(daemon_settings(tmp_path, port, routing={"port": lookup_port}, affinity=affinity))
    daemon._sinks.append(lambda e: run.records.append(e) if isinstance(e, AffinityDecided) else None)
    daemon._sinks.append(lambda e: run.finished.append(e) if isinstance(e, CallFinished) else None)
    await daemon.start()  # routing starts before AMI connects: traffic starts at the login
    try:
        await sim.wait_calls_done(300)
        for _ in range(100):
            if not daemon.queue and not daemon.core.registry.entries and not daemon.core.routed.tracker.open:
                break
            await asyncio.sleep(0.1)
    finally:
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
