"""One customer call, one truth: a day of a small center driven through the real core with an injected
clock, stored through the real store, outcomes and an adjustment posted over the real API, and then
every view of it must agree: ``acd report --from T0 --to T1`` equals ``GET /api/v1/agents/{agent}/
summary`` field for field for every rep; every window KPI gauge equals the report over that window's
period; the credit gauges equal the report's credit. The figures are also checked by hand, case by
case, and bad input is refused with nothing written.

The scenario (queue sales, reps Alice A, Bob B, Carol C, Dave D; policy split 0.5). Day -1 (the
24 h base of day 0):
  K1  A answers, normal end; K1 again 10 h later (B): a repeat after a normal end (charged to A).
  K2  C answers, the caller's side drops (cause 41); called back 10 min later (C): exempt.
  K3  B answers, B's leg drops (cause 41, agent-ended cut-off); called back (A): a repeat on B.
  K4  D releases a normal call after 5 s (agent-released short); K4 back 30 min later (A): repeat on D.
Day 0 (the report period [T0, T1)):
  K5  A answers, posts sale 40, the caller drops; B takes the callback, posts sale 40 again (a
      re-post of the same value: not disputed): split A 20 original / B 20 closer. A supervisor then
      adjusts it to A 30 / B 10 ("Bob only confirmed the address").
  K6  C answers, cut off; D takes the callback, posts sale 30, cut off again; A takes the second
      callback, posts sale 50 (a two-hop chain, points differ: disputed), re-posts it: C 25
      original, A 25 closer, D 0 intermediate.
  K7  B answers, posts sale 60 leaving order O-7 open, cut off; C takes the callback and closes
      O-7 (no points): settled then, B 30 original / C 30 closer.
  K8  D answers at the end of the day with trivial notes ("ok"): pending for every window.
  K9  a caller abandons after 40 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.api import build_app
from acd.core.definitions import WINDOWS
from acd.core.effects import CallFinished, CustomerCallUpdated
from acd.metrics import Metrics
from acd.metrics.kpi import KpiRefresher
from acd.metrics.sql import SqlKpiSource
from acd.reads.calls import customer_call
from acd.reads.summary import build_rollups, summarize
from acd.reads.summary_periods import Period
from acd.settings import Settings
from acd.store.codec import is_stored
from acd.store.migrate import prepare_database
from acd.store.schema.base import table_of
from acd.store.schema.outcomes import CreditAdjustment, Outcome
from acd.store.schema.rollups import SummaryMark, SummaryRollup
from acd.store.upsert import RowUpserter
from tests.core_events import Call, Feed, answered_call, member
from tests.store_records import record, replace, with_customer_calls

DAY = 86400.0
HOUR = 3600.0
T0 = 1_790_006_400.0  # a midnight (UTC)
T1 = T0 + DAY
A, B, C, D = "PJSIP/1001", "PJSIP/1002", "PJSIP/1003", "PJSIP/1004"
NAMES = {A: "Alice", B: "Bob", C: "Carol", D: "Dave"}
TOKENS = [
    {"token": "sup", "role": "supervisor"},
    *({"token": f"tok-{i}", "role": "agent", "agent": agent} for i, agent in enumerate(NAMES)),
]
SUP = {"Authorization": "Bearer sup"}


def agent_token(agent: str) -> dict[str, str]:
    return {"Authorization": f"Bearer tok-{list(NAMES).index(agent)}"}


class Center:
    """The core, fed AMI events at the times the scenario says (the injected clock)."""

    def __init__(self) -> None:
        self.feed = Feed()
        self.feed.now = T0 - DAY
        self.feed(*(member("QueueMemberAdded", "sales", a, n) for a, n in NAMES.items()))
        self.n = 0

    def call(
        self, at: float, number: str, agent: str, *, talk: int = 120, ender: str = "caller", cause: int = 16
    ) -> str:
        self.n += 1
        uid = f"{int(at)}.{self.n}"
        self.feed.now = at
        answered_call(self.feed, Call(uid, number=number, queue="sales"), agent, NAMES[agent], hold=6,
                      talk=talk, ender=ender, cause=cause)  # fmt: skip
        return uid

    def abandon(self, at: float, number: str, hold: int) -> str:
        self.n += 1
        uid = f"{int(at)}.{self.n}"
        call = Call(uid, number=number, queue="sales")
        self.feed.now = at
        self.feed(call.newchannel(), call.join())
        self.feed(call.abandon(hold), dt=hold)
        self.feed(call.signal("Hangup", "caller", 16), call.leave())
        self.feed.tick(5)
        return uid


def scenario(center: Center) -> dict[str, str]:
    c = center.call
    ids: dict[str, str] = {}
    ids["k1"] = c(T0 - 20 * HOUR, "5550001", A)
    ids["k1b"] = c(T0 - 10 * HOUR, "5550001", B)
    ids["k2"] = c(T0 - 15 * HOUR, "5550002", C, cause=41)  # the caller's side drops
    ids["k2b"] = c(T0 - 15 * HOUR + 600, "5550002", C)
    ids["k3"] = c(T0 - 12 * HOUR, "5550003", B, ender="agent", cause=41)  # Bob's leg drops
    ids["k3b"] = c(T0 - 12 * HOUR + 900, "5550003", A)
    ids["k4"] = c(T0 - 8 * HOUR, "5550004", D, talk=5, ender="agent")  # released after 5 s
    ids["k4b"] = c(T0 - 8 * HOUR + 1800, "5550004", A)
    ids["k5"] = c(T0 + 1 * HOUR, "5550005", A, cause=41)
    ids["k5b"] = c(T0 + 1 * HOUR + 1200, "5550005", B)
    ids["k6"] = c(T0 + 3 * HOUR, "5550006", C, cause=41)
    ids["k6b"] = c(T0 + 3 * HOUR + 600, "5550006", D, cause=41)
    ids["k6c"] = c(T0 + 3 * HOUR + 1500, "5550006", A)
    ids["k7"] = c(T0 + 5 * HOUR, "5550007", B, cause=41)
    ids["k7b"] = c(T0 + 5 * HOUR + 900, "5550007", C)
    ids["k8"] = c(T0 + 23 * HOUR, "5550008", D, talk=60)
    ids["k9"] = center.abandon(T0 + 6 * HOUR, "5550009", 40)
    center.feed.tick(600)
    return ids


class World:
    def __init__(
        self, settings: Settings, engine: AsyncEngine, client: TestClient[Any, Any], ids: dict[str, str]
    ):
        self.settings, self.engine, self.client, self.ids = settings, engine, client, ids
        self.now = T0

    async def post(self, call: str, agent: str, at: float, **body: Any) -> Any:
        self.now = at
        body.setdefault("disposition", "sale")
        body.setdefault("notes", "customer ordered two units, delivery Friday")
        response = await self.client.post(f"/api/v1/calls/{self.ids[call]}/outcome", json=body,
                                          headers=agent_token(agent))  # fmt: skip
        assert response.status == 201, await response.text()
        return await response.json()


@pytest.fixture
async def world(db_url: str, tmp_path: Path) -> AsyncIterator[World]:
    settings = Settings(
        database={"url": db_url, "spool_dir": str(tmp_path / "spool")},  # type: ignore[arg-type]
        api_tokens=TOKENS,  # type: ignore[arg-type]
        credit_policy="split",
        metrics_per_agent=True,
    )
    center = Center()
    ids = scenario(center)
    engine = await prepare_database(settings)
    stored = [e for e in center.feed.effects if is_stored(e)]
    store = RowUpserter(engine, settings.server_id, settings.credit_policy, settings.credit_original_share)
    for i in range(0, len(stored), 50):
        await store.write(stored[i : i + 50])
    holder: dict[str, World] = {}
    app = build_app(settings, engine, lambda: None, clock=lambda: holder["w"].now)
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    w = holder["w"] = World(settings, engine, client, ids)
    try:
        yield w
    finally:
        await client.close()
        await engine.dispose()


async def outcomes_and_adjustment(w: World) -> None:
    await w.post("k1", A, T0 - 19 * HOUR, disposition="resolved", resolved=True)
    await w.post("k5", A, T0 + 1 * HOUR + 200, points=40)
    await w.post("k5b", B, T0 + 1 * HOUR + 1500, points=40, resolved=True)
    await w.post("k6b", D, T0 + 3 * HOUR + 900, points=30)
    await w.post("k6c", A, T0 + 3 * HOUR + 1800, points=50)
    await w.post("k6c", A, T0 + 3 * HOUR + 1900, points=50)  # the same again
    await w.post(
        "k7", B, T0 + 5 * HOUR + 300, points=60, order={"ref": "O-7", "status": "open", "left": "1 unit"}
    )
    await w.post(
        "k7b", C, T0 + 5 * HOUR + 1200, disposition="resolved", order={"ref": "O-7", "status": "closed"}
    )
    await w.post("k8", D, T0 + 23 * HOUR + 100, disposition="resolved", notes="ok", resolved=True)
    w.now = T1 - 60
    response = await w.client.post(
        f"/api/v1/calls/{w.ids['k5b']}/credit",
        json={"shares": [{"agent": A, "points": 30}, {"agent": B, "points": 10}],
              "reason": "Bob only confirmed the address"},
        headers=SUP,
    )  # fmt: skip
    assert response.status == 201, await response.text()
    change = await response.json()
    assert change["before"] == [{"agent": A, "points": 20.0, "attribution": "original"},
                                {"agent": B, "points": 20.0, "attribution": "closer"}]  # fmt: skip
    assert change["after"] == [{"agent": A, "points": 30.0, "attribution": "original"},
                               {"agent": B, "points": 10.0, "attribution": "closer"}]  # fmt: skip


async def report_cli(
    url: str, since: float, until: float, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    """``acd report --json`` as an operator runs it (in a thread: it runs its own event loop)."""
    from acd.commands import report as report_cmd

    parser = argparse.ArgumentParser()
    report_cmd.register(parser.add_subparsers())
    args = ["report", "--database", url, "--from", str(since), "--to", str(until), "--now", str(T1), "--json"]
    os.environ["ACD_CREDIT_POLICY"] = "split"
    capsys.readouterr()  # the logs so far
    try:
        assert await asyncio.to_thread(report_cmd.main, parser.parse_args(args)) == 0
    finally:
        del os.environ["ACD_CREDIT_POLICY"]
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


async def test_report_api_and_gauges_tell_one_truth(
    world: World, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    w = world
    await outcomes_and_adjustment(w)
    report = await report_cli(db_url, T0, T1, capsys)

    # --- the report, case by case ------------------------------------------------------------------
    agents = report["agents"]
    assert set(agents) == {A, B, C, D}
    assert agents[A]["credit"] == {"closer": 25.0, "original": 30.0}  # K6 closer, K5 original (adjusted)
    assert agents[B]["credit"] == {"closer": 10.0, "original": 30.0}  # K5 closer (adjusted), K7 original
    assert agents[C]["credit"] == {"closer": 30.0, "original": 25.0}  # K7 closer, K6 original
    assert agents[D]["credit"] == {"intermediate": 0.0}  # K6, in between
    assert (agents[A]["credit_adjusted"], agents[B]["credit_adjusted"]) == (1, 1)
    assert agents[A]["credit_disputed"] == agents[C]["credit_disputed"] == agents[D]["credit_disputed"] == 1
    sales = report["queues"]["sales"]
    assert sales["credit_points"] == 150.0  # K5 40 + K6 50 + K7 60: each sale once
    assert (sales["credit_disputed"], sales["credit_adjusted"]) == (1, 2)
    assert agents[D]["trivial_notes"] == 1 and agents[D]["resolved"] == 1  # K8
    assert (sales["abandoned"], sales["offered"], sales["answered"]) == (1, 9, 8)
    day = sales["repeat_contacts"]["24h"]
    # Base: answered keyed calls that ended on day -1 but k2 (the caller's side dropped, called
    # back): k1 k1b k2b k3 k3b k4 k4b; repeats k1 (normal end), k3 (Bob's cut-off), k4 (short).
    # Pending: day 0's k5b k6c k7b k8 (k5, k6, k6b, k7 dropped on the caller's side, called back).
    assert day == {"repeats": 3, "decided": 7, "pending": 4, "rate": 3 / 7}
    assert agents[B]["repeat_contacts"]["24h"]["repeats"] == 1  # k3 is charged to Bob
    assert agents[D]["repeat_contacts"]["24h"]["repeats"] == 1  # k4, the short release
    assert report["queues"]["sales"]["fcr"]["7d"] is None and sales["repeat_contacts"]["7d"]["pending"] == 11

    # --- the API's summary is the report's row, field for field --------------------------------------
    for agent, row in agents.items():
        period = {"from": str(T0), "to": str(T1)}
        response = await w.client.get(f"/api/v1/agents/{agent}/summary", params=period, headers=SUP)
        assert response.status == 200, await response.text()
        body = await response.json()
        assert body["summary"] == row, agent
    mine = await w.client.get(f"/api/v1/agents/{A}/summary", params={"from": str(T0), "to": str(T1)},
                              headers=agent_token(A))  # fmt: skip
    assert (await mine.json())["summary"] == agents[A]

    # --- every window gauge is the report over that window's period ----------------------------------
    metrics = Metrics(w.settings)
    refresher = KpiRefresher(SqlKpiSource(w.engine, w.settings), clock=lambda: T1)
    metrics.attach_kpis(refresher)
    assert await refresher.refresh_once()
    get = metrics.registry.get_sample_value
    for window, width in WINDOWS.items():
        expected = report if width == DAY else await report_cli(db_url, T1 - width, T1, capsys)
        for queue, q in expected["queues"].items():
            labels = {"queue": queue, "window": window}
            assert get("acd_kpi_answered_calls", labels) == q["answered"]
            assert get("acd_kpi_service_level_ratio", labels) == q["service_level"]
            assert get("acd_kpi_fcr_ratio", labels) == q["fcr"][window]
            assert get("acd_kpi_repeat_contact_ratio", labels) == q["repeat_contacts"][window]["rate"]
            assert get("acd_kpi_resolved_ratio", labels) == q["resolved"] / q["answered_calls"]
            completeness = (q["answered_calls"] - q["without_notes"]) / q["answered_calls"]
            assert get("acd_kpi_notes_completeness_ratio", labels) == completeness
            for attribution, points in q["credit"].items():
                assert get("acd_kpi_credit_points", {**labels, "attribution": attribution}) == points
            for disposition, n in q["dispositions"].items():
                assert get("acd_kpi_dispositions", {**labels, "disposition": disposition}) == n
        for row in expected["agents"].values():
            labels = {"agent": row["name"], "window": window}
            assert get("acd_agent_kpi_fcr_ratio", labels) == row["fcr"][window]
            for attribution, points in row["credit"].items():
                assert get("acd_agent_kpi_credit_points", {**labels, "attribution": attribution}) == points


async def test_bad_input_is_refused_with_the_field_named_and_nothing_written(world: World) -> None:
    w = world
    await outcomes_and_adjustment(w)

    async def counts() -> tuple[int, int]:
        async with w.engine.connect() as conn:
            outcomes = (await conn.execute(select(func.count()).select_from(table_of(Outcome)))).scalar_one()
            changes = (
                await conn.execute(select(func.count()).select_from(table_of(CreditAdjustment)))
            ).scalar_one()
        return int(outcomes), int(changes)

    before = await counts()
    k5 = w.ids["k5b"]
    outcome, credit = f"/api/v1/calls/{k5}/outcome", f"/api/v1/calls/{k5}/credit"
    share = [{"agent": A, "points": 1}]
    cases: list[tuple[str, dict[str, Any], dict[str, str], int, str | None]] = [
        ("/api/v1/calls/no-such-call/outcome", {"disposition": "sale"}, SUP, 404, None),
        (outcome, {"disposition": "sale", "points": -1}, SUP, 422, "points"),
        (outcome, {"disposition": "sale", "points": "ten"}, SUP, 422, "points"),
        (outcome, {"disposition": "sale", "points": True}, SUP, 422, "points"),
        (outcome, {"disposition": "sale", "order": {"ref": "X", "status": "?"}}, SUP, 422, "order.status"),
        (credit, {"shares": share}, SUP, 422, "reason"),
        (credit, {"shares": share, "reason": "  "}, SUP, 422, "reason"),
        (credit, {"shares": [{"agent": A, "points": -5}], "reason": "x"}, SUP, 422, "shares.0.points"),
        (credit, {"shares": [{"agent": "PJSIP/9", "points": 5}], "reason": "x"}, SUP, 422, "shares.0.agent"),
        (credit, {"shares": share, "reason": "mine"}, agent_token(A), 403, None),
        ("/api/v1/calls/no-such-call/credit", {"shares": share, "reason": "x"}, SUP, 404, None),
    ]  # fmt: skip
    for path, body, headers, status, field in cases:
        response = await w.client.post(path, json=body, headers=headers)
        data = await response.json()
        assert response.status == status, (path, body, data)
        assert data.get("field") == field, (path, body, data)
    summary = await w.client.get(f"/api/v1/agents/{A}/summary", params={"from": "x"}, headers=SUP)
    assert summary.status == 422 and (await summary.json())["field"] == "from"
    other = await w.client.get(f"/api/v1/agents/{B}/summary", headers=agent_token(A))
    assert other.status == 403
    assert await counts() == before


async def test_the_chain_view_and_the_review_queue(world: World) -> None:
    w = world
    await outcomes_and_adjustment(w)
    w.now = T1 + 2 * DAY  # O-7 was closed; nothing left open
    chain = await (await w.client.get(f"/api/v1/calls/{w.ids['k6b']}/chain", headers=SUP)).json()
    assert [c["call_id"] for c in chain["calls"]] == [w.ids["k6"], w.ids["k6b"], w.ids["k6c"]]
    assert [c["agent"] for c in chain["calls"]] == [C, D, A]
    assert chain["calls"][0]["called_back_by"] == [w.ids["k6b"]]
    assert chain["callbacks"] == [] or chain["callbacks"][0]["call_id"] == w.ids["k6c"]
    assert chain["credit_disputed"] and chain["open_order"] is None
    (sale,) = chain["sales"]
    assert {(s["agent"], s["points"], s["attribution"]) for s in sale["shares"]} == {
        (C, 25.0, "original"), (A, 25.0, "closer"), (D, 0.0, "intermediate"),
    }  # fmt: skip
    adjusted = await (await w.client.get(f"/api/v1/calls/{w.ids['k5']}/chain", headers=SUP)).json()
    (change,) = adjusted["adjustments"]
    assert change["reason"] == "Bob only confirmed the address" and change["by"] == "supervisor"
    review = await (await w.client.get("/api/v1/review", params={"from": str(T0 - DAY), "to": str(T1)},
                                       headers=SUP)).json()  # fmt: skip
    reasons = {item["call_id"]: set(item["reasons"]) for item in review["calls"]}
    assert "short" in reasons[w.ids["k4"]]
    assert "repeat_after_resolved" in reasons[w.ids["k1"]]  # marked resolved, back within 24 h
    assert "notes" in reasons[w.ids["k8"]]  # "ok"
    assert "credit_disputed" in reasons[w.ids["k6c"]]
    assert w.ids["k2"] not in reasons or "short" not in reasons[w.ids["k2"]]  # a cut-off is never short


async def test_the_desk_and_the_wallboard_show_the_reports_numbers(
    world: World, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pages read the same numbers: a rep's desk figures are their row of ``acd report`` and of
    the API's summary, the calls listed behind them add up to them, and the wallboard's queue
    figures are the report's queue row."""
    from acd.web.app import PAGES
    from acd.web.calls import credited_calls, cut_off_customers

    w = world
    await outcomes_and_adjustment(w)
    report = await report_cli(db_url, T0, T1, capsys)
    pages = w.client.server.app[PAGES]
    w.now = T1
    for agent, row in report["agents"].items():
        api = await w.client.get(f"/api/v1/agents/{agent}/summary", params={"from": str(T0), "to": str(T1)},
                                 headers=SUP)  # fmt: skip
        summary = (await api.json())["summary"]
        assert summary == row
        desk = await pages.periods.agent(agent, T0)
        repeats = row["repeat_contacts"]["24h"]
        assert (desk.answered, desk.talk_seconds, desk.cut_offs, desk.agent_released_short) == (
            row["answered"], row["talk_seconds"], row["cut_offs"], row["agent_released_short"]
        ), agent  # fmt: skip
        assert (desk.callbacks_taken, desk.callbacks_of_own_cut_offs) == (
            row["callbacks_taken"], row["callbacks_of_own_cut_offs"]
        ), agent  # fmt: skip
        assert (desk.repeats_24h, desk.decided_24h, desk.pending_24h, desk.fcr_24h) == (
            repeats["repeats"], repeats["decided"], repeats["pending"], row["fcr"]["24h"]
        ), agent  # fmt: skip
        assert desk.notes_complete == row["notes_complete"], agent
        assert desk.without_notes == row["without_notes"], agent
        assert desk.credit_points == row["credit_points"], agent
        # the lists behind the figures add up to them
        credited = await credited_calls(pages, agent, T0)
        assert sum(c["points"] for c in credited) == pytest.approx(row["credit_points"]), agent
        cut = await cut_off_customers(pages, agent, T0)
        assert len(cut) == row["cut_offs"], agent  # one cut-off leg per customer call here
    assert report["agents"][C]["cut_offs"] == 1
    (carol,) = await cut_off_customers(pages, C, T0)  # K6: D took the callback, A closed it
    assert carol.call_id == w.ids["k6"] and [later.agent for later in carol.later] == [D]
    assert carol.my_share == 25.0

    day = await pages.day.figures(T0, T1)
    for name, q in report["queues"].items():
        board = day.queues[name]
        repeats = q["repeat_contacts"]["24h"]
        assert (board.offered, board.answered, board.abandoned, board.abandoned_short) == (
            q["offered"], q["answered"], q["abandoned"], q["abandoned_short"]
        )  # fmt: skip
        assert (board.service_level, board.cut_offs, board.callbacks) == (
            q["service_level"], q["cut_offs"], q["callbacks"]
        )  # fmt: skip
        assert board.callbacks_to_original == q["callbacks_by_result"].get("original_agent", 0)
        assert board.notes_complete == q["notes_complete"]
        assert (board.fcr_24h, board.fcr_decided, board.fcr_pending) == (
            q["fcr"]["24h"], repeats["decided"], repeats["pending"]
        )  # fmt: skip


def same(a: Any, b: Any, where: str = "") -> None:
    """Equal, floats to 1e-9 (a sum of sums may round its last bit differently)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert set(a) == set(b), where
        for k in a:
            same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), where
    else:
        assert a == b, (where, a, b)


async def summaries(settings: Settings, engine: AsyncEngine, *, rollups: bool) -> dict[str, Any]:
    """The KPI windows at T1, a period with ragged edges, day 0, and the days around it (where
    day 0's calls are past their repeat windows), per queue and per agent."""
    sets: dict[str, dict[str, Period]] = {
        "windows": {w: Period(T1 - width, T1) for w, width in WINDOWS.items()},
        "ragged": {"p": Period(T0 - 13.5 * HOUR, T1 - 900)},
        "day": {"p": Period(T0, T1)},
        "after": {"p": Period(T0 - DAY, T1 + 2 * DAY)},
    }
    out: dict[str, Any] = {}
    async with engine.connect() as conn:
        for name, periods in sets.items():
            found = await summarize(conn, settings, periods, now=T1, rollups=rollups)
            out[name] = {p: r.as_dict() for p, r in found.items()}
    return out


async def test_rollups_never_change_a_figure(world: World) -> None:
    """With no rollup, all of them, some, or stale ones after each kind of late write (an outcome
    on an old call, a credit adjustment, a caller back the next day, the callback of a cut-off,
    other queue settings, a row that moves), or random mixes of current and stale, every summary is
    the one read from the rows."""
    w = world
    await outcomes_and_adjustment(w)
    store = RowUpserter(
        w.engine, w.settings.server_id, w.settings.credit_policy, w.settings.credit_original_share
    )
    later = T1 + 3 * DAY

    async def check(what: str, settings: Settings = w.settings) -> dict[str, Any]:
        rows = await summaries(settings, w.engine, rollups=False)
        same(await summaries(settings, w.engine, rollups=True), rows, what)
        return rows

    late = Center()  # a core of its own: remembers the late calls, so a callback is linked

    async def write_call(at: float, number: str, agent: str, cause: int = 16) -> str:
        seen = len(late.feed.effects)
        call = late.call(at, number, agent, cause=cause)
        late.feed.tick(600)
        await store.write([e for e in late.feed.effects[seen:] if is_stored(e)])
        return call

    await check("none built")
    assert 0 < await build_rollups(w.engine, w.settings, later, budget=math.inf, limit=1) <= 24  # a day
    await check("some")
    assert await build_rollups(w.engine, w.settings, later, budget=math.inf) > 0
    async with w.engine.connect() as conn:
        n = (await conn.execute(select(func.count()).select_from(table_of(SummaryRollup)))).scalar_one()
        levels = set((await conn.execute(select(table_of(SummaryRollup).c.level).distinct())).scalars())
    assert n > 0
    assert levels == {"queue", "agent", "qday", "aweek"}  # the coarse ones too, summed from the fine
    await check("all")
    # Everything current: a build only rebuilds the few it sweeps.
    assert await build_rollups(w.engine, w.settings, later, budget=math.inf, sweep=2) == 2

    # Each late write makes the rollups it touches stale at once (built again in between).
    await w.post("k4", D, T1 + 60, disposition="other", notes="", resolved=False)
    await check("an outcome on an old call")
    await build_rollups(w.engine, w.settings, later, budget=math.inf)
    response = await w.client.post(
        f"/api/v1/calls/{w.ids['k6c']}/credit",
        json={"shares": [{"agent": C, "points": 40}, {"agent": A, "points": 10}], "reason": "review"},
        headers=SUP,
    )  # fmt: skip
    assert response.status == 201, await response.text()
    await check("a credit adjustment")
    await build_rollups(w.engine, w.settings, later, budget=math.inf)
    await write_call(T1 + 3 * HOUR, "5550008", B)  # K8's caller again, in another hour
    rows = await check("a next contact")
    assert rows["after"]["p"]["queues"]["sales"]["repeat_contacts"]["24h"]["repeats"] == 4  # K8 now
    cut = await write_call(T1 + 110 * 60, "5550020", C, cause=41)  # cut off on the caller's side
    await build_rollups(w.engine, w.settings, later, budget=math.inf)
    await write_call(T1 + 130 * 60, "5550020", A)  # its callback (next hour): the cut-off is exempt
    rows = await check("an exemption")
    async with w.engine.connect() as conn:
        call = await customer_call(conn, w.settings.server_id, cut, reader_agent=None, supervisor=True)
    assert call is not None and call["repeat_exempt"]
    await build_rollups(w.engine, w.settings, later, budget=math.inf)
    await check("rebuilt")

    # A row that moves: a call first written partial (adopted, its start the channel's age), then
    # completed with its true start in an earlier hour and day, its customer call with it.
    moved = record("moved.1", linkedid="moved.1", queue="sales", agent=A, agent_name=NAMES[A],
                   caller_key="tel:5550030", joined_at=T1 + DAY + 30, partial=True)  # fmt: skip
    await store.write(with_customer_calls([CallFinished(moved)]))
    await build_rollups(w.engine, w.settings, later, budget=math.inf)
    before = await check("a partial row")
    true_start = replace(moved, joined_at=T1 - 2 * HOUR, answered_at=T1 - 2 * HOUR + 5,
                         ended_at=T1 - 2 * HOUR + 35, partial=False)  # fmt: skip
    await store.write(with_customer_calls([CallFinished(true_start)]))
    rows = await check("the row moved")
    for period, more in (("day", 1), ("after", 0)):
        was = before[period]["p"]["queues"]["sales"]["offered"]
        assert rows[period]["p"]["queues"]["sales"]["offered"] == was + more, period

    # A call another server continues (passed on over a trunk with ACD_ORIGIN): the pair is one
    # customer call, the continuation's, so this server's count loses one at once.
    await build_rollups(w.engine, w.settings, later, budget=math.inf)
    before = await check("before a continuation")
    there = RowUpserter(w.engine, "b", w.settings.credit_policy, w.settings.credit_original_share)
    passed = record("b-1.1", linkedid="b-1.1", queue="sales", agent=A, agent_name=NAMES[A],
                    caller_key="tel:5550041", joined_at=T0 - 8 * HOUR + 40)  # fmt: skip
    effects = with_customer_calls([CallFinished(passed)])
    await there.write([
        replace(e, call=replace(e.call, origin_server=w.settings.server_id, origin_linkedid=w.ids["k4"]))
        if isinstance(e, CustomerCallUpdated) else e
        for e in effects
    ])  # fmt: skip
    rows = await check("a continuation elsewhere")
    was = before["after"]["p"]["queues"]["sales"]
    now_ = rows["after"]["p"]["queues"]["sales"]
    assert (now_["customer_calls"], now_["offered"]) == (was["customer_calls"] - 1, was["offered"])

    # Random mixes: random buckets made stale, then a random number of them built again.
    marks = table_of(SummaryMark)
    rng = random.Random(11)
    for round_ in range(3):
        async with w.engine.begin() as conn:
            ids = list((await conn.execute(select(marks.c.id))).scalars())
            picked = rng.sample(ids, k=min(len(ids), rng.randint(1, 30)))
            await conn.execute(update(marks).where(marks.c.id.in_(picked)).values(seq=marks.c.seq + 1))
        await build_rollups(w.engine, w.settings, later, budget=math.inf, limit=rng.randint(0, 20))
        await check(f"random mix {round_}")

    # Other queue settings: every rollup built under the old ones is stale.
    other = w.settings.model_copy(update={"queue_defaults": w.settings.queue_defaults.model_copy(
        update={"service_level_seconds": 5})})  # fmt: skip
    await check("other settings", other)
    assert await build_rollups(w.engine, other, later, budget=math.inf) > 2
    await check("other settings, rebuilt", other)
