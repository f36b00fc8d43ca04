"""`acd db backfill`: rows an older acd wrote get exactly what the daemon writes today, in batches,
resumably, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.core.config import CoreConfig
from acd.core.effects import AffinityDecided
from acd.store import migrate
from acd.store.backfill import backfill
from acd.store.database import make_engine
from acd.store.outcomes import OutcomeInput, save_outcome
from acd.store.sales import CreditRules
from acd.store.schema.base import table_of
from acd.store.schema.outcomes import Outcome, SaleCredit
from acd.store.schema.records import Call, CustomerCallRow
from acd.store.upsert import RowUpserter
from tests.store_records import BASE, finished, with_customer_calls

A, B, C = "Local/1001@agents", "Local/1002@agents", "Local/1003@agents"
DAY = 86400.0


def history() -> list[Any]:
    """A cut-off and its two-hop callback chain (one via a personal queue), a repeat, a transfer."""
    return [
        finished("h1", agent=A, caller_key="K1", cut_off=True, ended_by="caller", caller_cause=41),
        finished("h2", queue="acd-agent-1001", outcome="exited", exit_reason="timeout", caller_key="K1",
                 joined_at=BASE + 600, wait_seconds=12.0, callback_of="h1"),
        finished("h2", entry=2, agent=B, caller_key="K1", joined_at=BASE + 612, wait_seconds=4.0,
                 callback_of="h1", cut_off=True, ended_by="agent", agent_cause=38),
        AffinityDecided("h2", "h2", ("h2",), "sales", "wait_for_agent", "fallback_busy_timeout", False, A,
                        "Agent 1001", "h1", "in_call", BASE + 600, BASE + 612),
        finished("h3", agent=C, caller_key="K1", joined_at=BASE + 1200, callback_of="h2#2"),
        finished("r1", agent=A, caller_key="K2", joined_at=BASE + 2000),
        finished("r2", agent=B, caller_key="K2", joined_at=BASE + 2000 + 3 * 3600),
        finished("t1", agent=A, caller_key="K3", joined_at=BASE + 3000, ended_by="transfer"),
        finished("t1", entry=2, queue="support", agent=C, caller_key="K3", joined_at=BASE + 3040),
        finished("x1", outcome="abandoned", exit_reason="long", caller_key="K4", joined_at=BASE + 4000,
                 wait_seconds=40.0),
    ]  # fmt: skip


OUTCOMES = [  # linkedid, agent, points, at
    ("h1", A, 40.0, BASE + 500),
    ("h3", C, 40.0, BASE + 1500),
    ("r1", A, None, BASE + 2500),
]


async def write_as_before(engine: AsyncEngine, effects: list[Any]) -> None:
    """What an acd before customer calls wrote: the entries only (its store kept no rollup marks:
    their table comes with a later revision)."""

    async def no_marks(*_args: object) -> None:
        return None

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("acd.store.marks._write", no_marks)
        await RowUpserter(engine, "asterisk", "split").write(effects)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'old.db'}", f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    server = request.getfixturevalue("pg_server")
    return server.url(server.create_database()), server.url(server.create_database())


async def outcomes(engine: AsyncEngine, raw: bool) -> None:
    async with engine.begin() as conn:
        for linkedid, agent, points, at in OUTCOMES:
            data = OutcomeInput(linkedid, linkedid, agent, "sale", True, "notes here, enough words", points,
                                agent, at, "api")  # fmt: skip
            if raw:  # as the first schema's writer stored it
                await conn.execute(
                    table_of(Outcome).insert().values(
                        server_id="asterisk", linkedid=linkedid, call_id=linkedid, agent=agent,
                        disposition="sale", resolved=True, notes=data.notes, points=points, written_by=agent,
                        written_at=at, source="api",
                    )
                )  # fmt: skip
            else:
                await save_outcome(conn, "asterisk", CreditRules("split"), data)


async def snapshot(engine: AsyncEngine) -> dict[str, Any]:
    cc = table_of(CustomerCallRow)
    calls = table_of(Call)
    credits = table_of(SaleCredit)
    async with engine.connect() as conn:
        rows = {
            r.linkedid: {k: v for k, v in r._mapping.items() if k not in ("id", "updated_at")}
            for r in await conn.execute(select(cc))
        }
        legs = {
            r.call_id: (r.leg_queue, r.leg_counted, r.leg_wait, r.leg_closing)
            for r in await conn.execute(select(calls))
        }
        shares = sorted(
            (r.sale_id, r.agent, r.points, r.attribution) for r in await conn.execute(select(credits))
        )
    return {"calls": rows, "legs": legs, "shares": shares}


async def test_backfill_gives_what_the_daemon_writes(urls: tuple[str, str]) -> None:
    old_url, new_url = urls
    old = make_engine(old_url)
    new = make_engine(new_url)
    try:
        await migrate.upgrade(old, "0003")
        await write_as_before(old, history())
        await migrate.upgrade(old)
        await outcomes(old, raw=True)
        done: list[tuple[int, int]] = []

        def stop_after_first(n: int, total: int) -> None:
            done.append((n, total))
            raise KeyboardInterrupt  # an operator's Ctrl-C after the first batch

        config = CoreConfig()
        with pytest.raises(KeyboardInterrupt):
            await backfill(
                old, config, lambda s: RowUpserter(old, s, "split"), batch=3, progress=stop_after_first
            )
        assert done == [(3, 9)]  # h1, and h2 with both its entries
        result = await backfill(old, config, lambda s: RowUpserter(old, s, "split"), batch=3)
        assert (result.entries, result.remaining) == (6, 0)
        again = await backfill(old, config, lambda s: RowUpserter(old, s, "split"), batch=3)
        assert (again.entries, again.remaining) == (0, 0)

        await migrate.upgrade(new)
        await RowUpserter(new, "asterisk", "split").write(with_customer_calls(history()))
        await outcomes(new, raw=False)
        got, want = await snapshot(old), await snapshot(new)
        assert got["legs"] == want["legs"]
        assert got["shares"] == want["shares"]
        assert got["calls"] == want["calls"]
        chain = {k: (v["chain_id"], v["chain_seq"]) for k, v in got["calls"].items() if k.startswith("h")}
        assert chain == {"h1": ("h1", 0), "h2": ("h1", 1), "h3": ("h1", 2)}
        assert got["calls"]["h1"]["repeat_exempt"] is True  # caller-side cut-off, called back
        assert got["calls"]["h2"]["repeat_exempt"] is None  # the agent's cut-off: charged
        assert got["calls"]["r1"]["next_contact_call"] == "r2"
        assert got["legs"]["h2"] == ("sales", False, None, False)
        assert got["legs"]["h2#2"][2] == pytest.approx(16.0)
    finally:
        await old.dispose()
        await new.dispose()


async def test_backfill_keeps_the_frozen_repeat_flags_of_purged_calls(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    try:
        await migrate.upgrade(engine, "0003")
        await write_as_before(
            engine,
            [
                finished("p1", caller_key="K9", joined_at=BASE),
                finished("p2", caller_key="K9", joined_at=BASE + 5 * DAY),
            ],
        )
        async with engine.begin() as conn:  # what `acd purge` of the first schema left
            await conn.execute(
                text(
                    "UPDATE calls SET caller_key = NULL, caller_num = NULL, caller_name = NULL,"
                    " purged_at = :t, repeat_24h = false, repeat_7d = true, repeat_30d = true,"
                    " repeat_frozen = true"
                    " WHERE call_id = 'p1'"
                ),
                {"t": BASE + 40 * DAY},
            )
        await migrate.upgrade(engine)
        await backfill(engine, CoreConfig(), lambda s: RowUpserter(engine, s, "split"))
        cc = table_of(CustomerCallRow)
        async with engine.connect() as conn:
            row = (await conn.execute(select(cc).where(cc.c.linkedid == "p1"))).one()
        assert row.keyed and row.caller_key is None and row.purged_at == BASE + 40 * DAY
        assert row.next_contact_at == pytest.approx(row.ended_at + 7 * DAY)  # within 7 d, not 24 h
    finally:
        await engine.dispose()
