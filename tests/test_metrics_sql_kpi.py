"""The SQL KPI source against real SQLite and PostgreSQL databases: hand-computed numbers, and every
gauge equal to ``acd report`` over its window's period."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.core.definitions import WINDOWS
from acd.metrics import Metrics
from acd.metrics.sql import SqlKpiSource, attach_sql_kpis, window_kpi
from acd.reads.summary import load_report
from acd.settings import Settings
from acd.store.migrate import prepare_database
from acd.store.outcomes import OutcomeInput, save_outcome
from acd.store.sales import CreditRules
from acd.store.upsert import RowUpserter
from tests.store_records import finished, with_customer_calls

DAY = 86400.0
HOUR = 3600.0
NOW = 1_800_000_000.0
SERVER = "pbx1"
A, B = "PJSIP/1000", "PJSIP/1001"


def calls() -> list[Any]:
    t = NOW - 3 * HOUR
    return [
        # Within the last 24 h, queue sales (threshold 20 s, short abandon 10 s).
        finished("a", agent=A, caller_key="k1", joined_at=t, wait_seconds=5),  # in SL, noted
        finished("b", agent=B, caller_key="k2", joined_at=t, wait_seconds=30, cut_off=True, cause=38),
        finished("c", outcome="abandoned", caller_key="k9", joined_at=t, wait_seconds=3),  # short
        finished("d", outcome="abandoned", caller_key="k9", joined_at=t + 1, wait_seconds=40),
        finished("e", outcome="exited", exit_reason="timeout", caller_key=None, joined_at=t, wait_seconds=60),
        # A callback waited 15 s for its agent, timed out, then 10 s in sales: 25 s from arrival.
        finished("f", queue="acd-agent-1001", outcome="exited", exit_reason="timeout", caller_key="k2",
                 joined_at=t + 300, wait_seconds=15, callback_of="b"),
        finished("f", entry=2, agent=A, caller_key="k2", joined_at=t + 315, wait_seconds=10, callback_of="b"),
        # An adopted call whose wait Asterisk never told: out of SL and ASA.
        finished("g", agent=A, caller_key="k3", joined_at=t + 600, wait_seconds=None, partial=True),
        # Repeat-contact population for 24 h: answered calls that ended 48 h..24 h ago.
        finished("h", agent=A, caller_key="k4", joined_at=NOW - 30 * HOUR, talk_seconds=60),
        finished("i", agent=B, caller_key="k5", joined_at=NOW - 40 * HOUR, talk_seconds=60),
        finished("j", agent=B, caller_key=None, caller_num=None, joined_at=NOW - 40 * HOUR),  # anonymous
        # Follow-up calls (in another queue): k4 10 h after h ended (a repeat), k5 30 h after i.
        finished("h2", agent=A, queue="support", caller_key="k4", joined_at=NOW - 20 * HOUR),
        finished("i2", agent=A, queue="support", caller_key="k5", joined_at=NOW - 10 * HOUR),
    ]  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'kpi.db'}"
    else:
        url = str(request.getfixturevalue("pg_url"))  # a throwaway PostgreSQL (tests/pg_fixtures.py)
    settings = Settings(
        server_id=SERVER,
        database={"url": url, "spool_dir": str(tmp_path / "spool")},  # type: ignore[arg-type]
    )
    eng = await prepare_database(settings)
    await RowUpserter(eng, SERVER, "split").write(with_customer_calls(calls()))
    await RowUpserter(eng, "other", "split").write(with_customer_calls([finished("x", joined_at=NOW - HOUR)]))
    async with eng.begin() as conn:
        for linkedid, notes, points, at in (
            ("a", "asked about the invoice", 40.0, NOW - 2 * HOUR),
            ("b", "first try at it", None, NOW - 2 * HOUR),
            ("b", "  ", None, NOW - HOUR),
        ):  # b's latest has no notes
            data = OutcomeInput(linkedid, linkedid, None, "sale", True, notes, points, "t", at, "api")
            await save_outcome(conn, SERVER, CreditRules("split"), data)  # fmt: skip
    yield eng
    await eng.dispose()


async def test_queue_kpis_match_hand_computed_numbers(engine: AsyncEngine) -> None:
    kpis = await SqlKpiSource(engine, Settings(server_id=SERVER)).compute(NOW)
    assert set(kpis.queues) == {"sales", "support"}  # no personal queue, no other server
    day = kpis.queues["sales"]["24h"]
    # Legs: a b c d e f#2 g (f folded); short abandon c; g's wait unknown: base 7 - 1 - 1 = 5.
    assert day.service_level == pytest.approx(1 / 5)  # a (5 s); b 30 s, f#2 25 s, d, e out
    assert day.answered == 4  # a b f#2 g
    assert day.cutoff_ratio == pytest.approx(1 / 4)
    assert day.notes_completeness == pytest.approx(1 / 4)  # a only: b's latest outcome is empty
    assert day.resolved_ratio == pytest.approx(2 / 4)  # a and b were marked resolved
    assert day.dispositions == {"sale": 2, "none": 2}
    assert day.credit == {"own_call": 40.0}
    # 24 h base: answered, keyed calls that ended 48..24 h ago: h (repeated by h2) and i (not).
    assert day.repeat_contact_ratio == pytest.approx(1 / 2)
    assert day.fcr == pytest.approx(1 / 2)
    week = kpis.queues["sales"]["7d"]
    assert week.answered == 7  # + h i j
    assert week.repeat_contact_ratio is None and week.fcr is None  # nothing ended 14 d..7 d ago


async def test_every_gauge_is_the_report_over_its_window(engine: AsyncEngine) -> None:
    settings = Settings(server_id=SERVER, metrics_per_agent=True)
    kpis = await SqlKpiSource(engine, settings).compute(NOW)
    for window, width in WINDOWS.items():
        report = await load_report(engine, settings, NOW - width, NOW, NOW)
        for queue, stats in report.queues.items():
            assert kpis.queues[queue][window] == window_kpi(stats, window), (queue, window)
        for stats in report.agents.values():
            assert kpis.agents[stats["name"]][window] == window_kpi(stats, window)


async def test_agent_kpis(engine: AsyncEngine) -> None:
    assert (await SqlKpiSource(engine, Settings(server_id=SERVER)).compute(NOW)).agents == {}  # opt-in
    kpis = await SqlKpiSource(engine, Settings(server_id=SERVER, metrics_per_agent=True)).compute(NOW)
    ann, bob = kpis.agents["Agent 1000"]["24h"], kpis.agents["Agent 1001"]["24h"]
    assert ann.answered == 5 and ann.repeat_contact_ratio == pytest.approx(1.0)  # a f#2 g h2 i2; h again
    assert bob.answered == 1 and bob.cutoff_ratio == pytest.approx(1.0)
    assert bob.repeat_contact_ratio == pytest.approx(0.0)  # i: k5 back after 30 h
    assert ann.service_level is None  # service level is a queue number


async def test_per_queue_thresholds_apply(engine: AsyncEngine) -> None:
    settings = Settings(server_id=SERVER, queues={"sales": {"service_level_seconds": 30}})
    kpis = await SqlKpiSource(engine, settings).compute(NOW)
    assert kpis.queues["sales"]["24h"].service_level == pytest.approx(3 / 5)  # b (30) and f#2 (25) now in


async def test_refresher_exports_sql_kpis(engine: AsyncEngine) -> None:
    m = Metrics(Settings(server_id=SERVER, metrics_per_agent=True))
    refresher = attach_sql_kpis(m, engine, clock=lambda: NOW, interval=0.01)
    refresher.start()
    for _ in range(500):
        if refresher.kpis is not None:
            break
        await asyncio.sleep(0.01)
    await refresher.stop()
    get = m.registry.get_sample_value
    assert get("acd_kpi_fcr_ratio", {"queue": "sales", "window": "24h"}) == pytest.approx(1 / 2)
    assert get("acd_kpi_fcr_ratio", {"queue": "sales", "window": "7d"}) is None
    assert get("acd_kpi_credit_points", {"queue": "sales", "attribution": "own_call", "window": "24h"}) == 40
    assert get("acd_kpi_dispositions", {"queue": "sales", "disposition": "none", "window": "24h"}) == 2
    assert (
        get("acd_agent_kpi_credit_points", {"agent": "Agent 1000", "attribution": "own_call", "window": "7d"})
        == 40
    )


def test_unknown_window_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported KPI window"):
        SqlKpiSource(None, Settings(), windows={"1y": 365 * DAY})  # type: ignore[arg-type]


async def test_notes_completeness_survives_a_purge(engine: AsyncEngine) -> None:
    from acd.store.purge import purge

    before = await SqlKpiSource(engine, Settings(server_id=SERVER)).compute(NOW)
    await purge(engine, SERVER, NOW, NOW)  # erase every note written so far
    after = await SqlKpiSource(engine, Settings(server_id=SERVER)).compute(NOW)
    assert after.queues == before.queues
