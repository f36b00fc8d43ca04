"""The ``/metrics`` endpoint as an aiohttp route, served by the daemon's own loop.

Rendering runs in the event loop: with every family bound to a per-queue child and live state read
from one snapshot, a 500-agent, 20-queue scrape renders in a few milliseconds (bench/bench_metrics.py
measures it), which is cheaper than handing the registry to a thread and locking it against the
consumer. The classic text format (0.0.4) is what every Prometheus 2.x, Debian's 2.42 included,
negotiates. Scraping needs no token (issue 4: metrics scraping is unauthenticated).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

if TYPE_CHECKING:
    from acd.metrics.metrics import Metrics

__all__ = ["metrics_route"]


def metrics_route(metrics: Metrics, path: str = "/metrics") -> web.RouteDef:
    """``app.add_routes([metrics_route(metrics)])``: GET renders the text exposition format."""

    async def handler(request: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    return web.get(path, handler)
