"""`acd report` numbers against a hand-computed fixture, on SQLite and PostgreSQL, and `acd purge`.

The fixture (T = day 0; queue sales: SL 20 s, short abandon 10 s, wrap-up 5 s; support: defaults),
every call ended by the caller unless said otherwise. Over the period [T, T + 1 d), sales:
  offered 11 = a1 a2 a3 a4#2 a5 a6 a7 a8 a12 a13 a14 (a4's personal-queue entry is folded into its
  shared leg; a14 was answered in A's personal queue: a leg of the queue of the call it calls back)
  answered 8 = a1 a2 a3 a4#2 a7 a8 a13 a14; abandoned 1 (a6) + 1 short (a5); exited 1 (a12)
  SL = answered within 20 s (a1 a3 a4#2 a7 a8 a13 a14 = 7) / (11 - 1 short) = 0.7
  ASA = (10+30+5+19+2+8+3+6)/8 = 10.375   (a4 waited 15 s in B's queue + 4 s in sales)
  AHT = (100+200+60+50+30+40+20+70)/8 + 5 = 76.25
  cut-offs 2 (a3, a13); callbacks 2: a4 by another rep, a14 by the rep who had a13
  without notes: a2 a3 (empty) a7 a8 a13 a14 = 6; resolved a1 a3 a4 = 3
  credit: a4's 100 points, chain a3 (B) -> a4 (C), split: B 50 original, C 50 closer
Repeat contacts are judged on calls that *ended* W before the period: over [T + 1 d, T + 2 d) the
24 h base is the answered, keyed calls that ended on day 0, minus a3 and a13 (cut off from the
caller's side and called back: neither repeat nor resolution) and a7 (anonymous): a1 a2 a4 a8 a14
(sales) and a10 (support); a1 came back (a8) within 24 h: sales 1/5. Over [T, T + 40 d) the 7 d base
adds a9 and a11: a1 and a2 (a9 three days later) repeated; the 30 d base is every call that ended
before day 10 (a11 is pending): a1, a2 and a10 (a11 twenty days later) repeated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.core.effects import AffinityDecided
from acd.reads.summary import load_report
from acd.reporting.render import to_table
from acd.settings import Settings
from acd.store.migrate import prepare_database
from acd.store.outcomes import OutcomeInput, save_outcome
from acd.store.purge import purge
from acd.store.sales import CreditRules
from acd.store.schema.base import table_of
from acd.store.schema.outcomes import Outcome
from acd.store.schema.records import Call, CustomerCallRow
from acd.store.upsert import RowUpserter
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


def no_repeats(pending: int = 0) -> dict[str, Any]:
    return {"repeats": 0, "decided": 0, "pending": pending, "rate": None}


EXPECTED_SALES = {
    "offered": 11, "answered": 8, "abandoned": 1, "abandoned_short": 1, "exited": 1, "wait_unknown": 0,
    "service_level": 0.7, "service_level_seconds": 20.0, "asa_seconds": 10.375, "aht_seconds": 76.25,
    # customer calls: a1-a8, a12-a14 (a4's two entries are one call); a9 is days later
    "talk_seconds": 570.0, "cut_offs": 2, "agent_released_short": 0, "customer_calls": 11,
    "answered_calls": 8,
    "without_notes": 6, "trivial_notes": 0, "resolved": 3, "dispositions": {"none": 5, "sale": 3},
    "callbacks": 2, "callbacks_taken": 2, "callbacks_of_own_cut_offs": 1,
    "callbacks_by_result": {"original_agent": 1, "other_agent": 1}, "callbacks_by_routing": {"not_routed": 2},
    # cut-offs 2 / answered 8; notes 2 of 8 calls; resolved 3 of 8
    "cut_off_rate": 0.25, "agent_released_short_rate": 0.0, "notes_complete": 0.25, "resolved_rate": 0.375,
    # judged over [T, T + 1 d): nothing ended W before it; the day's answered calls are pending
    "repeat_contacts": {"24h": no_repeats(5), "7d": no_repeats(5), "30d": no_repeats(5)},
    "fcr": {"24h": None, "7d": None, "30d": None},
    "credit_points": 100.0, "credit": {"closer": 50.0, "original": 50.0}, "credit_adjusted": 0,
    "credit_disputed": 0,
}  # fmt: skip
EXPECTED_SUPPORT = {
    "offered": 1, "answered": 1, "abandoned": 0, "abandoned_short": 0, "exited": 0, "wait_unknown": 0,
    "service_level": 0.0, "service_level_seconds": 20.0, "asa_seconds": 25.0, "aht_seconds": 90.0,
    "talk_seconds": 90.0, "cut_offs": 0, "agent_released_short": 0, "customer_calls": 1, "answered_calls": 1,
    "without_notes": 1, "trivial_notes": 0, "resolved": 1, "dispositions": {"sale": 1},
    "callbacks": 0, "callbacks_taken": 0, "callbacks_of_own_cut_offs": 0,
    "callbacks_by_result": {}, "callbacks_by_routing": {},
    "cut_off_rate": 0.0, "agent_released_short_rate": 0.0, "notes_complete": 0.0, "resolved_rate": 1.0,
    "repeat_contacts": {"24h": no_repeats(1), "7d": no_repeats(1), "30d": no_repeats(1)},
    "fcr": {"24h": None, "7d": None, "30d": None},
    "credit_points": 0.0, "credit": {}, "credit_adjusted": 0, "credit_disputed": 0,
}  # fmt: skip
EXPECTED_AGENTS = {
    # name, answered, talk, aht, cut-offs, callbacks taken, of own cut-offs, without notes, credit
    A: ("Agent 1001", 4, 390.0, 97.5, 1, 1, 1, 3, {}),
    B: ("Agent 1002", 3, 130.0, 130.0 / 3, 1, 0, 0, 3, {"original": 50.0}),
    C: ("Agent 1003", 2, 140.0, 70.0, 0, 1, 0, 1, {"closer": 50.0}),
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


async def seeded(url: str, tmp_path: Path) -> tuple[Settings, AsyncEngine]:
    settings = report_settings(url, tmp_path)
    engine = await prepare_database(settings)
    store = RowUpserter(engine, settings.server_id, settings.credit_policy)
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
    for agent, (name, answered, talk, aht, cuts, cbs, own, no_notes, credit) in EXPECTED_AGENTS.items():
        got = agents[agent]
        assert (got["agent"], got["name"]) == (agent, name)
        assert (got["answered"], got["talk_seconds"], got["cut_offs"]) == (answered, talk, cuts), name
        assert got["aht_seconds"] == pytest.approx(aht), name
        assert (got["callbacks_taken"], got["callbacks_of_own_cut_offs"]) == (cbs, own), name
        assert (got["without_notes"], got["credit"]) == (no_notes, credit), name


async def test_report_matches_hand_computation(db_url: str, tmp_path: Path) -> None:
    settings, engine = await seeded(db_url, tmp_path)
    try:
        report = await load_report(engine, settings, T, T + DAY, T + 40 * DAY)
        next_day = await load_report(engine, settings, T + DAY, T + 2 * DAY, T + 40 * DAY)
        forty = await load_report(engine, settings, T, T + 40 * DAY, T + 40 * DAY)
    finally:
        await engine.dispose()
    assert same(report.queues, {"sales": EXPECTED_SALES, "support": EXPECTED_SUPPORT}), report.queues
    check_agents(report.agents)
    assert report.unfilled == 0
    day = next_day.queues["sales"]["repeat_contacts"]
    assert day["24h"] == {"repeats": 1, "decided": 5, "pending": 0, "rate": 0.2}
    assert next_day.queues["sales"]["fcr"]["24h"] == pytest.approx(0.8)
    assert next_day.queues["support"]["repeat_contacts"]["24h"]["decided"] == 1
    assert next_day.agents[A]["repeat_contacts"]["24h"] == {"repeats": 1, "decided": 3, "pending": 0,
                                                            "rate": 1 / 3}  # fmt: skip
    q = forty.queues
    both = {
        w: tuple(q["sales"]["repeat_contacts"][w][k] + q["support"]["repeat_contacts"][w][k]
                 for k in ("repeats", "decided", "pending"))
        for w in ("7d", "30d")
    }  # fmt: skip
    assert both == {"7d": (2, 8, 0), "30d": (3, 7, 1)}


def test_fcr_is_pending_or_no_data_never_zero() -> None:
    from acd.reads.summary import Report

    empty = {"repeats": 0, "decided": 0, "pending": 0, "rate": None}
    queue = {**EXPECTED_SUPPORT, "repeat_contacts": {"24h": no_repeats(3), "7d": empty, "30d": empty}}
    table = to_table(Report(T, T + DAY, T + DAY, {"support": queue}, {}), wide=True)
    assert "pending 3 / no data / no data" in table
    assert "pending 3" in to_table(Report(T, T + DAY, T + DAY, {"support": queue}, {}))


def test_outputs_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from acd.commands import report as report_cmd

    url = f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}"
    asyncio.run(_seed_and_close(url, tmp_path))
    parser = argparse.ArgumentParser()
    report_cmd.register(parser.add_subparsers())
    period = ["--from", str(T), "--to", str(T + DAY), "--now", str(T + 40 * DAY)]
    os.environ["ACD_QUEUES"] = json.dumps({"sales": {"wrapup_seconds": 5}})
    try:
        assert report_cmd.main(parser.parse_args(["report", "--database", url, *period, "--json"])) == 0
        data = json.loads(capsys.readouterr().out)
        assert same(data["queues"]["sales"], EXPECTED_SALES)
        assert data["agents"][A]["answered"] == 4
        assert report_cmd.main(parser.parse_args(["report", "--database", url, *period, "--csv"])) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].startswith("kind,name,offered,answered,abandoned")
        assert lines[1].startswith("queue,sales,11,8,1,1,1,") and len(lines) == 1 + 2 + 3
        assert report_cmd.main(parser.parse_args(["report", "--database", url, *period])) == 0
        table = capsys.readouterr().out
        assert "70.0%" in table and "Agent 1003" in table and "legend: " in table
        assert "pending 5" in table  # FCR of a day judged by that day: nothing decided yet
        assert max(len(line) for line in table.splitlines()) <= 120
        assert report_cmd.main(parser.parse_args(["report", "--database", url, *period, "--wide"])) == 0
        wide = capsys.readouterr().out
        assert "original_agent 1" in wide and "repeat 30d" in wide and "repeat 30d" not in table
        assert "customer calls" in wide and "customer calls" not in table
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
    periods = [(T, T + DAY), (T + DAY, T + 2 * DAY), (T, T + 40 * DAY)]
    try:
        before = [await load_report(engine, settings, a, b, now) for a, b in periods]
        result = await purge(engine, settings.server_id, T + 25 * DAY, now)
        assert result.calls == 15 and result.notes == 3  # a11 (day 20) is older too; a10 had no notes
        calls, customer = table_of(Call), table_of(CustomerCallRow)
        async with engine.connect() as conn:
            left = (
                await conn.execute(
                    select(calls.c.call_id).where(
                        (calls.c.caller_num.is_not(None)) | (calls.c.caller_key.is_not(None))
                    )
                )
            ).all()
            keys = (await conn.execute(select(customer.c.caller_key, customer.c.caller_num))).all()
            notes = (await conn.execute(select(table_of(Outcome).c.notes))).scalars().all()
        assert left == [] and all(n in (None, "") for n in notes)
        assert set(keys) == {(None, None)}
        after = [await load_report(engine, settings, a, b, now) for a, b in periods]
        assert [(r.queues, r.agents) for r in after] == [(r.queues, r.agents) for r in before]
        assert (await purge(engine, settings.server_id, T + 25 * DAY, now)).calls == 0
        # Replaying the same traffic later (acd replay, a resync) brings no personal data back.
        store = RowUpserter(engine, settings.server_id, settings.credit_policy)
        await store.write(with_customer_calls(fixture_effects()))
        async with engine.connect() as conn:
            numbers = (await conn.execute(select(calls.c.caller_num))).scalars().all()
            keys = (await conn.execute(select(customer.c.caller_key, customer.c.caller_num))).all()
        assert len(numbers) == 15 and set(numbers) == {None}
        assert set(keys) == {(None, None)}
    finally:
        await engine.dispose()


async def test_purge_drops_rollups_older_than_they_are_kept(db_url: str, tmp_path: Path) -> None:
    """Rollups built 40 days in, purged 30 days later: the buckets that ended before both the purge's
    date and the rollups' horizon go with their marks, the rest stay, and no figure changes."""
    from acd.reads.rollup_build import HORIZON
    from acd.reads.summary import build_rollups
    from acd.store.marks import LEVELS
    from acd.store.schema.rollups import SummaryMark, SummaryRollup

    settings, engine = await seeded(db_url, tmp_path)
    built_at, later = T + 40 * DAY, T + 70 * DAY
    periods = [(T, T + DAY), (T, T + 40 * DAY), (T + 10 * DAY, T + 20 * DAY)]
    rollups, marks = table_of(SummaryRollup), table_of(SummaryMark)

    async def starts() -> tuple[dict[str, list[float]], dict[str, list[float]]]:
        async with engine.connect() as conn:
            found = []
            for table in (rollups, marks):
                rows = await conn.execute(select(table.c.level, table.c.start).distinct())
                per: dict[str, list[float]] = {level: [] for level in LEVELS}
                for level, start in rows:
                    per[level].append(start)
                found.append({level: sorted(v) for level, v in per.items()})
        return found[0], found[1]

    try:
        assert await build_rollups(engine, settings, built_at, budget=float("inf")) > 0
        before = [await load_report(engine, settings, a, b, later) for a, b in periods]
        had, had_marks = await starts()
        assert all(had[level] for level in LEVELS)
        result = await purge(engine, settings.server_id, T + 60 * DAY, later)
        cut = later - HORIZON  # earlier than the purge's date: the horizon decides
        left, left_marks = await starts()
        assert result.rollups > 0
        for level, width in LEVELS.items():
            assert left[level] == [s for s in had[level] if s + width > cut], level
            assert left_marks[level] == [s for s in had_marks[level] if s + width > cut], level
            assert left[level] and len(left[level]) < len(had[level]), level
        after = [await load_report(engine, settings, a, b, later) for a, b in periods]
        assert [r.as_dict() for r in after] == [r.as_dict() for r in before]
        assert (await purge(engine, settings.server_id, T + 60 * DAY, later)).rollups == 0
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
    settings = report_settings(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}", tmp_path)
    engine = await prepare_database(settings)
    try:
        await RowUpserter(engine, settings.server_id, settings.credit_policy).write(
            with_customer_calls([
                finished("x1", agent=A, queue="sales", caller_key="K9", cut_off=True),
                finished("x2", agent=A, queue="acd-agent-1001", caller_key="K9", joined_at=T + 300,
                         callback_of="x1"),
                AffinityDecided("x2", "x2", ("x2",), "support", "offer_now", "original_agent", False, A,
                                "Agent 1001", "x1", "free", T + 300, T + 340),
            ])
        )  # fmt: skip
        report = await load_report(engine, settings, T, T + DAY, T + 40 * DAY)
    finally:
        await engine.dispose()
    assert list(report.queues) == ["sales", "support"]  # the decision wins over the original's queue
    support = report.queues["support"]
    assert (support["offered"], support["callbacks"]) == (1, 1)
    assert support["callbacks_by_routing"] == {"original_agent": 1}
    assert support["callbacks_by_result"] == {"original_agent": 1}
