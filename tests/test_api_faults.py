"""The API under the smaller faults: hostile JSON, a busy SQLite, a client that never finishes its
headers, a journal that cannot write, and a bug in a handler. Each gets a clear status, no 500 with
a traceback and no misleading "database unavailable"."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from acd.api import app as app_module
from acd.api import build_app
from acd.api.app import app_runner
from acd.settings import HttpSettings
from acd.store import database as database_module
from acd.store.database import make_engine
from acd.store.migrate import prepare_database
from acd.store.upsert import RowUpserter
from tests.store_records import BASE, finished, with_customer_calls
from tests.support.http import serving
from tests.test_api_http import AG_A, SUP, A, make_settings, seed


@pytest.fixture
async def sqlite_app(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], Path, dict[str, Any]]]:
    db = tmp_path / "acd.db"
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{db}")
    engine = await prepare_database(settings)
    await seed(engine, settings)
    await engine.dispose()
    # A short busy timeout, so a held lock outlasts it at once.
    engine = make_engine(settings.database.url, timeout=0.1)
    state: dict[str, Any] = {"accepting": True}
    app = build_app(settings, engine, lambda: None, clock=lambda: BASE, accepting=lambda: state["accepting"])
    async with serving(app, engine) as client:
        yield client, db, state


async def test_deeply_nested_json_is_422(sqlite_app: Any) -> None:
    client, _, _ = sqlite_app
    body = "[" * 200_000 + "]" * 200_000
    response = await client.post(
        "/api/v1/calls/c1.0/outcome", headers={**SUP, "Content-Type": "application/json"}, data=body
    )
    assert response.status == 422
    assert (await response.json()) == {"error": "not valid JSON", "field": "body"}


async def test_a_locked_sqlite_is_waited_out_not_reported_down(
    sqlite_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds SQLite's write lock past the busy timeout: the outcome is written once
    the lock is released, with 201, not answered "database unavailable"."""
    client, db, _ = sqlite_app
    locked = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait(30)
        conn.execute("COMMIT")
        conn.close()

    busy: list[BaseException] = []
    real = database_module.is_contention

    def seen(exc: BaseException) -> bool:
        answer = real(exc)
        if answer:
            busy.append(exc)
            release.set()  # the first refusal happened: let the other process finish
        return answer

    monkeypatch.setattr(database_module, "is_contention", seen)
    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert await asyncio.to_thread(locked.wait, 10)
    response = await client.post("/api/v1/calls/c1.0/outcome", headers=SUP, json={"disposition": "sale"})
    holder.join(10)
    assert busy, "the lock was meant to outlast the busy timeout"
    assert response.status == 201, await response.text()


async def test_outcomes_are_refused_while_the_journal_cannot_write(sqlite_app: Any) -> None:
    client, _, state = sqlite_app
    state["accepting"] = False
    response = await client.post("/api/v1/calls/c1.0/outcome", headers=SUP, json={"disposition": "sale"})
    assert response.status == 503 and "journal" in (await response.json())["error"]
    state["accepting"] = True
    response = await client.post("/api/v1/calls/c1.0/outcome", headers=SUP, json={"disposition": "sale"})
    assert response.status == 201


async def test_an_outcome_saved_as_its_call_ends_waits_for_the_calls_record(tmp_path: Path) -> None:
    """The rep saves the moment the call ends, while acd's database is still behind: the write
    waits for the finished record (201), and says so (503) if it does not come in time, instead
    of "not your call"."""
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}")
    engine = await prepare_database(settings)
    await seed(engine, settings)
    state: dict[str, Any] = {"behind": [finished("z1.1", linkedid="z1.0", agent=A, joined_at=BASE + 3000)]}

    async def stored(timeout: float) -> bool:
        assert timeout > 0
        if not state.get("behind"):
            return True
        if state.get("catch_up"):  # the writer commits what it was given meanwhile
            await RowUpserter(engine, settings.server_id, settings.credit_policy).write(
                with_customer_calls(state.pop("behind"))
            )
            return True
        return False

    app = build_app(settings, engine, lambda: None, clock=lambda: BASE + 5000, stored=stored)
    async with serving(app, engine) as client:
        response = await client.post("/api/v1/calls/z1.0/outcome", headers=AG_A, json={"disposition": "sale"})
        assert response.status == 503 and "not stored this call yet" in (await response.json())["error"]
        state["catch_up"] = True
        response = await client.post("/api/v1/calls/z1.0/outcome", headers=AG_A, json={"disposition": "sale"})
        assert response.status == 201, await response.text()
        # caught up, a call that is not theirs is still refused as such
        response = await client.post("/api/v1/calls/c2.0/outcome", headers=AG_A, json={"disposition": "sale"})
        assert response.status == 403


async def test_a_bug_is_a_plain_500_without_a_traceback(
    sqlite_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _, _ = sqlite_app

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app_module, "customer_call", broken)
    response = await client.get("/api/v1/calls/c1.0", headers=SUP)
    text = await response.text()
    assert response.status == 500 and "secret internals" not in text and "Traceback" not in text
    assert (await response.json()) == {"error": "internal error"}


async def test_a_client_that_never_finishes_its_headers_is_cut_off() -> None:
    async def ok(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.add_routes([web.get("/", ok)])
    runner = app_runner(app, HttpSettings(header_timeout=0.3))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:

        def slowloris() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: acd\r\n")  # and never the blank line
                return sock.recv(100)  # b"" once the server closes

        def polite() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: acd\r\nConnection: close\r\n\r\n")
                return sock.recv(100)

        assert await asyncio.to_thread(slowloris) == b""
        assert (await asyncio.to_thread(polite)).startswith(b"HTTP/1.1 200")
    finally:
        await runner.cleanup()
