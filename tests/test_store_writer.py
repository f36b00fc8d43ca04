"""The writer: batched idempotent upserts fed from the durable journal, outages, shutdown flush.

The database outages here are real: PostgreSQL's postmaster is stopped by PID while a batch is
being written. Where a test needs an outage on SQLite it uses a RowUpserter whose ``write`` raises while
switched off, so the journal and ordering logic run against a real database either way.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from acd.core.effects import AgentOffer, CallStarted, GapRecorded, MemberSession, OutcomeReported
from acd.settings import Settings
from acd.store.codec import StoredEffect
from acd.store.database import make_engine
from acd.store.journal import frames as frames_mod
from acd.store.migrate import prepare_database
from acd.store.schema.base import table_of
from acd.store.schema.operation import Gap
from acd.store.schema.outcomes import Outcome
from acd.store.schema.records import AgentSession, Call, Offer, RoutingDecision
from acd.store.schema.records import calls as calls_t
from acd.store.upsert import RowUpserter
from acd.store.writer import Writer
from tests.pg_fixtures import PgServer
from tests.store_records import BASE, finished, record
from tests.support.waiting import DEADLINE, until
from tests.support.writers import run_writer, store_settings, writer_over


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def engine(db_url: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = await prepare_database(store_settings(db_url, tmp_path))
    yield eng
    await eng.dispose()


async def count(engine: AsyncEngine, model: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table_of(model)))).scalar_one())


def many(n: int, prefix: str = "17900") -> list[StoredEffect]:
    return [
        finished(
            f"{prefix}.{i}", joined_at=BASE + i, caller_key=f"555{i % 97:04d}", caller_num=f"555{i % 97:04d}"
        )
        for i in range(n)
    ]


async def test_records_become_rows_once_even_when_replayed(engine: AsyncEngine, tmp_path: Path) -> None:
    settings = store_settings(str(engine.url), tmp_path, batch_size=7)
    writer = Writer(settings, engine)
    task = await run_writer(writer)
    effects: list[Any] = [
        *many(40),
        MemberSession("login", "sales", "Local/1001@agents", "Agent 1001", None, BASE),
        MemberSession("pause", "sales", "Local/1001@agents", "Agent 1001", "lunch", BASE + 5),
        GapRecorded(BASE - 60, BASE, "reconnect", 2),
        CallStarted("x", "x", "x", "sales", None, BASE, None, None),  # not a row: ignored
    ]
    for effect in effects:
        writer.submit(effect)
    for effect in effects:  # a replay of the same traffic (acd replay, resync after reconnect)
        writer.submit(effect)
    assert await writer.drain(20)
    await writer.close(5)
    await task
    assert await count(engine, Call) == 40
    assert await count(engine, Offer) == 40
    assert await count(engine, AgentSession) == 2
    assert await count(engine, Gap) == 1
    stats = writer.stats()
    assert stats.backlog == 0 and stats.spooled == 0 and stats.failures == 0 and stats.writes >= 12


async def test_partial_row_is_completed_but_never_degraded(engine: AsyncEngine, tmp_path: Path) -> None:
    writer = Writer(store_settings(str(engine.url), tmp_path), engine)
    task = await run_writer(writer)
    partial = finished("1.1", partial=True, agent=None, outcome="abandoned", talk_seconds=0.0)
    full = finished("1.1", talk_seconds=42.0)
    writer.submit(partial)
    writer.submit(full)
    writer.submit(partial)  # a later resync sees the same call half again
    assert await writer.drain(10)
    await writer.close(5)
    await task
    async with engine.connect() as conn:
        row = (await conn.execute(select(calls_t).where(calls_t.c.uniqueid == "1.1"))).one()
    assert (row.partial, row.talk_seconds, row.outcome) == (False, 42.0, "answered")


def rings(*agents: str) -> tuple[AgentOffer, ...]:
    return tuple(AgentOffer(a, a, BASE + i, "no_answer", 15.0) for i, a in enumerate(agents))


async def stored_offers(engine: AsyncEngine, uniqueid: str) -> list[tuple[int, str, str]]:
    offers_t = table_of(Offer)
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(offers_t.c.seq, offers_t.c.agent, offers_t.c.result)
            .where(offers_t.c.uniqueid == uniqueid)
            .order_by(offers_t.c.seq)
        )
        return [tuple(r) for r in rows]


@pytest.mark.parametrize("same_batch", [False, True], ids=["later", "same-batch"])
async def test_offers_follow_their_call_row(engine: AsyncEngine, tmp_path: Path, same_batch: bool) -> None:
    """A partial row saw other rings than the complete record: its offers are replaced with it, and
    a partial record arriving after the complete one adds none."""
    store = RowUpserter(engine, "asterisk", "original")
    partial = finished(
        "3.1", partial=True, outcome="abandoned", offers=rings("Local/1007@agents", "Local/1008@agents", "x")
    )
    full = finished("3.1", talk_seconds=42.0)
    late = finished("3.1", partial=True, outcome="abandoned", offers=rings("a", "b", "c", "d"))
    if same_batch:
        await store.write([partial, full, late])
    else:
        for effect in (partial, full, late):
            await store.write([effect])
    want = [(seq, o.agent, o.result) for seq, o in enumerate(full.record.offers)]
    assert await stored_offers(engine, "3.1") == want
    assert await count(engine, Call) == 1


async def test_outcome_from_ami_is_written_once(engine: AsyncEngine, tmp_path: Path) -> None:
    writer = Writer(store_settings(str(engine.url), tmp_path), engine)
    task = await run_writer(writer)
    writer.submit(finished("2.1", linkedid="2.0"))
    outcome = OutcomeReported("2.1", None, "Local/1001@agents", "sale", True, "wants blue", 10.0, BASE + 100)
    writer.submit(outcome)
    writer.submit(outcome)
    assert await writer.drain(10)
    await writer.close(5)
    await task
    async with engine.connect() as conn:
        rows = (await conn.execute(select(table_of(Outcome)))).all()
    assert len(rows) == 1 and rows[0].linkedid == "2.0" and rows[0].source == "ami"


async def test_an_order_from_the_phone_is_written_through_the_journal(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    writer = Writer(store_settings(str(engine.url), tmp_path), engine)
    task = await run_writer(writer)
    writer.submit(finished("4.1", linkedid="4.0"))
    writer.submit(
        OutcomeReported(
            "4.1", None, "Local/1001@agents", "sale", False, "line dropped", 40.0, BASE + 100,
            order_ref="ORD-9", order_status="open", order_left="ID check",
        )
    )  # fmt: skip
    assert await writer.drain(10)
    await writer.close(5)
    await task
    async with engine.connect() as conn:
        row = (await conn.execute(select(table_of(Outcome)))).one()
    assert (row.order_ref, row.order_status, row.order_left, row.source) == (
        "ORD-9",
        "open",
        "ID check",
        "ami",
    )


class SwitchableStore(RowUpserter):
    """A real RowUpserter whose writes fail while ``down`` is set (a database outage on SQLite)."""

    down = False
    attempts = 0

    async def write(self, batch: Sequence[StoredEffect]) -> None:
        self.attempts += 1
        if self.down:
            raise ConnectionRefusedError("database down (test)")
        await super().write(batch)


class GatedStore(RowUpserter):
    """A real RowUpserter whose writes wait until ``gate`` opens (a database that is slow, not down)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Event()

    async def write(self, batch: Sequence[StoredEffect]) -> None:
        await self.gate.wait()
        await super().write(batch)


async def test_caught_up_waits_for_what_was_accepted_and_gives_up_when_told(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """What an outcome posted the moment its call ended waits for: that call's finished record."""
    settings = store_settings(str(engine.url), tmp_path)
    store, writer = writer_over(GatedStore, engine, settings)
    task = await run_writer(writer)
    assert await writer.caught_up(0.0)  # nothing accepted: nothing to wait for
    writer.submit(finished("1.1"))
    assert not await writer.caught_up(0.05)  # the database is slow: not within the time given
    waiting = asyncio.ensure_future(writer.caught_up(60.0))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    store.gate.set()
    assert await asyncio.wait_for(waiting, 60.0)  # done as soon as the row is committed, not at 60 s
    assert await count(engine, Call) == 1
    await writer.close(5)
    await task


async def test_caught_up_does_not_wait_on_a_database_that_is_down(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = store_settings(str(engine.url), tmp_path)
    store, writer = writer_over(SwitchableStore, engine, settings, retry_min=0.01, retry_max=0.05)
    store.down = True
    task = await run_writer(writer)
    writer.submit(finished("1.1"))
    await until(lambda: store.attempts >= 1, what="a failed write")
    assert not await writer.caught_up(3600.0)  # at once: an hour's wait would end the test first
    store.down = False
    await until(lambda: writer.stats().database_ok, what="the database back")
    assert await writer.caught_up(60.0)
    await writer.close(5)
    await task


async def test_outage_spools_beyond_the_bound_and_replays_in_order(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = store_settings(str(engine.url), tmp_path, queue_size=50, batch_size=20)
    store, writer = writer_over(SwitchableStore, engine, settings, retry_min=0.01, retry_max=0.05)
    task = await run_writer(writer)
    store.down = True
    for effect in many(500):  # what submit() costs the consumer is bench/bench_writer.py's to say
        writer.submit(effect)
    await until(
        lambda: writer.stats().spooled >= 500 and store.attempts > 1 and len(writer.journal._mem) <= 50,
        what="every record spooled while the database is down",
    )
    stats = writer.stats()
    assert stats.spooled == stats.backlog == 500  # nothing lost while down: all of it on disk
    assert len(writer.journal._mem) <= 50  # the memory bound holds: the rest is read from disk
    assert list((tmp_path / "spool").glob("*.wal"))
    assert store.attempts > 1 and not stats.database_ok
    store.down = False
    assert await writer.drain(20)
    await writer.close(5)
    await task
    assert await count(engine, Call) == 500
    assert not list((tmp_path / "spool").glob("*.wal"))
    async with engine.connect() as conn:  # replay order == submission order: row ids follow joined_at
        ordered = (await conn.execute(select(calls_t.c.joined_at).order_by(calls_t.c.id))).scalars().all()
    assert ordered == sorted(ordered)


async def test_close_with_database_down_spools_and_next_start_writes(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = store_settings(str(engine.url), tmp_path, batch_size=50)
    store, writer = writer_over(SwitchableStore, engine, settings, retry_min=0.01, retry_max=0.05)
    store.down = True
    task = await run_writer(writer)
    for effect in many(300):
        writer.submit(effect)
    await writer.close(0.3)
    assert task.done()
    assert writer.stats().spooled == writer.stats().backlog == 300
    # Submissions after close still reach the disk.
    writer.submit(finished("late.1"))
    assert writer.stats().spooled == 301
    # The next daemon start writes the journal first, and numbers new records after it.
    again = Writer(settings, engine)
    task2 = await run_writer(again)
    again.submit(finished("new.1", joined_at=BASE + 10_000))
    assert await again.drain(20)
    await again.close(5)
    await task2
    assert await count(engine, Call) == 302


async def test_close_always_returns_within_its_deadline(engine: AsyncEngine, tmp_path: Path) -> None:
    """Closing while the writer backs off from a dead database, many times over: close() must
    return in time (a cancellation lost in a wait_for race once made it wait forever)."""
    settings = store_settings(str(engine.url), tmp_path, batch_size=5)
    for round_ in range(25):
        store, writer = writer_over(SwitchableStore, engine, settings, retry_min=0.001, retry_max=0.004)
        store.down = True
        task = await run_writer(writer)
        for effect in many(20, prefix=f"r{round_}"):
            writer.submit(effect)
        await asyncio.sleep(0.002 * (round_ % 5))
        await asyncio.wait_for(writer.close(0.02), timeout=DEADLINE)  # returns: the lost-cancel bug hung
        assert task.done()
    again = Writer(settings, engine)
    assert again.stats().spooled == 25 * 20
    await again.close(0.01)


async def test_close_flushes_everything_under_load(engine: AsyncEngine, tmp_path: Path) -> None:
    """The SIGTERM path: effects still arriving until the signal, then close() within its deadline."""
    settings = store_settings(str(engine.url), tmp_path, batch_size=200)
    writer = Writer(settings, engine)
    task = await run_writer(writer)
    effects = many(3000)
    for i, effect in enumerate(effects):
        writer.submit(effect)
        if i % 250 == 0:
            await asyncio.sleep(0)
    await writer.close(30)  # the deadline is the writer's own: here, everything is in well before it
    assert task.done()
    assert await count(engine, Call) == 3000
    assert writer.stats().spooled == 0


class KillingStore(RowUpserter):
    """Stops the PostgreSQL postmaster by PID after the rows of one batch are sent, before commit."""

    def __init__(self, *args: Any, server: PgServer, kill_at: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.server = server
        self.kill_at = kill_at
        self.batches = 0

    async def _write(self, conn: AsyncConnection, batch: Sequence[StoredEffect]) -> None:
        await super()._write(conn, batch)
        self.batches += 1
        if self.batches == self.kill_at:
            await asyncio.to_thread(self.server.kill)


@pytest.mark.postgres
@pytest.mark.slow
async def test_postgres_killed_mid_batch_loses_and_doubles_nothing(
    owned_pg_server: PgServer, pg_url: str, tmp_path: Path
) -> None:
    pg_server = owned_pg_server
    settings = store_settings(pg_url, tmp_path, queue_size=100, batch_size=50)
    engine = await prepare_database(settings)
    store, writer = writer_over(
        KillingStore,
        engine,
        settings,
        store_args=dict(server=pg_server, kill_at=3),
        write_timeout=5.0,
        retry_min=0.05,
        retry_max=0.3,
    )
    task = await run_writer(writer)
    total = 2000
    effects = many(total)
    try:
        for i, effect in enumerate(effects[:1000]):
            writer.submit(effect)
            if i % 50 == 0:
                await asyncio.sleep(0.005)
        await until(  # the kill happens inside the 3rd batch, which then fails
            lambda: store.batches >= 3 and not writer.stats().database_ok, 60, what="the database killed"
        )
        for effect in effects[1000:]:  # traffic goes on while the database is down
            writer.submit(effect)
        await until(lambda: writer.stats().spooled >= 1500, 60, what="the traffic spooled")
        down_stats = writer.stats()
        assert not down_stats.database_ok
        assert down_stats.spooled >= 1500
        await asyncio.to_thread(pg_server.start)
        assert await writer.drain(60)
        await writer.close(10)
        await task
        async with engine.connect() as conn:
            ids = (await conn.execute(select(calls_t.c.call_id))).scalars().all()
        assert len(ids) == total and set(ids) == {f"17900.{i}" for i in range(total)}
        assert await count(engine, Offer) == total
        assert writer.stats().failures >= 1
    finally:
        if not task.done():
            task.cancel()
        await engine.dispose()


async def test_offers_and_reasons_round_trip_through_the_journal(engine: AsyncEngine, tmp_path: Path) -> None:
    settings = store_settings(str(engine.url), tmp_path)
    store, writer = writer_over(SwitchableStore, engine, settings)
    store.down = True
    rec = record(
        "3.1",
        cut_off=True,
        cut_off_reasons=("agent_cause_38",),
        offers=(
            AgentOffer("Local/1002@agents", "Agent 1002", BASE + 1, "no_answer", 15.0),
            AgentOffer("Local/1001@agents", "Agent 1001", BASE + 17, "answered", 2.0),
        ),
        variables=(("ACCOUNT", "A-17"),),
    )
    from acd.core.effects import CallFinished

    writer.submit(CallFinished(rec))
    await writer.close(0.1)
    assert writer.stats().spooled == 1
    again = Writer(settings, engine)
    task = await run_writer(again)
    assert await again.drain(10)
    await again.close(5)
    await task
    async with engine.connect() as conn:
        row = (await conn.execute(select(calls_t).where(calls_t.c.uniqueid == "3.1"))).one()
        offers = (await conn.execute(select(table_of(Offer)).order_by(table_of(Offer).c.seq))).all()
    assert (
        row.cut_off and row.cut_off_reasons == '["agent_cause_38"]' and row.variables == '{"ACCOUNT": "A-17"}'
    )
    assert [(o.agent, o.result) for o in offers] == [
        ("Local/1002@agents", "no_answer"),
        ("Local/1001@agents", "answered"),
    ]


def test_engine_urls_get_async_drivers() -> None:
    assert make_engine("sqlite:///x.db").url.drivername == "sqlite+aiosqlite"
    assert make_engine("postgresql://u@h/db").url.drivername == "postgresql+asyncpg"


async def left_in_the_journal(engine: AsyncEngine, tmp_path: Path, n: int) -> Settings:
    """``n`` records a writer could not write (its database down) before it stopped."""
    settings = store_settings(str(engine.url), tmp_path)
    store, writer = writer_over(SwitchableStore, engine, settings)
    store.down = True
    for effect in many(n):
        writer.submit(effect)
    await writer.close(0.05)
    return settings


async def test_unreadable_spool_segment_is_set_aside_not_lost(engine: AsyncEngine, tmp_path: Path) -> None:
    settings = await left_in_the_journal(engine, tmp_path, 10)
    spool = tmp_path / "spool"
    (spool / f"{0:020d}.jsonl").write_text('{"seq": 0, "effect": {"type": "Mystery"}}\n')
    again = Writer(settings, engine)
    task = await run_writer(again)
    assert await again.drain(10)
    await again.close(5)
    await task
    assert await count(engine, Call) == 10
    assert [p.name for p in spool.glob("*.bad")] == [f"{0:020d}.bad"]
    assert not list(spool.glob("*.jsonl"))


async def test_a_journal_record_this_version_cannot_read_is_counted_and_passed(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = await left_in_the_journal(engine, tmp_path, 5)
    (segment,) = (tmp_path / "spool").glob("*.wal")
    payload = b'{"seq":6,"effect":{"type":"FromTheFuture"}}'
    with segment.open("ab") as fh:  # last in the journal: the writer must not spin on it
        fh.write(frames_mod.HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
    again = Writer(settings, engine)
    task = await run_writer(again)
    assert await again.drain(10)
    again.submit(many(1, "17901")[0])
    assert await again.drain(10)
    await again.close(5)
    await task
    assert await count(engine, Call) == 6
    assert again.stats().journal.dropped == 1  # type: ignore[union-attr]


def decision(uniqueid: str, reason: str, queue: str = "support") -> Any:
    from acd.core.effects import AffinityDecided

    return AffinityDecided(
        uniqueid=uniqueid, linkedid=uniqueid, call_ids=(uniqueid,), queue=queue, action="wait_for_agent",
        reason=reason, shadow=False, agent="Local/1001@agents", agent_name="Agent 1001",
        callback_of="0.1", detail="busy", decided_at=BASE, at=BASE + 5,
    )  # fmt: skip


async def test_routing_decision_reaches_the_calls_in_either_order(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = store_settings(str(engine.url), tmp_path)
    store, writer = writer_over(SwitchableStore, engine, settings)
    task = await run_writer(writer)
    # r1: decision first, calls later (personal queue entry, then shared); r2: calls first.
    writer.submit(decision("r1", "fallback_busy_timeout"))
    assert await writer.drain(10)
    writer.submit(finished("r1", queue="acd-agent-1001", outcome="exited", exit_reason="timeout"))
    writer.submit(finished("r1", entry=2, linkedid="r1"))
    writer.submit(finished("r2", queue="acd-agent-1001"))
    assert await writer.drain(10)
    writer.submit(decision("r2", "original_agent"))
    writer.submit(decision("r2", "original_agent"))  # replayed
    store.down = True  # and one more through the journal, across a restart
    writer.submit(decision("r3", "fallback_unavailable"))
    await writer.close(0.2)
    await task
    again = Writer(settings, engine)
    task = await run_writer(again)
    again.submit(finished("r3", queue="sales"))
    assert await again.drain(10)
    await again.close(5)
    await task
    async with engine.connect() as conn:
        rows = (
            await conn.execute(select(calls_t.c.call_id, calls_t.c.routing).order_by(calls_t.c.call_id))
        ).all()
        decided = (
            await conn.execute(select(func.count()).select_from(table_of(RoutingDecision)))
        ).scalar_one()
    assert [tuple(r) for r in rows] == [
        ("r1", "fallback_busy_timeout"),
        ("r1#2", "fallback_busy_timeout"),
        ("r2", "original_agent"),
        ("r3", "fallback_unavailable"),
    ]
    assert decided == 3


async def test_new_records_do_not_hammer_a_dead_database(engine: AsyncEngine, tmp_path: Path) -> None:
    """While the database is down, attempts follow the back-off, not the rate of new records."""
    settings = store_settings(str(engine.url), tmp_path)
    store, writer = writer_over(SwitchableStore, engine, settings, retry_min=0.2, retry_max=0.4)
    store.down = True
    task = await run_writer(writer)
    for i, effect in enumerate(many(100)):  # 100 records over ~1 s
        writer.submit(effect)
        if i % 10 == 0:
            await asyncio.sleep(0.1)
    attempts = store.attempts
    await writer.close(0.1)
    await task
    assert 2 <= attempts <= 8, attempts  # 0.2 + 0.4 + 0.4 ... s apart, whatever arrives meanwhile
