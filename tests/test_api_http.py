"""The HTTP API over a real loopback socket: auth, roles, validation, notes visibility, credit,
the screen pop, OpenAPI coverage, and the route left for /metrics."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.api import build_app
from acd.core.effects import AffinityDecided, AgentOffer, CallStarted, OutcomeReported
from acd.core.live import AgentLive, LiveSnapshot
from acd.settings import Settings
from acd.store.database import make_engine
from acd.store.migrate import prepare_database
from acd.store.upsert import RowUpserter
from tests.store_records import BASE, finished, with_customer_calls
from tests.support.http import World, serving

A, B, C = "Local/1001@agents", "Local/1002@agents", "PJSIP/1003"
TOKENS = [
    {"token": "sup-token", "role": "supervisor"},
    {"token": "tok-a", "role": "agent", "agent": A},
    {"token": "tok-b", "role": "agent", "agent": B},
    {"token": "tok-c", "role": "agent", "agent": C},
]
SUP = {"Authorization": "Bearer sup-token"}
AG_A = {"Authorization": "Bearer tok-a"}
AG_B = {"Authorization": "Bearer tok-b"}
AG_C = {"Authorization": "Bearer tok-c"}


def make_settings(tmp_path: Path, url: str, **extra: Any) -> Settings:
    return Settings(
        database={"url": url, "spool_dir": str(tmp_path / "spool")},  # type: ignore[arg-type]
        api_tokens=TOKENS,  # type: ignore[arg-type]
        **extra,
    )


async def seed(engine: AsyncEngine, settings: Settings) -> None:
    store = RowUpserter(engine, settings.server_id, settings.credit_policy)
    await store.write(
        with_customer_calls([
            # c1: agent A, cut off; c2: the callback, answered by B; c3: same caller earlier, agent C.
            finished("c1.1", linkedid="c1.0", agent=A, cut_off=True, cut_off_reasons=("agent_cause_38",)),
            finished("c2.1", linkedid="c2.0", agent=B, joined_at=BASE + 600, callback_of="c1.1"),
            finished("c3.1", linkedid="c3.0", agent=C, joined_at=BASE - 86400),
            # another caller, answered by C in queue support
            finished("d1.1", linkedid="d1.0", agent=C, queue="support", caller_key="5559999",
                     joined_at=BASE + 60),
            # a callback via A's personal affinity queue, then the shared queue
            finished("e1.1", linkedid="e1.0", queue="acd-agent-1001", outcome="exited", exit_reason="timeout",
                     caller_key="5557777", joined_at=BASE + 900, wait_seconds=20.0),
            finished("e1.1", entry=2, linkedid="e1.0", agent=B, caller_key="5557777",
                     joined_at=BASE + 920, wait_seconds=3.0),
            AffinityDecided("e1.1", "e1.0", ("e1.1", "e1.1#2"), "sales", "wait_for_agent",
                            "fallback_busy_timeout", False, A, "Agent 1001", None, "in_call",
                            BASE + 900, BASE + 920),
        ])
    )  # fmt: skip


@pytest.fixture
async def api(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], World, AsyncEngine]]:
    settings = make_settings(tmp_path, db_url)
    engine = await prepare_database(settings)
    await seed(engine, settings)
    world = World()

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(text="acd_up 1\n")

    app = build_app(
        settings,
        engine,
        lambda: world.snapshot,
        live_calls=world.calls,
        extra_routes=[web.get("/metrics", metrics)],
        clock=lambda: BASE + 5000,
    )
    async with serving(app, engine) as client:
        yield client, world, engine


async def test_tokens_are_required_on_api_routes_only(api: Any) -> None:
    client, _, _ = api
    assert (await client.get("/api/v1/calls/c1.0")).status == 401
    response = await client.get("/api/v1/calls/c1.0", headers={"Authorization": "Bearer nope"})
    assert response.status == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert (
        await client.get("/api/v1/calls/c1.0", headers={"Authorization": "Basic sup-token"})
    ).status == 401
    assert (await client.get("/metrics")).status == 200
    assert (await client.get("/api/openapi.json")).status == 200
    assert (await client.get("/api/v1/calls/c1.0", headers=SUP)).status == 200


async def test_openapi_documents_every_route(api: Any) -> None:
    client, _, _ = api
    doc = await (await client.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    routes = set()
    for resource in client.server.app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter") or info.get("prefix", "")
        if path.startswith("/api/"):
            routes.add(path.replace("{agent:.+}", "{agent}"))
    assert routes == set(doc["paths"])
    enum = doc["components"]["schemas"]["OutcomeBody"]["properties"]["disposition"]["enum"]
    assert "sale" in enum


async def test_agent_posts_outcome_for_own_call_only(api: Any) -> None:
    client, _, _ = api
    body = {"disposition": "sale", "resolved": True, "notes": "ordered 3 blue", "points": 40}
    response = await client.post("/api/v1/calls/c3.0/outcome", json=body, headers=AG_C)
    assert response.status == 201, await response.text()
    data = await response.json()
    assert data["outcome"]["written_by"] == C and data["outcome"]["notes"] == "ordered 3 blue"
    assert data["credits"] == [{"sale_id": "c3.0", "agent": C, "agent_name": "Agent 1003", "call_id": "c3.0",
                                "points": 40.0, "attribution": "own_call", "adjusted": False}]  # fmt: skip
    forbidden = await client.post("/api/v1/calls/c3.0/outcome", json=body, headers=AG_A)
    assert forbidden.status == 403
    speaking_for_other = await client.post(
        "/api/v1/calls/c1.0/outcome", json={**body, "agent": B}, headers=AG_A
    )
    assert speaking_for_other.status == 403 and (await speaking_for_other.json())["field"] == "agent"
    # A queue entry id addresses its customer call too.
    assert (await client.post("/api/v1/calls/c1.1/outcome", json=body, headers=AG_A)).status == 201
    # Supervisors may write any call, on anyone's behalf.
    assert (
        await client.post("/api/v1/calls/d1.0/outcome", json={**body, "agent": C}, headers=SUP)
    ).status == 201


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "disposition"),
        ({"disposition": "bought_a_boat"}, "disposition"),
        ({"disposition": "sale", "points": -1}, "points"),
        ({"disposition": "sale", "points": "ten"}, "points"),
        ({"disposition": "sale", "resolved": "yes"}, "resolved"),
        ({"disposition": "sale", "colour": "blue"}, "colour"),
        ([1, 2], "body"),
    ],
)
async def test_bad_payload_is_422_naming_the_field(api: Any, payload: Any, field: str) -> None:
    client, _, _ = api
    response = await client.post("/api/v1/calls/c1.0/outcome", json=payload, headers=SUP)
    assert response.status == 422
    assert (await response.json())["field"] == field


async def test_not_json_and_unknown_calls(api: Any) -> None:
    client, _, _ = api
    response = await client.post("/api/v1/calls/c1.0/outcome", data=b"{nope", headers=SUP)
    assert response.status == 422 and (await response.json())["field"] == "body"
    unknown = await client.post("/api/v1/calls/zzz/outcome", json={"disposition": "sale"}, headers=SUP)
    assert unknown.status == 404
    assert (await client.get("/api/v1/calls/zzz", headers=SUP)).status == 404


async def test_outcome_for_a_call_nobody_answered_is_409_with_the_reason(api: Any) -> None:
    client, _, engine = api
    store = RowUpserter(engine, "asterisk", "split")
    await store.write(
        [finished("f1.1", linkedid="f1.0", outcome="abandoned", exit_reason="long", agent=None)]
    )
    response = await client.post("/api/v1/calls/f1.0/outcome", json={"disposition": "sale"}, headers=SUP)
    assert response.status == 409
    assert (await response.json())["error"] == (
        "nobody answered this call (it ended abandoned (long)): an outcome records a conversation"
    )
    async with engine.connect() as conn:
        assert (await conn.execute(text("select count(*) from outcomes"))).scalar_one() == 0
    forbidden = await client.post("/api/v1/calls/f1.0/outcome", json={"disposition": "sale"}, headers=AG_A)
    assert forbidden.status == 403  # an agent is told only that it is not their call


async def test_who_may_read_a_call_and_its_notes(api: Any) -> None:
    """One rule (acd.api.access): supervisors read everything; an agent reads a call they answered,
    were offered or that rings them, and calls linked by callback/repeat to one they answered;
    having once spoken to the same caller is not enough (no number, no name, no notes)."""
    client, world, engine = api
    body = {"disposition": "follow_up", "notes": "card declined, call back"}
    assert (await client.post("/api/v1/calls/c1.0/outcome", json=body, headers=AG_A)).status == 201
    for headers in (SUP, AG_A, AG_B):  # A had it; B took its callback (c2 is a callback of c1)
        data = await (await client.get("/api/v1/calls/c1.0", headers=headers)).json()
        assert data["outcome_record"]["notes"] == "card declined, call back", headers
    assert (await client.get("/api/v1/calls/c2.0", headers=AG_A)).status == 200  # and the other way
    # C answered an earlier, unlinked call of the same caller: nothing of c1.
    refused = await client.get("/api/v1/calls/c1.0", headers=AG_C)
    assert refused.status == 403 and "5551234" not in await refused.text()
    assert (await client.post("/api/v1/calls/d1.0/outcome", json=body, headers=AG_C)).status == 201
    assert (await client.get("/api/v1/calls/d1.0", headers=AG_A)).status == 403
    shown = await (await client.get("/api/v1/calls/d1.0", headers=AG_C)).json()
    assert shown["outcome_record"]["notes"] == body["notes"] and shown["caller"]["key"] == "5559999"
    # Offered (rang A, not answered): readable.
    await RowUpserter(engine, "asterisk", "split").write(
        [finished("f1.1", linkedid="f1.0", agent=B, caller_key="5550000",
                  offers=(AgentOffer(A, "Agent 1001", BASE, "no_answer", 15.0),))]
    )  # fmt: skip
    assert (await client.get("/api/v1/calls/f1.0", headers=AG_A)).status == 200
    assert (await client.get("/api/v1/calls/f1.0", headers=AG_C)).status == 403
    # Ringing C now: a later entry of d1's customer call is live on C's phone.
    assert (await client.get("/api/v1/calls/f1.0", headers=AG_C)).status == 403
    world.calls.observe(CallStarted("f1.1#2", "f1.1", "f1.0", "sales", "5550000", BASE + 70, None, None))
    world.snapshot = LiveSnapshot(
        BASE + 75, (), (AgentLive(C, "Agent 1003", "ringing", ("sales",), None, "f1.1#2"),), True
    )
    assert (await client.get("/api/v1/calls/f1.0", headers=AG_C)).status == 200
    # A callback chain is followed all the way (one sale); a repeat link only one step.
    await RowUpserter(engine, "asterisk", "split").write(
        [
            finished("g1.1", linkedid="g1.0", agent=A, caller_key="5551111", cut_off=True),
            finished("g2.1", linkedid="g2.0", agent=B, caller_key="5551111", callback_of="g1.1",
                     cut_off=True),
            finished("g3.1", linkedid="g3.0", agent=C, caller_key="5551111", callback_of="g2.1"),
            finished("h1.1", linkedid="h1.0", agent=A, caller_key="5552222"),
            finished("h2.1", linkedid="h2.0", agent=B, caller_key="5552222", repeat_of="h1.1"),
            finished("h3.1", linkedid="h3.0", agent=C, caller_key="5552222", repeat_of="h2.1"),
        ]
    )  # fmt: skip
    assert (await client.get("/api/v1/calls/g1.0", headers=AG_C)).status == 200
    assert (await client.get("/api/v1/calls/g3.0", headers=AG_A)).status == 200
    assert (await client.get("/api/v1/calls/h2.0", headers=AG_C)).status == 200
    assert (await client.get("/api/v1/calls/h1.0", headers=AG_C)).status == 403
    assert (await client.get("/api/v1/calls/h3.0", headers=AG_A)).status == 403


async def test_call_detail_groups_entries_and_folds_personal_queue(api: Any) -> None:
    client, _, _ = api
    data = await (await client.get("/api/v1/calls/e1.0", headers=SUP)).json()
    assert data["queue"] == "sales"
    assert [e["queue"] for e in data["entries"]] == ["acd-agent-1001", "sales"]
    assert data["entries"][0]["personal_queue"] is True and data["agent"] == B
    assert data["routing"]["reason"] == "fallback_busy_timeout" and data["routing"]["preferred_agent"] == A
    cb = await (await client.get("/api/v1/calls/c2.0", headers=SUP)).json()
    assert (
        cb["callback_of"] == "c1.0" and cb["original"]["agent"] == A and cb["original"]["call_id"] == "c1.0"
    )
    assert cb["entries"][0]["offers"][0]["result"] == "answered"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("split", {A: (50.0, "original"), B: (50.0, "closer")}),
        ("original", {A: (100.0, "original"), B: (0.0, "closer")}),
        ("closer", {A: (0.0, "original"), B: (100.0, "closer")}),
    ],
)
async def test_callback_credit_follows_policy(
    tmp_path: Path, policy: str, expected: dict[str, tuple[float, str]]
) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", credit_policy=policy)
    engine = await prepare_database(settings)
    await seed(engine, settings)
    app = build_app(settings, engine, lambda: None)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        sale = {"disposition": "sale", "points": 100}
        response = await client.post("/api/v1/calls/c2.0/outcome", json=sale, headers=AG_B)
        assert response.status == 201
        credits = {c["agent"]: (c["points"], c["attribution"]) for c in (await response.json())["credits"]}
    await engine.dispose()
    assert credits == expected


async def test_outcome_from_ami_userevent_gets_credit(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, db_url, credit_policy="original")
    engine = await prepare_database(settings)
    try:
        await seed(engine, settings)
        store = RowUpserter(engine, settings.server_id, settings.credit_policy)
        await store.write(
            [OutcomeReported("c2.1", None, B, "sale", True, "typed on phone", 30.0, BASE + 700)]
        )
        app = build_app(settings, engine, lambda: None)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            data = await (await client.get("/api/v1/calls/c2.0", headers=SUP)).json()
        assert data["outcome_record"]["source"] == "ami" and data["outcome_record"]["disposition"] == "sale"
        assert {c["agent"]: c["points"] for c in data["credits"]} == {A: 30.0, B: 0.0}
    finally:
        await engine.dispose()


async def test_list_calls_filters_and_agent_scope(api: Any) -> None:
    client, _, _ = api
    everything = await (await client.get("/api/v1/calls", headers=SUP)).json()
    assert [c["call_id"] for c in everything["calls"]] == ["e1.0", "c2.0", "d1.0", "c1.0", "c3.0"]
    by_queue = await (await client.get("/api/v1/calls?queue=support", headers=SUP)).json()
    assert [c["call_id"] for c in by_queue["calls"]] == ["d1.0"]
    window = await (await client.get(f"/api/v1/calls?since={BASE}&until={BASE + 601}", headers=SUP)).json()
    assert [c["call_id"] for c in window["calls"]] == ["c2.0", "d1.0", "c1.0"]
    iso = await (await client.get("/api/v1/calls?since=2026-09-21T00:00:00Z&agent=" + A, headers=SUP)).json()
    assert [c["call_id"] for c in iso["calls"]] == ["c1.0"]
    own = await (await client.get("/api/v1/calls", headers=AG_C)).json()
    assert {c["call_id"] for c in own["calls"]} == {"d1.0", "c3.0"}
    assert (await client.get("/api/v1/calls?agent=" + A, headers=AG_C)).status == 403
    bad = await client.get("/api/v1/calls?since=yesterday", headers=SUP)
    assert bad.status == 422 and (await bad.json())["field"] == "since"
    assert (await (await client.get("/api/v1/calls?limit=0", headers=SUP)).json())["field"] == "limit"


async def test_screen_pop_names_the_previous_agent_and_notes(api: Any) -> None:
    client, world, _ = api
    note = {"disposition": "follow_up", "notes": "size 42"}
    assert (await client.post("/api/v1/calls/c1.0/outcome", json=note, headers=AG_A)).status == 201
    # The caller calls back again (cut off earlier with A); B answers it now.
    world.calls.observe(CallStarted("n1.1", "n1.1", "n1.0", "sales", "5550100", BASE + 4000, "c1.1", None))
    world.snapshot = LiveSnapshot(
        at=BASE + 4010,
        queues=(),
        agents=(
            AgentLive(B, "Agent 1002", "in_call", ("sales",), current_call="n1.1"),
            AgentLive(A, "Agent 1001", "available", ("sales",)),
        ),
    )
    response = await client.get("/api/v1/agents/Local%2F1002%40agents/now", headers=AG_B)
    assert response.status == 200, await response.text()
    pop = await response.json()
    assert pop["state"] == "in_call" and pop["call"]["callback_of"] == "c1.1"
    assert pop["previous"]["agent"] == A and pop["previous"]["cut_off"] is True
    assert pop["previous"]["outcome_record"]["notes"] == "size 42"
    assert [h["call_id"] for h in pop["history"]] == ["c2.0", "c1.0", "c3.0"]
    # By display name too; agents may not look at other agents; unknown agent: 404.
    assert (await client.get("/api/v1/agents/Agent 1002/now", headers=SUP)).status == 200
    assert (await client.get("/api/v1/agents/Agent 1002/now", headers=AG_A)).status == 403
    assert (await client.get("/api/v1/agents/nobody/now", headers=SUP)).status == 404
    idle = await (await client.get(f"/api/v1/agents/{A}/now", headers=AG_A)).json()
    assert idle["call"] is None and idle["history"] == []


async def test_database_down_is_503(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = make_settings(tmp_path, f"postgresql+asyncpg://acd@127.0.0.1:{port}/acd")
    engine = make_engine(settings.database.url)
    app = build_app(settings, engine, lambda: None)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get("/api/v1/calls/c1.0", headers=SUP)
        assert response.status == 503
    await engine.dispose()


def test_api_binds_loopback_by_default() -> None:
    assert Settings().http.host == "127.0.0.1"
