"""Real captures through the real core into the database: every finished call becomes one row, a
second replay of the same traffic (as after a restart or resync) adds none, and personal affinity
queues are flagged and folded into their shared queue by the report."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from acd.capture.reading import iter_messages
from acd.capture.replay import replay
from acd.core.config import CoreConfig
from acd.core.effects import CallFinished, Effect
from acd.reads.summary import load_report
from acd.settings import Settings
from acd.store.migrate import prepare_database
from acd.store.schema.base import table_of
from acd.store.schema.records import Call, Offer
from acd.store.writer import Writer

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
CAPTURES = sorted(FIXTURES.glob("*.ami.log")) + sorted((FIXTURES / "weighted-queues").glob("*.ami.log"))


def capture_effects(settings: Settings) -> list[Effect]:
    effects: list[Effect] = []
    for path in CAPTURES:
        result = replay(iter_messages(path), config=CoreConfig.from_settings(settings), keep_effects=True)
        effects.extend(result.effects)
    return effects


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}"
    return str(request.getfixturevalue("pg_url"))


async def test_captures_replayed_twice_give_one_row_per_queue_entry(db_url: str, tmp_path: Path) -> None:
    settings = Settings(database={"url": db_url, "spool_dir": str(tmp_path / "spool")})  # type: ignore[arg-type]
    effects = capture_effects(settings)
    records = [e.record for e in effects if isinstance(e, CallFinished)]
    keys = {(r.uniqueid, r.entry) for r in records}
    assert len(keys) >= 15, "the captures hold at least this many queue entries"
    engine = await prepare_database(settings)
    try:
        for _ in range(2):
            writer = Writer(settings, engine)
            task = writer_task = asyncio.create_task(writer.run())
            for effect in capture_effects(settings):
                writer.submit(effect)
            assert await writer.drain(30)
            await writer.close(5)
            await writer_task
            assert task.done() and writer.stats().failures == 0
        calls = table_of(Call)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(select(calls.c.uniqueid, calls.c.entry, calls.c.queue, calls.c.personal))
            ).all()
            offers = (await conn.execute(select(func.count()).select_from(table_of(Offer)))).scalar_one()
        assert {(r.uniqueid, r.entry) for r in rows} == keys and len(rows) == len(keys)
        assert offers == len({(r.uniqueid, r.entry, i) for r in records for i in range(len(r.offers))})
        personal = [r for r in rows if r.personal]
        assert personal and all(r.queue.startswith("acd-agent-") for r in personal)
        first = min(r.joined_at for r in records)
        last = max(r.joined_at for r in records)
        report = await load_report(engine, settings, first, last + 1, last + 40 * 86400)
        assert report.queues and not any(q.startswith("acd-agent-") for q in report.queues)
        answered = sum(1 for r in records if r.outcome == "answered")
        assert sum(a["answered"] for a in report.agents.values()) == answered
    finally:
        await engine.dispose()


async def test_bulk_write_of_a_capture(tmp_path: Path) -> None:
    from acd.store.bulk import write_effects

    settings = Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'b.db'}", "spool_dir": str(tmp_path / "spool")}  # type: ignore[arg-type]
    )
    effects = capture_effects(settings)
    stats = await write_effects(settings, effects)
    assert stats.spooled == 0 and stats.failures == 0 and stats.backlog == 0
    engine = await prepare_database(settings)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(func.count()).select_from(table_of(Call)))).scalar_one()
    finally:
        await engine.dispose()
    assert rows == len({(e.record.uniqueid, e.record.entry) for e in effects if isinstance(e, CallFinished)})


async def test_history_seeds_a_restarted_core_so_callbacks_still_link(tmp_path: Path) -> None:
    """Cut-off call written by one daemon; the next daemon's core, seeded from the database, marks
    the same caller's new call as its callback."""
    from acd.core.callcenter import Core
    from acd.store.history import load_past_calls
    from tests.store_records import BASE, finished

    settings = Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'h.db'}", "spool_dir": str(tmp_path)}
    )  # type: ignore[arg-type]
    engine = await prepare_database(settings)
    try:
        from acd.store.upsert import RowUpserter

        await RowUpserter(engine, settings.server_id, "split").write(
            [
                finished("h1", caller_key="tel:5550100", cut_off=True, joined_at=BASE),
                finished("h2", caller_key=None, joined_at=BASE + 10),  # anonymous: never history
                finished("h0", caller_key="tel:5550199", joined_at=BASE - 5 * 86400),  # too old
            ]
        )
        past = await load_past_calls(engine, settings.server_id, now=BASE + 600, horizon=86400)
    finally:
        await engine.dispose()
    assert [p.id for p in past] == ["h1"] and past[0].cut_off and past[0].key == "tel:5550100"
    core = Core(CoreConfig.from_settings(settings))
    core.load_history(past)
    callback_of, repeat_of = core.history.match(
        "tel:5550100", "new.1", BASE + 600, callback_window=3600.0, repeat_window=86400.0
    )
    assert callback_of is not None and callback_of.id == "h1" and repeat_of is None
