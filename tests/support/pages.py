"""The pages over a real loopback socket with aiohttp's test client (no browser): for the
security properties, which are about HTTP itself (redirects, cookies, headers, CSRF)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from acd.api import build_app
from acd.settings import Settings
from acd.store.migrate import prepare_database
from tests.support.http import Client, World, serving

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@asynccontextmanager
async def pages_app(
    tmp_path: Path,
    tokens: list[dict[str, str]],
    *,
    clock: float = 1.8e9,
    shutdown_timeout: float = 60.0,
    **extra: Any,
) -> AsyncIterator[tuple[Client, World, Any]]:
    settings = Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}", "spool_dir": str(tmp_path / "spool")},  # type: ignore[arg-type]
        api_tokens=tokens,  # type: ignore[arg-type]
        time_zone="UTC",
        **extra,
    )
    engine = await prepare_database(settings)
    world = World()
    app = build_app(
        settings,
        engine,
        lambda: world.snapshot,
        live_calls=world.calls,
        clock=lambda: clock,
    )
    jar = aiohttp.CookieJar(unsafe=True)
    async with serving(app, engine, shutdown_timeout=shutdown_timeout, cookie_jar=jar) as client:
        yield client, world, engine


def csrf_in(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


async def sign_in(client: Client, token: str, next_page: str = "/") -> aiohttp.ClientResponse:
    form = await client.get("/login")
    csrf = csrf_in(await form.text())
    response = await client.post(
        "/login", data={"csrf": csrf, "token": token, "next": next_page}, allow_redirects=False
    )
    return response


async def page_csrf(client: Client, path: str = "/") -> str:
    return csrf_in(await (await client.get(path)).text())
