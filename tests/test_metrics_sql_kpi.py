"""The SQL KPI source against real SQLite and PostgreSQL databases migrated with the store's own migrations,
with numbers checked against hand-computed expectations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.metrics import Metrics
from acd.metrics.sql import SqlKpiSource, attach_sql_kpis
from acd.metrics.synthetic import record
from acd.settings import Settings
from acd.store.engine import make_engine
from acd.store.migrate import upgrade
from acd.store.models import Call, Outcome, table_of
from acd.store.rows import call_row

DAY = 86400.0
HOUR = 3600.0
NOW = 1_800_000_000.0
SERVER = "pbx1"


def entry(call_id: str, queue: str, joined: float, **kw: Any) -> dict[str, Any]:
    return call_row(record(call_id, queue, at=joined, **kw), SERVER)


def answered(call_id: str, queue: str, joined: float, wait: float, agent: int, **kw: Any) -> dict[str, Any]:
    row = entry(call_id, queue, joined, wait=wait, agent=agent, **kw)
    row["answered_at"] = joined + wait
    return row


def outcome(linkedid: str, notes: str | None, at: float) -> dict[str, Any]:
    return {
        "server_id": SERVER,
        "linkedid": linkedid,
        "call_id": linkedid,
        "agent": None,
        "disposition": "resolved",
        "resolved": True,
        "notes": notes,
        "points": None,
        "written_by": "test",
        "written_at": at,
        "source": "api",
    }


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'kpi.db'}"
    else:
        url = str(request.getfixturevalue("pg_url"))  # a throwaway PostgreSQL (tests/pg_fixtures.py)
    eng = make_engine(url)
    await upgrade(eng)
    t = NOW - 3 * HOUR
    rows = [
        # Within the last 24 h, queue sales (threshold 20 s, short abandon 10 s).
        answered("a", "sales", t, 5, agent=0, caller_key="k1"),  # in SL, noted
        answered("b", "sales", t, 30, agent=1, caller_key="k2", cut_off=True, cause=38),  # out of SL
        entry("c", "sales", t, outcome="abandoned", wait=3),  # short: out of the SL base
        entry("d", "sales", t, outcome="abandoned", wait=40),
        entry("e", "sales", t, outcome="exited", wait=60, exit_reason="timeout"),
        # A callback waited 15 s for its agent, timed out, then 10 s in sales: 25 s from arrival.
        entry("f", "acd-agent-1", t, outcome="exited", wait=15, exit_reason="timeout", callback_of="b"),
        answered("f#2", "sales", t + 15, 10, agent=2, linkedid="f", uniqueid="f", entry=2, callback_of="b"),
        # A callback answered by its agent in the personal queue: counted under the cut-off's queue.
        answered("g", "acd-agent-0", t, 2, agent=0, callback_of="b"),
        # Repeat-contact population for 24 h: answered calls that ended 48 h..24 h ago.
        answered("h", "sales", NOW - 30 * HOUR - 70, 10, agent=0, caller_key="k3", talk=60),
        answered("i", "sales", NOW - 40 * HOUR - 70, 10, agent=1, caller_key="k4", talk=60),
        answered("j", "sales", NOW - 40 * HOUR - 70, 10, agent=1, caller_key=None, talk=60),  # anonymous
        answered("k", "sales", NOW - 40 * HOUR - 70, 10, agent=1, caller_key=None, talk=60),  # purged
        # Follow-up calls (in another queue): k3 10 h after h ended (a repeat), k4 30 h after i.
        answered("h2", "support", NOW - 20 * HOUR, 5, agent=3, caller_key="k3"),
        answered("i2", "support", NOW - 10 * HOUR, 5, agent=3, caller_key="k4"),
        # Another server's rows never count.
        {**answered("x", "sales", t, 500, agent=0), "server_id": "other"},
    ]
    purged = next(r for r in rows if r["call_id"] == "k")
    rows.remove(purged)
    purged.update(purged_at=NOW - DAY, repeat_24h=True, repeat_7d=True, repeat_30d=None)
    async with eng.begin() as conn:
        await conn.execute(table_of(Call).insert(), rows)
        await conn.execute(table_of(Call).insert(), [purged])  # its own statement: more columns
        await conn.execute(
            table_of(Outcome).insert(),
            [
                outcome("a", "asked about the invoice", t + 100),
                outcome("b", "first try", t + 100),
                outcome("b", "  ", t + 200),  # the latest outcome of b has no notes
            ],
        )
    yield eng
    await eng.dispose()


async def test_queue_kpis_match_hand_computed_numbers(engine: AsyncEngine) -> None:
    kpis = await SqlKpiSource(engine, Settings(server_id=SERVER)).compute(NOW)
    assert set(kpis.queues) == {"sales", "support"}  # no personal queue, no other server
    day = kpis.queues["sales"]["24h"]
    # Legs: a b c d e f#2 g (7); short abandon c leaves 6; within 20 s: a and g.
    assert day.service_level == pytest.approx(2 / 6)
    assert day.answered == 4  # a b f#2 g
    assert day.cutoff_ratio == pytest.approx(1 / 4)
    assert day.notes_completeness == pytest.approx(1 / 4)  # a only: b's latest outcome is empty
    # Population h, i, k (j anonymous): h repeated within 24 h, i did not, k frozen as a repeat.
    assert day.repeat_contact_ratio == pytest.approx(2 / 3)
    assert day.fcr == pytest.approx(1 / 3)
    week = kpis.queues["sales"]["7d"]
    assert week.answered == 8  # + h i j k
    assert week.repeat_contact_ratio is None and week.fcr is None  # no call ended 8 d..7 d ago


async def test_agent_kpis(engine: AsyncEngine) -> None:
    kpis = await SqlKpiSource(engine, Settings(server_id=SERVER)).compute(NOW)
    ann, bob = kpis.agents["Agent 0"]["24h"], kpis.agents["Agent 1"]["24h"]
    assert ann.answered == 2 and ann.repeat_contact_ratio == pytest.approx(1.0)  # a g; h repeated
    assert bob.answered == 1 and bob.cutoff_ratio == pytest.approx(1.0)
    assert bob.repeat_contact_ratio == pytest.approx(1 / 2)  # i no, k yes
    assert ann.service_level is None  # service level is a queue number


async def test_per_queue_thresholds_apply(engine: AsyncEngine) -> None:
    settings = Settings(server_id=SERVER, queues={"sales": {"service_level_seconds": 30}})
    kpis = await SqlKpiSource(engine, settings).compute(NOW)
    assert kpis.queues["sales"]["24h"].service_level == pytest.approx(4 / 6)  # b (30) and f#2 (25) now in


async def test_refresher_exports_sql_kpis(engine: AsyncEngine) -> None:
    m = Metrics(Settings(server_id=SERVER))
    refresher = attach_sql_kpis(m, engine, clock=lambda: NOW, interval=0.01)
    refresher.start()
    for _ in range(500):
        if refresher.kpis is not None:
            break
        await asyncio.sleep(0.01)
    await refresher.stop()
    get = m.registry.get_sample_value
    assert get("acd_kpi_fcr_ratio", {"queue": "sales", "window": "24h"}) == pytest.approx(1 / 3)
    assert get("acd_kpi_fcr_ratio", {"queue": "sales", "window": "7d"}) is None


def test_unknown_window_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported KPI window"):
        SqlKpiSource(None, Settings(), windows={"1y": 365 * DAY})  # type: ignore[arg-type]


async def test_notes_completeness_survives_a_purge(engine: AsyncEngine) -> None:
    from acd.store.purge import purge

    before = await SqlKpiSource(engine, Settings(server_id=SERVER)).compute(NOW)
    await purge(engine, SERVER, NOW, NOW)  # erase every note written so far
    after = await SqlKpiSource(engine, Settings(server_id=SERVER)).compute(NOW)
    sales_before, sales_after = before.queues["sales"]["24h"], after.queues["sales"]["24h"]
    assert sales_before.notes_completeness is not None and sales_before.notes_completeness > 0
    assert sales_after.notes_completeness == pytest.approx(sales_before.notes_completeness)


async def test_a_transferred_call_counts_once_for_notes_and_repeats(engine: AsyncEngine) -> None:
    """Answered in sales, transferred to support: one customer call. Its notes and its repeat are
    charged to the support leg that closed it, as ``acd report`` charges them."""
    from acd.reporting.load import load_report

    t = NOW - 40 * HOUR - 70
    rows = [
        answered("t", "sales", t, 10, agent=0, caller_key="k5", talk=20),
        answered("t#2", "support", t + 40, 5, agent=3, linkedid="t", uniqueid="t", entry=2, caller_key="k5"),
        answered("t3", "support", NOW - 30 * HOUR, 5, agent=3, caller_key="k5"),  # k5 back 10 h later
    ]
    async with engine.begin() as conn:
        await conn.execute(table_of(Call).insert(), rows)
        await conn.execute(table_of(Outcome).insert(), [outcome("t", "order finished", t + 200)])
    settings = Settings(server_id=SERVER)
    kpis = await SqlKpiSource(engine, settings).compute(NOW)
    week_sales, week_support = kpis.queues["sales"]["7d"], kpis.queues["support"]["7d"]
    assert week_sales.answered == 9  # every answered leg, t's sales leg included
    # Customer calls closed in sales: a b f g h i j k (a noted). In support: h2 i2 t t3 (t noted).
    assert week_sales.notes_completeness == pytest.approx(1 / 8)
    assert week_support.notes_completeness == pytest.approx(1 / 4)
    # Repeat population for 24 h: sales h i k as before; support t (repeated by t3) and t3.
    assert kpis.queues["sales"]["24h"].repeat_contact_ratio == pytest.approx(2 / 3)
    assert kpis.queues["support"]["24h"].repeat_contact_ratio == pytest.approx(1 / 2)
    assert kpis.agents["Agent 3"]["24h"].repeat_contact_ratio == pytest.approx(1 / 2)

    report = await load_report(engine, settings, NOW - 7 * DAY, NOW, NOW)
    assert report.queues["sales"]["without_notes"] == 7  # 8 calls, 1 noted: the same call count
    assert report.queues["support"]["without_notes"] == 3
