"""Calls that cross servers, end to end: two simulated Asterisk servers joined by a trunk, each
with its daemon, on one PostgreSQL. Server a's callers wait in a's queue (nobody answers there),
then a's dialplan passes them to b over the trunk, where Bob answers. Passed with ACD_ORIGIN (IAX2
variable or PJSIP header, the contexts `acd asterisk-config` writes) the two legs are one customer
call in the database, `acd report` and the API; passed without, they are two.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from acd.asterisk_config import from_settings, render
from acd.daemon import Daemon
from acd.reads.summary import ALL_SERVERS, load_report
from acd.settings import Settings
from acd.sim import Simulator
from tests.sim_helpers import SHARED_QUEUES
from tests.support.simulated import one_of_several
from tests.test_e2e_daemon import daemon_settings
from tests.test_servers_e2e import rows, until

pytestmark = pytest.mark.postgres

SUPERVISOR = "origin-test-supervisor"
EPOCH = 1.8e9
WAIT_ON_A = 8  # seconds in a's queue before a passes the caller on

A_DIALPLAN = f"""
[acd-test-in]
exten => _1XXXXXX,1,Answer()
 same => n,Queue(support,,,,{WAIT_ON_A})
 same => n,Gosub(acd-origin-out,iax2,1)
 same => n,Dial(IAX2/b/${{EXTEN}})
exten => _2XXXXXX,1,Answer()
 same => n,Queue(support,,,,{WAIT_ON_A})
 same => n,Dial(PJSIP/${{EXTEN}}@b,,b(acd-origin-out^pjsip^1))
exten => _3XXXXXX,1,Answer()
 same => n,Queue(support,,,,{WAIT_ON_A})
 same => n,Dial(IAX2/b/${{EXTEN}})

"""
B_DIALPLAN = """
[from-a]
exten => _X.,1,Gosub(acd-origin-in,s,1)
 same => n,Queue(support)

"""


@dataclass
class Server:
    name: str
    sim: Simulator
    daemon: Daemon


def settings_for(tmp: Path, name: str, ami_port: int, db: str) -> Settings:
    return daemon_settings(
        tmp, ami_port, db, server_id=name, ha={"node": f"{name}1"},
        api_tokens=[{"token": SUPERVISOR, "role": "supervisor"}],
    )  # fmt: skip


async def open_server(base: Path, name: str, db: str, dialplan: str) -> Server:
    tmp = base / name
    tmp.mkdir()
    generated = render(from_settings(settings_for(tmp, name, 5038, db), []))
    sim = Simulator(one_of_several(tmp, name, dialplan + generated["extensions-acd.conf"], SHARED_QUEUES))
    _host, port = await sim.start()
    daemon = Daemon(settings_for(tmp, name, port, db))
    await daemon.start()
    await until(lambda: daemon._leading and daemon.stats.resyncs >= 1, 30.0, f"{name} leading")
    return Server(name, sim, daemon)


@pytest.fixture
async def servers(tmp_path: Path, pg_url: str) -> AsyncIterator[tuple[Server, Server]]:
    opened: list[Server] = []
    try:
        opened.append(await open_server(tmp_path, "a", pg_url, A_DIALPLAN))
        opened.append(await open_server(tmp_path, "b", pg_url, B_DIALPLAN))
        a, b = opened
        a.sim.join_trunk("b", b.sim, "from-a")
        yield a, b
    finally:
        for s in opened:
            await s.daemon.stop()
            await s.sim.stop()


async def step(servers: tuple[Server, Server], seconds: float, polls: int = 8) -> None:
    """Both simulated clocks advance together."""
    for _ in range(polls):
        for s in servers:
            await s.sim.advance(seconds / polls)
        await asyncio.sleep(0.02)


async def test_a_call_passed_with_its_origin_is_one_customer_call_without_it_two(
    servers: tuple[Server, Server], pg_url: str
) -> None:
    a, b = servers
    b.sim.add_agent("support", "2001", "Bob", answer_after=1.0)
    await until(lambda: any(q == "support" for q, _ in b.daemon.core.registry.members), 10.0, "Bob logged in")
    callers = {"1550001": "iax2 + origin", "2550002": "pjsip + origin", "3550003": "no origin"}
    for number in callers:
        a.sim.place_call(number, "support", talk=20.0, context="acd-test-in")
        await step(servers, WAIT_ON_A + 2)
        # a's caller left a's queue alive: a's daemon tells an exit from an abandon by the caller
        # still being there a moment later (its own clock, in wall time between events)
        await until(lambda: not a.daemon.core.registry.entries, 30.0, "a's entry recorded")
        await step(servers, 20 + 5)
    for s in (a, b):
        await until(lambda s=s: not s.daemon.core.registry.entries, 30.0, f"{s.name}'s calls ended")
        await until(lambda s=s: not s.daemon.core.customers.open, 30.0, f"{s.name}'s customer calls final")
        await s.daemon.writer.drain(60)

    stored = await rows(
        pg_url,
        "SELECT server_id, linkedid, caller_num, outcome, agent, joined_at, answered_at, ended_at,"
        " wait_seconds,"
        " origin_server,"
        " origin_linkedid, final FROM customer_calls ORDER BY joined_at, server_id",
    )
    by = {(r["server_id"], r["caller_num"]): r for r in stored}
    assert len(stored) == 6 and all(r["final"] for r in stored)
    for number, how in callers.items():
        on_a, on_b = by[("a", number)], by[("b", number)]
        assert (on_a["outcome"], on_b["outcome"]) == ("exited", "answered"), how
        assert on_b["agent"] == "Local/2001@agents", how
        if how == "no origin":
            assert on_b["origin_server"] is None and on_b["origin_linkedid"] is None
            assert on_b["joined_at"] > on_a["joined_at"]  # its own arrival on b
            continue
        # b's call continues a's: it names it, arrived when the caller reached a, waited from there
        assert (on_b["origin_server"], on_b["origin_linkedid"]) == ("a", on_a["linkedid"]), how
        assert on_b["joined_at"] == pytest.approx(on_a["joined_at"], abs=0.01), how
        assert on_b["wait_seconds"] == pytest.approx(on_b["answered_at"] - on_a["joined_at"]), how

    now = max(s.daemon.clock.now() for s in servers)
    report = await load_report(
        a.daemon.database, a.daemon.settings, EPOCH - 1, now + 1, now, server_id=ALL_SERVERS
    )
    center = report.queues["support"]
    # Three callers: two passed with their origin (one customer call each), one without (two).
    assert center["customer_calls"] == 4
    assert center["answered_calls"] == 3
    assert report.servers["a"].queues["support"]["customer_calls"] == 1  # a's call passed without
    assert report.servers["b"].queues["support"]["customer_calls"] == 3
    # Queue figures stay per leg: each caller waited in a's queue and was answered in b's.
    assert (center["offered"], center["answered"], center["exited"]) == (6, 3, 3)

    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {SUPERVISOR}"}
        async with http.get(
            f"http://127.0.0.1:{b.daemon.http_port}/api/v1/report",
            params={"from": str(EPOCH - 1), "to": str(now + 1)},
            headers=auth,
        ) as resp:
            api = await resp.json()
        assert api["queues"]["support"]["customer_calls"] == 4
        passed = by[("b", "1550001")]
        async with http.get(
            f"http://127.0.0.1:{b.daemon.http_port}/api/v1/calls/{passed['linkedid']}", headers=auth
        ) as resp:
            body = await resp.json()
        assert body["origin"] == {"server": "a", "call_id": by[("a", "1550001")]["linkedid"]}
        first = by[("a", "2550002")]["linkedid"]
        async with http.get(
            f"http://127.0.0.1:{a.daemon.http_port}/api/v1/calls/{first}", headers=auth
        ) as resp:
            body = await resp.json()
        assert body["continued"] == {"server": "b", "call_id": by[("b", "2550002")]["linkedid"]}
