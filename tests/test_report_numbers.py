"""`acd report` numbers against a hand-computed fixture, on SQLite and PostgreSQL, and `acd purge`.

The fixture (T = period start, period = one day, queue sales: SL 20 s, short abandon 10 s, wrap-up
5 s; support: defaults). Hand computation, sales:
  offered 11 = a1 a2 a3 a4 a5 a6 a7 a8 a12 a13 a14 (a4's personal-queue entry is folded into its
  shared entry; a14 reached only A's personal queue and is reported under a13's queue, sales)
  answered 8 = a1 a2 a3 a4 a7 a8 a13 a14; abandoned 1 (a6) + 1 short (a5); exited 1 (a12)
  SL = answered within 20 s (a1 a3 a4 a7 a8 a13 a14 = 7) / (11 - 1 short) = 0.7
  ASA = (10+30+5+19+2+8+3+6)/8 = 10.375   (a4 waited 15 s in B's queue + 4 s in sales)
  AHT = (100+200+60+50+30+40+20+70)/8 + 5 = 76.25
  cut-offs 2 (a3, a13); callbacks 2: a4 other_agent, a14 reached_original
  repeats (judged 40 days later): a1 -> a8 after 2 h; a2 -> a9 after 3 days; a3 -> a4; a13 -> a14;
  a4, a8, a14 none; a7 anonymous (excluded): 24h 3/7, 7d 4/7, 30d 4/7
  without notes: a2 a3 (empty) a7 a8 a13 a14 = 6; credit: a4's 100 points split B 50 / C 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.reporting.compute import CallRow, QueueRules, compute_report
from acd.reporting.load import load_report
from acd.reporting.render import to_table
from acd.settings import Settings
from acd.store.migrate import prepare_database
from acd.store.models import Call, Outcome, table_of
from acd.store.outcomes import OutcomeInput, save_outcome
from acd.store.purge import purge
from acd.store.sales import CreditRules
from acd.store.sink import Store
from tests.store_records import BASE, finished, with_customer_calls

T = BASE
DAY = 86400.0
A, B, C = "Local/1001@agents", "Local/1002@agents", "Local/1003@agents"


def fixture_effects() -> list[Any]:
    def f(uid: str, *, at: float, w: float, t: float = 0.0, **fields: Any) -> Any:
        return finished(uid, joined_at=T + at, wait_seconds=w, talk_seconds=t, **fields)

    return [
        f("a1", agent=A, caller_key="K1", at=0, w=10, t=100),
        f("a2", agent=A, caller_key="K2", at=1000, w=30, t=200),
        f("a3", agent=B, caller_key="K3", at=2000, w=5, t=60, cut_off=True),
        f("a4", queue="acd-agent-1002", outcome="exited", exit_reason="timeout", caller_key="K3",
          at=3000, w=15, callback_of="a3"),
        f("a4", entry=2, linkedid="a4", agent=C, caller_key="K3", at=3015, w=4,
          t=50, callback_of="a3"),
        f("a5", outcome="abandoned", exit_reason="short", caller_key="K4", at=4000, w=5),
        f("a6", outcome="abandoned", exit_reason="long", caller_key="K5", at=5000, w=40),
        f("a7", agent=B, caller_key=None, caller_num=None, at=6000, w=2, t=30),
        f("a8", agent=B, caller_key="K1", at=7200, w=8, t=40),
        f("a9", agent=A, caller_key="K2", at=3 * DAY, w=1, t=10),
        f("a10", agent=C, queue="support", caller_key="K6", at=8000, w=25,
          t=90),
        f("a11", agent=C, queue="support", caller_key="K6", at=20 * DAY, w=1,
          t=10),
        f("a12", outcome="exited", exit_reason="timeout", caller_key="K7", at=9000, w=60),
        f("a13", agent=A, caller_key="K8", at=10000, w=3, t=20, cut_off=True),
        f("a14", queue="acd-agent-1001", agent=A, caller_key="K8", at=10500, w=6,
          t=70, callback_of="a13"),
    ]  # fmt: skip


OUTCOMES = [  # linkedid, agent, notes, points
    ("a1", A, "wants blue", None),
    ("a3", B, "", None),
    ("a4", C, "order finished", 100.0),
    ("a10", C, None, None),
]

EXPECTED_SALES = {
    "offered": 11, "answered": 8, "abandoned": 1, "abandoned_short": 1, "exited": 1,
    "service_level": 0.7, "service_level_seconds": 20.0, "asa_seconds": 10.375, "aht_seconds": 76.25,
    "cut_offs": 2, "callbacks": 2, "callbacks_by_routing": {"other_agent": 1, "reached_original": 1},
    "without_notes": 6, "credit_points": 100.0,
    "repeat_contacts": {
        "24h": {"repeats": 3, "decided": 7, "pending": 0, "rate": 3 / 7},
        "7d": {"repeats": 4, "decided": 7, "pending": 0, "rate": 4 / 7},
        "30d": {"repeats": 4, "decided": 7, "pending": 0, "rate": 4 / 7},
    },
    "fcr": {"24h": 4 / 7, "7d": 3 / 7, "30d": 3 / 7},
}  # fmt: skip
EXPECTED_SUPPORT = {
    "offered": 1, "answered": 1, "abandoned": 0, "abandoned_short": 0, "exited": 0, "service_level": 0.0,
    "service_level_seconds": 20.0, "asa_seconds": 25.0, "aht_seconds": 90.0, "cut_offs": 0, "callbacks": 0,
    "callbacks_by_routing": {}, "without_notes": 1, "credit_points": 0.0,
    "repeat_contacts": {
        "24h": {"repeats": 0, "decided": 1, "pending": 0, "rate": 0.0},
        "7d": {"repeats": 0, "decided": 1, "pending": 0, "rate": 0.0},
        "30d": {"repeats": 1, "decided": 1, "pending": 0, "rate": 1.0},
    },
    "fcr": {"24h": 1.0, "7d": 1.0, "30d": 0.0},
}  # fmt: skip
EXPECTED_AGENTS = {
    # answered, talk, aht, cut-offs, callbacks taken, of own cut-offs, without notes, credit,
    # (repeats, decided) for 24h, 7d, 30d
    "Agent 1001": (4, 390.0, 97.5, 1, 1, 1, 3, 0.0, ((2, 4), (3, 4), (3, 4))),
    "Agent 1002": (3, 130.0, 130.0 / 3, 1, 0, 0, 3, 50.0, ((1, 2), (1, 2), (1, 2))),
    "Agent 1003": (2, 140.0, 70.0, 0, 1, 0, 1, 50.0, ((0, 2), (0, 2), (1, 2))),
}


def same(got: Any, expected: Any) -> bool:
    """Equal, with floats compared to 1e-9 at any depth."""
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and got.keys() == expected.keys()
            and all(same(got[k], v) for k, v in expected.items())
        )
    if isinstance(expected, float) and isinstance(got, float | int):
        return abs(got - expected) < 1e-9
    return bool(got == expected) and type(got) is type(expected)


def report_settings(url: str, tmp_path: Path) -> Settings:
    return Settings(
        database={"url": url, "spool_dir": str(tmp_path / "spool")},  # type: ignore[arg-type]
        queues={"sales": {"wrapup_seconds": 5}},
        credit_policy="split",
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}"
    return str(request.getfixturevalue("pg_url"))


async def seeded(url: str, tmp_path: Path) -> tuple[Settings, AsyncEngine]:
    settings = report_settings(url, tmp_path)
    engine = await prepare_database(settings)
    store = Store(engine, settings.server_id, settings.credit_policy)
    await store.write(with_customer_calls(fixture_effects()))
    async with engine.begin() as conn:
        for i, (linkedid, agent, notes, points) in enumerate(OUTCOMES):
            data = OutcomeInput(
                linkedid, linkedid, agent, "sale", True, notes, points, agent, T + DAY + i, "api"
            )
            await save_outcome(conn, settings.server_id, CreditRules(settings.credit_policy), data)
    return settings, engine


def check_agents(agents: dict[str, Any]) -> None:
    assert set(agents) == set(EXPECTED_AGENTS)
    for name, (answered, talk, aht, cuts, cbs, own, no_notes, credit, repeats) in EXPECTED_AGENTS.items():
        got = agents[name]
        assert (got["answered"], got["talk_seconds"], got["cut_offs"]) == (answered, talk, cuts), name
        assert got["aht_seconds"] == pytest.approx(aht), name
        assert (got["callbacks_taken"], got["callbacks_of_own_cut_offs"]) == (cbs, own), name
        assert (got["without_notes"], got["credit_points"]) == (no_notes, credit), name
        windows = got["repeat_contacts"]
        assert tuple((windows[w]["repeats"], windows[w]["decided"]) for w in ("24h", "7d", "30d")) == repeats


async def test_report_matches_hand_computation(db_url: str, tmp_path: Path) -> None:
    settings, engine = await seeded(db_url, tmp_path)
    try:
        report = await load_report(engine, settings, T, T + DAY, T + 40 * DAY)
    finally:
        await engine.dispose()
    assert same(report.queues, {"sales": EXPECTED_SALES, "support": EXPECTED_SUPPORT}), report.queues
    check_agents(report.agents)


def _rows(now: float) -> list[CallRow]:
    rows = []
    for effect in fixture_effects():
        r = effect.record
        if r.joined_at > now:
            continue
        rows.append(
            CallRow(r.id, r.linkedid, r.queue, r.joined_at, r.ended_at, r.answered_at, r.outcome, r.agent,
                    r.agent_name, r.wait_seconds, r.talk_seconds, r.cut_off, r.agent_released_short,
                    r.callback_of, None, r.caller_key)
        )  # fmt: skip
    return rows


def test_open_windows_are_pending_not_zero() -> None:
    """Judged two days after the period start: 24 h windows are closed, 7 d and 30 d are not."""
    now = T + 2 * DAY
    report = compute_report(
        _rows(now),
        since=T,
        until=T + DAY,
        now=now,
        rules=lambda q: QueueRules(20.0, 10.0, 0.0),
        notes={},
        credits=[],
    )
    sales = report.queues["sales"]["repeat_contacts"]
    assert sales["24h"] == {"repeats": 3, "decided": 7, "pending": 0, "rate": 3 / 7}
    # a1, a3, a13 already came back; a2, a4, a8, a14 may still: pending, not counted as resolved.
    assert sales["7d"] == {"repeats": 3, "decided": 3, "pending": 4, "rate": 1.0}
    assert report.queues["support"]["repeat_contacts"]["30d"] == {
        "repeats": 0, "decided": 0, "pending": 1, "rate": None,
    }  # fmt: skip
    assert report.queues["support"]["fcr"]["30d"] is None
    assert "pending" in to_table(report)


def test_outputs_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from acd.commands import report as report_cmd

    url = f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}"
    asyncio.run(_seed_and_close(url, tmp_path))
    parser = argparse.ArgumentParser()
    report_cmd.register(parser.add_subparsers())
    period = ["--from", str(T), "--to", str(T + DAY), "--now", str(T + 40 * DAY)]
    import os

    os.environ["ACD_QUEUES"] = json.dumps({"sales": {"wrapup_seconds": 5}})
    try:
        assert report_cmd.main(parser.parse_args(["report", "--database", url, *period, "--json"])) == 0
        data = json.loads(capsys.readouterr().out)
        assert same(data["queues"]["sales"], EXPECTED_SALES)
        assert data["agents"]["Agent 1001"]["answered"] == 4
        assert report_cmd.main(parser.parse_args(["report", "--database", url, *period, "--csv"])) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].startswith("kind,name,offered,answered,abandoned")
        assert lines[1].startswith("queue,sales,11,8,1,1,1,") and len(lines) == 1 + 2 + 3
        assert report_cmd.main(parser.parse_args(["report", "--database", url, *period])) == 0
        table = capsys.readouterr().out
        assert "70.0%" in table and "Agent 1003" in table and "legend: " in table
        assert max(len(line) for line in table.splitlines()) <= 120
        assert report_cmd.main(parser.parse_args(["report", "--database", url, *period, "--wide"])) == 0
        wide = capsys.readouterr().out
        assert "reached_original 1" in wide and "repeat 30d" in wide and "repeat 30d" not in table
        bad = parser.parse_args(["report", "--database", url, "--from", "yesterday"])
        assert report_cmd.main(bad) == 2
    finally:
        del os.environ["ACD_QUEUES"]


async def _seed_and_close(url: str, tmp_path: Path) -> None:
    _, engine = await seeded(url, tmp_path)
    await engine.dispose()


async def test_purge_erases_personal_data_and_keeps_the_numbers(db_url: str, tmp_path: Path) -> None:
    settings, engine = await seeded(db_url, tmp_path)
    now = T + 40 * DAY
    try:
        before = await load_report(engine, settings, T, T + DAY, now)
        result = await purge(engine, settings.server_id, T + 25 * DAY, now)
        assert result.calls == 15 and result.notes == 3  # a11 (day 20) is older too; a10 had no notes
        calls = table_of(Call)
        async with engine.connect() as conn:
            left = (
                await conn.execute(
                    select(calls.c.call_id).where(
                        (calls.c.caller_num.is_not(None)) | (calls.c.caller_key.is_not(None))
                    )
                )
            ).all()
            notes = (await conn.execute(select(table_of(Outcome).c.notes))).scalars().all()
        assert left == [] and all(n in (None, "") for n in notes)
        after = await load_report(engine, settings, T, T + DAY, now)
        assert after.queues == before.queues
        assert after.agents["Agent 1001"]["repeat_contacts"] == before.agents["Agent 1001"]["repeat_contacts"]
        assert (await purge(engine, settings.server_id, T + 25 * DAY, now)).calls == 0
        # Replaying the same traffic later (acd replay, a resync) brings no personal data back.
        await Store(engine, settings.server_id, settings.credit_policy).write(fixture_effects())
        async with engine.connect() as conn:
            numbers = (await conn.execute(select(calls.c.caller_num))).scalars().all()
        assert len(numbers) == 15 and set(numbers) == {None}
    finally:
        await engine.dispose()


async def test_retention_task_purges_old_personal_data(tmp_path: Path) -> None:
    """Retention 10 days, judged on day 25: everything but a11 (day 20) loses its caller number."""
    from acd.store.purge import run_retention

    settings, engine = await seeded(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", tmp_path)
    database = settings.database.model_copy(update={"retention_days": 10})
    settings = settings.model_copy(update={"database": database})
    task = asyncio.create_task(run_retention(engine, settings, clock=lambda: T + 25 * DAY, interval=0.05))
    calls = table_of(Call)
    kept: set[str] = set()
    try:
        for _ in range(200):
            await asyncio.sleep(0.02)
            async with engine.connect() as conn:
                rows = await conn.execute(select(calls.c.call_id).where(calls.c.caller_num.is_not(None)))
                kept = {r.call_id for r in rows}
            if len(kept) == 1:
                break
    finally:
        task.cancel()
        await engine.dispose()
    assert kept == {"a11"}


async def test_routing_decision_names_queue_and_routing_result(tmp_path: Path) -> None:
    """A callback answered in its agent's personal queue is reported under the shared queue its
    routing decision names, and counted under the decision's reason."""
    from acd.core.effects import AffinityDecided

    settings = report_settings(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}", tmp_path)
    engine = await prepare_database(settings)
    try:
        await Store(engine, settings.server_id, settings.credit_policy).write(
            [
                finished("x1", agent=A, queue="sales", caller_key="K9", cut_off=True),
                finished("x2", agent=A, queue="acd-agent-1001", caller_key="K9", joined_at=T + 300,
                         callback_of="x1"),
                AffinityDecided("x2", "x2", ("x2",), "support", "offer_now", "original_agent", False, A,
                                "Agent 1001", "x1", "free", T + 300, T + 340),
            ]
        )  # fmt: skip
        report = await load_report(engine, settings, T, T + DAY, T + 40 * DAY)
    finally:
        await engine.dispose()
    assert list(report.queues) == ["sales", "support"]  # the decision wins over the original's queue
    support = report.queues["support"]
    assert (support["offered"], support["callbacks"]) == (1, 1)
    assert support["callbacks_by_routing"] == {"original_agent": 1}
