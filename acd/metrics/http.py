"""The ``/metrics`` endpoint as an aiohttp route, served by the daemon's own loop.

The live snapshot is taken in the loop (the core is not thread-safe, and taking it is cheap); the
text is rendered in a worker thread. Rendering 500 agents x 20 queues costs 15 ms (40 ms with
per-agent series on) of pure Python, which in the loop would delay every AMI event by that
much; in a thread the loop keeps running, preempted only at the interpreter's switch
interval (bench/bench_metrics.py measures both). prometheus_client guards its values with locks, so
the consumer keeps counting meanwhile. The classic text format (0.0.4) is what every Prometheus
2.x, Debian's 2.42 included, negotiates. Scraping needs no token: like
every Prometheus exporter, ``/metrics`` is left to the network to protect (bind it to loopback or
a scrape network), and it carries no caller numbers or notes.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

if TYPE_CHECKING:
    from acd.metrics.metrics import Metrics

__all__ = ["metrics_route"]


def metrics_route(metrics: Metrics, path: str = "/metrics") -> web.RouteDef:
    """``app.add_routes([metrics_route(metrics)])``: GET renders the text exposition format."""

    async def handler(request: web.Request) -> web.Response:
        snapshot = metrics.live.take()
        body = await asyncio.to_thread(metrics.render, snapshot)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    return web.get(path, handler)
