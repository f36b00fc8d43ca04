"""acd's HTTP application (API and pages) under aiohttp's test client, on a real loopback socket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.api import LiveCalls
from acd.core.live import LiveSnapshot

__all__ = ["Client", "World", "serving"]

Client = TestClient[Any, Any]


class World:
    """The live picture the app reads; tests change it."""

    def __init__(self) -> None:
        self.snapshot: LiveSnapshot | None = None
        self.calls = LiveCalls()


@asynccontextmanager
async def serving(
    app: web.Application, engine: AsyncEngine, *, shutdown_timeout: float = 60.0, **client: Any
) -> AsyncIterator[Client]:
    """``app`` served on 127.0.0.1 with a test client (``client``: its options, a cookie jar);
    the client closed and ``engine`` disposed afterwards. ``shutdown_timeout``: how long the
    server's stop waits for requests still running (aiohttp's default)."""
    test_client: Client = TestClient(
        TestServer(app, host="127.0.0.1", shutdown_timeout=shutdown_timeout), **client
    )
    await test_client.start_server()
    try:
        yield test_client
    finally:
        await test_client.close()
        await engine.dispose()
