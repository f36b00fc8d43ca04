"""Scrape cost of acd's /metrics at call-center scale, and the event-loop stall it causes.

Run: .venv/bin/python bench/bench_metrics.py [--agents 500] [--queues 20] [--calls 40000] [--db-days 0]

What it does:
1. Feeds a synthetic day (``tests.support.synthetic``: every outcome, cut-offs, callbacks, outcomes,
   personal affinity legs) into a fresh ``Metrics``, with per-agent series off (the default) and on,
   and prints the cost per effect.
2. Renders the exposition N times in the calling thread (live snapshot of 500 agents x 20 queues
   read at each scrape) and prints the median / p95 / max render time (target: <= 50 ms).
3. Serves /metrics from an aiohttp app (snapshot in the loop, render in a worker thread) while a
   ticker task measures how late the loop wakes up (1 ms period), and a client thread scrapes over
   loopback: prints the loop's worst and p99 lateness during scrapes.
4. With ``--db-days N``: a SQLite database holding N days of calls (default 30 when given without a
   value) is written, and the SQL KPI source computes the window KPIs in the background while the
   loop serves scrapes: prints the computation time and the loop stall it caused.
Numbers, not assertions: this is a benchmark, never a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web
from prometheus_client import generate_latest

from acd.metrics import Metrics, metrics_route
from acd.settings import Settings
from tests.support.synthetic import synthetic_day, synthetic_snapshot


def fill(per_agent: bool, agents: int, queues: int, calls: int) -> tuple[Metrics, float, float, int]:
    """A Metrics after a simulated day; returns it, seconds per effect, seconds per AMI event count."""
    snap = synthetic_snapshot(agents=agents, queues=queues)
    m = Metrics(Settings(metrics_per_agent=per_agent), live=lambda: snap, db_backlog=lambda: 0)
    effects = list(synthetic_day(agents=agents, queues=queues, calls=calls))
    started = time.perf_counter()
    for e in effects:
        m.observe(e)
    per_effect = (time.perf_counter() - started) / len(effects)
    names = ("Newchannel", "Hangup", "QueueCallerJoin", "VarSet", "SomethingElse") * 40_000
    started = time.perf_counter()
    for name in names:
        m.count_event(name)
    per_event = (time.perf_counter() - started) / len(names)
    return m, per_effect, per_event, len(effects)


def render_times(m: Metrics, n: int) -> tuple[list[float], int]:
    times = []
    size = 0
    for _ in range(n):
        t = time.perf_counter()
        size = len(generate_latest(m.registry))
        times.append((time.perf_counter() - t) * 1000)
    return times, size


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def loop_stall(
    m: Metrics, scrapes: int, background: asyncio.Task[object] | None = None
) -> dict[str, float]:
    app = web.Application()
    app.add_routes([metrics_route(m)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    lateness: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        period = 0.001
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(period)
            lateness.append((time.perf_counter() - t - period) * 1000)

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.2)
    idle = list(lateness)
    lateness.clear()
    client_times: list[float] = []

    def client() -> None:
        for _ in range(scrapes):
            t = time.perf_counter()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
                resp.read()
            client_times.append((time.perf_counter() - t) * 1000)
            time.sleep(0.02)

    thread = threading.Thread(target=client)
    thread.start()
    while thread.is_alive() or (background is not None and not background.done()):
        await asyncio.sleep(0.01)
    thread.join()
    stop.set()
    await tick
    await runner.cleanup()
    return {
        "idle_p99_ms": pct(idle, 0.99),
        "scrape_wall_median_ms": statistics.median(client_times),
        "stall_p99_ms": pct(lateness, 0.99),
        "stall_max_ms": max(lateness),
    }


async def kpi_run(m: Metrics, days: int, agents: int, queues: int, calls_per_day: int) -> None:
    from acd.metrics import KpiRefresher
    from acd.metrics.sql import SqlKpiSource
    from acd.store.database import make_engine
    from bench.kpi_db import build_database  # local helper: writes N days of records in bulk

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kpi.db"
        t = time.perf_counter()
        rows, now = await build_database(
            f"sqlite+aiosqlite:///{path}",
            days=days,
            agents=agents,
            queues=queues,
            calls_per_day=calls_per_day,
        )
        print(f"database: {rows} call rows over {days} days written in {time.perf_counter() - t:.1f} s")
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        source = SqlKpiSource(engine, m.settings)
        refresher = KpiRefresher(source, clock=lambda: now, timeout=600)
        m.attach_kpis(refresher)
        task: asyncio.Task[object] = asyncio.create_task(refresher.refresh_once())
        stall = await loop_stall(m, scrapes=20, background=task)
        ok = task.result()
        print(f"KPI computation: ok={ok} in {refresher.last_duration:.2f} s (wall), while serving scrapes:")
        print(
            f"  loop lateness p99 {stall['stall_p99_ms']:.1f} ms, max {stall['stall_max_ms']:.1f} ms;"
            f" scrape wall median {stall['scrape_wall_median_ms']:.1f} ms"
        )
        t = time.perf_counter()
        _, size = render_times(m, 1)
        print(f"  scrape with KPIs exported: {(time.perf_counter() - t) * 1000:.1f} ms, {size} bytes")
        await engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=500)
    ap.add_argument("--queues", type=int, default=20)
    ap.add_argument("--calls", type=int, default=40_000, help="calls in the simulated day")
    ap.add_argument("--renders", type=int, default=30)
    ap.add_argument("--db-days", type=int, nargs="?", const=30, default=0)
    ap.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() after filling: shows how much of the worst stall is the cyclic GC",
    )
    args = ap.parse_args()
    print(f"{args.agents} agents x {args.queues} queues, {args.calls} calls in a simulated day")
    for per_agent in (False, True):
        m, per_effect, per_event, n = fill(per_agent, args.agents, args.queues, args.calls)
        if args.gc_freeze:
            gc.collect()
            gc.freeze()
        times, size = render_times(m, args.renders)
        stall = asyncio.run(loop_stall(m, scrapes=20))
        lines = generate_latest(m.registry).count(b"\n")
        print(
            f"per-agent {'on ' if per_agent else 'off'}: observe {per_effect * 1e6:.1f} us/effect"
            f" ({n} effects), count_event {per_event * 1e9:.0f} ns/event;"
            f" render median {statistics.median(times):.1f} ms, p95 {pct(times, 0.95):.1f} ms,"
            f" max {max(times):.1f} ms; {size} bytes, {lines} lines"
        )
        print(
            f"   loop lateness during scrapes: p99 {stall['stall_p99_ms']:.1f} ms,"
            f" max {stall['stall_max_ms']:.1f} ms (idle p99 {stall['idle_p99_ms']:.2f} ms);"
            f" scrape wall median {stall['scrape_wall_median_ms']:.1f} ms"
        )
    if args.db_days:
        m, _, _, _ = fill(False, args.agents, args.queues, args.calls)
        asyncio.run(kpi_run(m, args.db_days, args.agents, args.queues, args.calls))


if __name__ == "__main__":
    main()
