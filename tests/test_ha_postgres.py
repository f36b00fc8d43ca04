"""Leadership on a real PostgreSQL: the lock decides, the token fences, the session's end frees it.

Two (or three) :class:`Leadership` objects stand for the nodes of one server; each turn is driven
by the test on an injected monotonic clock, so "three seconds without a heartbeat" is exact. What
only PostgreSQL can show (a silent session ended by ``idle_session_timeout``) waits on the server
with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import pytest
from sqlalchemy import text

from acd.ha import Change, Leadership, LeaseConnection, LeaseTiming, LockNotPermitted, node_info
from acd.ha.postgres import asyncpg_params
from acd.store.database import make_engine
from acd.store.migrate import upgrade

TIMING = LeaseTiming(heartbeat=1.0, step_down_after=3.0)


@dataclass
class Node:
    lead: Leadership
    clock: list[float]
    changes: list[Change] = field(default_factory=list)
    ami: list[bool] = field(default_factory=lambda: [True])

    async def turn(self, advance: float = 1.0) -> None:
        self.clock[0] += advance
        await self.lead.turn()


def make_node(url: str, name: str, *, server: str = "a", session_timeout: float = 5.0) -> Node:
    clock = [1000.0]
    changes: list[Change] = []
    ami = [True]
    conn = LeaseConnection(
        url,
        node_info(server, name, "test"),
        session_timeout=session_timeout,
        step_down=TIMING.step_down_after,
        op_timeout=2.0,
    )
    lead = Leadership(
        conn,
        TIMING,
        ami_ok=lambda: ami[0],
        ami_lost_after=15.0,
        covered=lambda: 1_800_000_000.0,
        history_lag=lambda: None,
        on_change=changes.append,
        clock=lambda: clock[0],
    )
    return Node(lead, clock, changes, ami)


async def takes_over(node: Node) -> None:
    """Turns until ``node`` leads: PostgreSQL ends a dead session's backend, and frees its lock, a
    moment after the socket closes (a deadline, never a fixed sleep)."""
    for _ in range(200):
        await node.turn(advance=0.0)
        if node.lead.role == "leader":
            return
        await asyncio.sleep(0.05)


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[str]:
    engine = make_engine(pg_url)
    await upgrade(engine)
    await engine.dispose()
    yield pg_url


async def lease_row(url: str, server: str = "a") -> asyncpg.Record:
    conn = await asyncpg.connect(**asyncpg_params(url))
    try:
        row = await conn.fetchrow("SELECT * FROM servers WHERE server_id = $1", server)
        assert row is not None
        return row
    finally:
        await conn.close()


async def test_one_node_leads_the_other_stands_by_and_a_dead_session_hands_over(db: str) -> None:
    one, two = make_node(db, "one"), make_node(db, "two")
    await one.lead.start()
    await two.lead.start()
    await one.turn()
    await two.turn()
    assert one.lead.role == "leader" and two.lead.role == "standby"
    assert [c.reason for c in one.changes] == ["won"] and one.lead.may_act() and not two.lead.may_act()
    # The standby learns once that another node leads (its daemon stops recording then).
    await two.turn()
    assert [(c.role, c.reason) for c in two.changes] == [("standby", "other_leads")]
    first = one.lead.token
    await one.turn()
    assert one.lead.may_act()
    # The leader's process dies: its session ends with it (the kernel closes the socket).
    one.lead.conn.close()
    await takes_over(two)
    assert two.lead.role == "leader" and two.lead.token == (first or 0) + 1
    change = two.changes[-1]
    assert change.reason == "takeover" and change.takeover is not None
    assert change.takeover.previous == "one" and change.takeover.covered_until == 1_800_000_000.0
    row = await lease_row(db)
    assert row["leader"] == "two" and row["takeovers"] == 1 and row["last_takeover_from"] == "one"
    # The old leader's next turn finds its session gone: it steps down and may not act.
    await one.turn()
    assert one.lead.role == "standby" and not one.lead.may_act()
    # It steps down for its lost session, then (a new session, the lock held) learns who leads.
    assert [c.reason for c in one.changes[-2:]] == ["connection_lost", "other_leads"]
    await one.lead.stop()
    await two.lead.stop()


async def test_a_leader_without_a_successful_heartbeat_for_three_seconds_steps_down(db: str) -> None:
    one = make_node(db, "one")
    await one.lead.start()
    await one.turn()
    assert one.lead.role == "leader"

    async def failing(**_: object) -> tuple[bool, bool]:
        raise TimeoutError("heartbeat timed out")

    one.lead.conn.heartbeat = failing  # type: ignore[method-assign]
    await one.turn(1.0)
    await one.turn(1.0)
    await one.turn(1.0)
    assert one.lead.role == "leader"  # 3.0 s: at the bound, not past it
    await one.turn(0.5)
    assert one.lead.role == "standby" and one.changes[-1].reason == "heartbeat_late"
    assert not one.lead.conn.connected, "the session is dropped, so the server frees the lock"
    await one.lead.stop()


async def test_a_silent_leader_loses_its_lock_to_idle_session_timeout(db: str) -> None:
    """SIGSTOP in miniature: the leader stops talking; PostgreSQL ends its session after the
    timeout, and the standby's next attempt wins."""
    one = make_node(db, "one", session_timeout=1.0)
    two = make_node(db, "two", session_timeout=1.0)
    await one.lead.start()
    await two.lead.start()
    await one.turn()
    assert one.lead.role == "leader"

    async def standby_leads() -> bool:
        await two.turn()
        return two.lead.role == "leader"

    leads = False
    for _ in range(100):  # about ten seconds at most
        leads = await standby_leads()
        if leads:
            break
        await asyncio.sleep(0.1)
    assert leads, "the standby never got the lock of a silent leader"
    # The silent leader comes back: it was stalled, its session is gone, it may not act.
    one.clock[0] += 30.0
    assert not one.lead.may_act()
    await one.lead.turn()
    assert one.lead.role == "standby"
    await one.lead.stop()
    await two.lead.stop()


async def test_only_a_node_whose_asterisk_is_up_takes_the_lock(db: str) -> None:
    one, two = make_node(db, "one"), make_node(db, "two")
    one.ami[0] = False
    await one.lead.start()
    await two.lead.start()
    await one.turn()
    assert one.lead.role == "standby"
    await two.turn()
    assert two.lead.role == "leader"
    # Its Asterisk goes away for longer than ACD_HA__AMI_LOST_SECONDS: it releases cleanly...
    two.ami[0] = False
    await two.turn(1.0)
    await two.turn(16.0)
    assert two.lead.role == "standby" and two.changes[-1].reason == "ami_lost"
    row = await lease_row(db)
    assert row["leader"] is None
    # ...and the node whose Asterisk is up leads, which is no takeover.
    one.ami[0] = True
    await one.turn()
    assert one.lead.role == "leader" and one.changes[-1].reason == "won"
    assert (await lease_row(db))["takeovers"] == 0
    await one.lead.stop()
    await two.lead.stop()


async def test_kpi_lock_goes_to_one_leader_of_the_center(db: str) -> None:
    a, b = make_node(db, "a1", server="a"), make_node(db, "b1", server="b")
    for node in (a, b):
        await node.lead.start()
    await a.turn()
    await b.turn()
    await a.turn()
    await b.turn()
    assert a.lead.role == b.lead.role == "leader"
    assert [a.lead.kpi_held, b.lead.kpi_held].count(True) == 1
    holder, other = (a, b) if a.lead.kpi_held else (b, a)
    await holder.lead.stop()
    await other.turn()
    assert other.lead.kpi_held
    await other.lead.stop()


async def test_a_role_that_may_not_take_advisory_locks_is_refused_at_start_in_one_line(db: str) -> None:
    admin = await asyncpg.connect(**asyncpg_params(db))
    try:
        await admin.execute("CREATE ROLE acd_nolock LOGIN")
        await admin.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO acd_nolock")
        for signature in ("integer, integer", "bigint"):
            await admin.execute(f"REVOKE EXECUTE ON FUNCTION pg_try_advisory_lock({signature}) FROM PUBLIC")
        url = db.replace("postgres@", "acd_nolock@", 1)
        node = make_node(url, "one")
        with pytest.raises(LockNotPermitted) as refused:
            await node.lead.start()
        message = str(refused.value)
        assert "\n" not in message and "acd_nolock" in message
        assert "GRANT EXECUTE ON FUNCTION pg_try_advisory_lock(integer, integer) TO acd_nolock" in message
        node.lead.conn.close()
    finally:
        await admin.execute("REASSIGN OWNED BY acd_nolock TO postgres")
        await admin.execute("DROP OWNED BY acd_nolock")
        await admin.execute("DROP ROLE acd_nolock")
        await admin.close()


async def test_decisions_are_written_only_under_the_current_token(db: str) -> None:
    from acd.core.effects import AffinityDecided
    from acd.store.upsert import RowUpserter

    one = make_node(db, "one")
    await one.lead.start()
    await one.turn()
    token = one.lead.token
    engine = make_engine(db)
    store = RowUpserter(engine, "a", "split")
    current: list[int | None] = [token]
    store.fence = lambda: current[0]

    def decision(uid: str) -> AffinityDecided:
        return AffinityDecided(
            uniqueid=uid, linkedid=uid, call_ids=(uid,), queue="support", action="queue",
            reason="no_history", shadow=False, agent=None, agent_name=None, callback_of=None,
            detail="", decided_at=1.0, at=1.0,
        )  # fmt: skip

    try:
        await store.write([decision("1.1")])
        current[0] = (token or 0) - 1  # a node whose token was superseded
        await store.write([decision("1.2")])
        current[0] = None  # a standby
        await store.write([decision("1.3")])
        async with engine.connect() as conn:
            written = (await conn.execute(text("SELECT uniqueid FROM routing_decisions"))).scalars().all()
    finally:
        await engine.dispose()
        await one.lead.stop()
    assert written == ["1.1"] and store.fenced == 2


async def test_status_shows_the_leader_the_standby_and_the_last_takeover(db: str) -> None:
    from acd.commands.status import render
    from acd.ha.status import read_status

    one, two = make_node(db, "one"), make_node(db, "two")
    for n in (one, two):
        await n.lead.start()
        await n.turn()
    engine = make_engine(db)
    try:
        (server,) = await read_status(engine)
        assert server.leader == "one" and server.standbys == ["two"] and server.healthy
        assert server.heartbeat_age is not None and server.heartbeat_age < 5
        one.lead.conn.close()  # the leader dies
        await takes_over(two)
        (server,) = await read_status(engine)
        assert server.leader == "two" and server.takeovers == 1 and server.last_takeover_from == "one"
        table = render([server], zone="UTC")
        assert table.splitlines()[0].split()[:3] == ["SERVER", "LEADER", "STANDBY"]
        assert "two" in table and "from one (1 in all)" in table
    finally:
        await engine.dispose()
        await two.lead.stop()
    engine = make_engine(db)
    try:
        (server,) = await read_status(engine)
    finally:
        await engine.dispose()
    assert server.leader is None and not server.healthy  # stopped cleanly: nobody leads now


async def test_a_leader_stalled_inside_a_write_does_not_hold_up_the_takeover(db: str) -> None:
    """A leader stopped (SIGSTOP) in the middle of a write transaction holds its share lock on its
    server's row, which the next leader's takeover updates: PostgreSQL ends the idle transaction
    (acd's engines set idle_in_transaction_session_timeout), and the takeover goes through."""
    one, two = make_node(db, "one"), make_node(db, "two")
    for n in (one, two):
        await n.lead.start()
        await n.turn()
    assert one.lead.role == "leader"
    engine = make_engine(db)
    stalled = await engine.connect()
    try:
        await stalled.execute(text("SELECT token FROM servers WHERE server_id = 'a' FOR SHARE"))
        one.lead.conn.close()  # then its lease session dies too (idle_session_timeout, here at once)
        started = asyncio.get_running_loop().time()
        await takes_over(two)
        took = asyncio.get_running_loop().time() - started
        assert two.lead.role == "leader", "the takeover waited on the stalled transaction for good"
        assert took < 10.0, took
    finally:
        with contextlib.suppress(Exception):
            await stalled.close()
        await engine.dispose()
        await two.lead.stop()
