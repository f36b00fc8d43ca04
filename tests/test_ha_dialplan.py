"""The generated dialplan of an HA pair, run by the simulator: the other node is asked only when the
first refuses at once (a standby's closed port, or a dead node), never after a timeout (a frozen
node), so a caller never waits two bounds; what a refused or timed-out attempt left in
``HASH(acd)`` never counts.

The simulator runs in manual time; ``CURL()`` runs in wall time under the dialplan's bound, as
Asterisk's does. The nodes are plain lookup servers answering a known decision id, so which node
routed the caller shows in the dialplan's ``UserEvent(AcdRouted)``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from acd.asterisk_config import from_settings, render_dialplan
from acd.routing.answer import LookupRequest, encode
from acd.routing.lookup import LookupServer, Reply
from acd.settings import Settings
from acd.sim import SimConfig, Simulator
from tests.sim_helpers import AmiClient, get
from tests.support.credentials import login
from tests.support.ports import free_port
from tests.test_affinity_e2e import INBOUND, SHARED_QUEUES

BOUND = 0.5


@dataclass
class Pair:
    sim: Simulator
    cli: AmiClient
    first: int
    second: int

    async def call(self, number: str, within: float = 10.0) -> bool:
        """Whether the caller joined a queue (within a deadline; the simulated clock stands still).
        What moved them on, an answer, a refusal or CURL()'s time-out, the asterisk log says
        (``lookups``): wall seconds would measure how late a loaded machine runs the test."""
        started = time.monotonic()
        await self.cli.action(
            "Originate", Channel=f"Local/{number}@caller-sim", Context="acd-test-in", Exten=number, Priority=1
        )
        while time.monotonic() - started < within:
            await self.cli.read_for(0.01)
            if any(get(p, "CallerIDNum") == number for p in self.cli.events("QueueCallerJoin")):
                return True
        return False

    def lookups(self, number: str) -> list[str]:
        """Asterisk's warnings about this caller's lookups: one per failed attempt."""
        return [
            text for level, text in self.sim.asterisk_log if level == "WARNING" and f"caller={number}" in text
        ]

    def routed(self) -> list[str]:
        """The decision ids the dialplan confirmed (which node answered)."""
        events = self.cli.events("UserEvent")
        return [get(p, "Decision") for p in events if get(p, "UserEvent") == "AcdRouted"]


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    first, second = free_port(), free_port()
    settings = Settings(routing={"port": first, "other_node": f"127.0.0.1:{second}"})  # type: ignore[arg-type]
    plan = render_dialplan(from_settings(settings, []))
    (tmp_path / "extensions.conf").write_text(INBOUND + plan)
    (tmp_path / "queues.conf").write_text(SHARED_QUEUES)
    sim = Simulator(
        SimConfig(
            port=0, speed=0, traffic=False, queues_conf=tmp_path / "queues.conf",
            dialplan=tmp_path / "extensions.conf", start_epoch=1.8e9, seed=5, **login(),
        )
    )  # fmt: skip
    _host, port = await sim.start()
    cli = await AmiClient.connect("127.0.0.1", port)
    await cli.login(**{"user": login()["username"], "secret": login()["secret"]})
    try:
        yield Pair(sim, cli, first, second)
    finally:
        await cli.close()
        await sim.stop()


@contextmanager
def node(port: int, decision: str) -> Iterator[list[LookupRequest]]:
    """A lookup on ``port`` answering every caller to the shared queue under ``decision``."""
    asked: list[LookupRequest] = []

    def answer(request: LookupRequest) -> Reply:
        asked.append(request)
        return Reply(encode((("route", "queue"), ("reason", "no_history"), ("id", decision))), "queue")

    server = LookupServer("127.0.0.1", port, answer, timeout=BOUND, announce=False)
    server.start()
    try:
        yield asked
    finally:
        server.close()


@contextmanager
def frozen(port: int) -> Iterator[None]:
    """A node that accepts connections and never answers (SIGSTOP, a paused VM)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(16)
    try:
        yield
    finally:
        sock.close()


async def test_the_leader_answers_and_the_other_node_is_never_asked(pair: Pair) -> None:
    with node(pair.first, "from-first") as first, node(pair.second, "from-second") as second:
        joined = await pair.call("5551001")
    assert joined and len(first) == 1 and second == []
    assert pair.routed() == ["from-first"]


async def test_a_refused_first_node_sends_the_lookup_to_the_other(pair: Pair) -> None:
    with node(pair.second, "from-second") as second:  # the first port is closed: a standby
        joined = await pair.call("5551002")
    assert joined
    failed = pair.lookups("5551002")
    assert len(failed) == 1 and "Failed to connect" in failed[0], failed  # a refusal costs no bound
    assert len(second) == 1 and pair.routed() == ["from-second"]


async def test_a_frozen_first_node_costs_one_bound_and_the_other_is_not_asked(pair: Pair) -> None:
    with frozen(pair.first), node(pair.second, "from-second") as second:
        joined = await pair.call("5551003")
    assert joined
    failed = pair.lookups("5551003")
    assert len(failed) == 1 and "timed out after" in failed[0], failed  # one bound, never two
    assert second == [] and pair.routed() == []  # straight to the shared queue


async def test_both_refused_the_caller_goes_to_the_shared_queue_at_once(pair: Pair) -> None:
    assert await pair.call("5551004")
    failed = pair.lookups("5551004")
    assert len(failed) == 2 and all("Failed to connect" in w for w in failed), failed  # no bound
    assert pair.routed() == []
    joins = [get(p, "Queue") for p in pair.cli.events("QueueCallerJoin")]
    assert joins == ["support"]
