"""The center's reads over several servers' rows, against one server holding as many rows.

    .venv/bin/python bench/bench_servers_reads.py [--rows 1000000] [--growth 5000000] [--servers 4]

For each size N (``--rows``, then ``--growth``; 0 skips it) two throwaway PostgreSQL clusters of
our own (started as the tests start theirs), each holding 30 days of a 2,000-seat center:

  one     N entry rows of one server (``ACD_SERVER_ID`` ``asterisk``);
  center  N / ``--servers`` entry rows of each of ``--servers`` servers (their own seeds, the same
          2,000 reps working on every server, callers calling any of them).

Each server's summary rollups are built first, as each server's leader builds them in its KPI
refresh (bench/kpi_db.py loads the rows the way bench_kpi does). Then, timed in one run:

  one     the server's KPI refresh (its leader's), ``acd report --since 30d``;
  center  one server's KPI refresh (each leader's, per server), the center's KPI refresh (what the
          holder of the ``kpi`` lock exports with ``scope="center"``), and ``acd report --since 30d``
          for the center with its per-server breakdown (``server_id=ALL_SERVERS``).

Printed: seconds, the ratios center / one at each size, and the growth from the first size to the
second. Numbers, not assertions: machines here are noisy, only ratios within one run mean much.
Targets (the center's, on PostgreSQL, ~5M rows): KPI refresh <= 2 s, report <= 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from acd.metrics.sql import SqlKpiSource  # noqa: E402
from acd.reads.summary import ALL_SERVERS, build_rollups, load_report  # noqa: E402
from acd.reporting.render import to_table  # noqa: E402
from acd.settings import Settings  # noqa: E402
from acd.store.database import make_engine  # noqa: E402
from bench.bench_kpi import AGENTS, DAYS, MONTH, QUEUES, throwaway_postgres  # noqa: E402
from bench.kpi_db import build_database  # noqa: E402


async def timed(what: str, run: Awaitable[Any]) -> float:
    started = time.perf_counter()
    await run
    took = time.perf_counter() - started
    print(f"    {what:<52} {took:8.2f} s", flush=True)
    return took


async def load(url: str, rows: int, servers: list[str]) -> float:
    """``rows`` entry rows spread over ``servers``, each server's rollups built; returns ``now``."""
    started = time.perf_counter()
    per_day = rows // DAYS // len(servers)
    now = 0.0
    written = 0
    for n, server in enumerate(servers):
        count, now = await build_database(
            url, days=DAYS, agents=AGENTS, queues=QUEUES, calls_per_day=per_day, server_id=server, seed=3 + n
        )
        written += count
    loaded = time.perf_counter()
    engine = make_engine(url, timeout=600)
    try:
        for server in servers:
            settings = Settings(database={"url": url}, server_id=server)  # type: ignore[arg-type]
            await build_rollups(engine, settings, now, budget=math.inf, server_id=server)
    finally:
        await engine.dispose()
    print(
        f"  {written} entry rows of {len(servers)} server(s) loaded in {loaded - started:.0f} s,"
        f" rollups built in {time.perf_counter() - loaded:.0f} s",
        flush=True,
    )
    return now


async def reads(url: str, servers: list[str], now: float) -> dict[str, float]:
    one = len(servers) == 1
    settings = Settings(database={"url": url}, server_id=servers[0])  # type: ignore[arg-type]
    engine = make_engine(url, timeout=600)
    out: dict[str, float] = {}
    try:
        # A leader's refresh builds its own rollups first; they are current, so that step only
        # re-checks the last buckets, as in the daemon.
        out["kpi_server"] = await timed(
            "KPI refresh, one server's (its leader's)", SqlKpiSource(engine, settings).compute(now)
        )
        if not one:
            center = SqlKpiSource(engine, settings, server_id=ALL_SERVERS, build_budget=0.0)
            what = 'KPI refresh, the center\'s (scope="center")'
            out["kpi_center"] = await timed(what, center.compute(now))

        async def report() -> None:
            found = await load_report(
                engine, settings, now - MONTH, now, now, server_id=servers[0] if one else ALL_SERVERS
            )
            to_table(found)

        what = "acd report --since 30d" + ("" if one else ", the center with each server")
        out["report"] = await timed(what, report())
    finally:
        await engine.dispose()
    return out


async def measure(size: int, servers: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for name, ids in (("one", ["asterisk"]), ("center", [f"pbx{n + 1}" for n in range(servers)])):
        with throwaway_postgres() as url:
            if url is None:
                raise SystemExit("PostgreSQL: no server (install postgresql)")
            print(f"PostgreSQL, {size} rows, {name} ({len(ids)} server(s)):", flush=True)
            now = await load(url, size, ids)
            results[name] = await reads(url, ids, now)
    one, center = results["one"], results["center"]
    print(
        f"  ratios center / one server: center KPI refresh {center['kpi_center'] / one['kpi_server']:.2f},"
        f" a server's KPI refresh {center['kpi_server'] / one['kpi_server']:.2f},"
        f" report {center['report'] / one['report']:.2f}",
        flush=True,
    )
    print(
        f"  targets: center KPI refresh {center['kpi_center']:.2f} s of 2 s,"
        f" report {center['report']:.2f} s of 5 s",
        flush=True,
    )
    return results


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="entry rows, first size (default 1M)")
    ap.add_argument("--growth", type=int, default=5_000_000, help="entry rows, second size (0: none)")
    ap.add_argument("--servers", type=int, default=4, help="servers sharing the center's database")
    args = ap.parse_args()
    sizes = [s for s in (args.rows, args.growth) if s]
    runs = {size: await measure(size, args.servers) for size in sizes}
    print("\nsummary (seconds):")
    for size, results in runs.items():
        for name, figures in results.items():
            shown = ", ".join(f"{k} {v:.2f}" for k, v in figures.items())
            print(f"  {size:>9} rows, {name:<6}: {shown}")
    if len(runs) == 2:
        (small, a), (big, b) = sorted(runs.items())
        grow = {
            "center KPI refresh": b["center"]["kpi_center"] / a["center"]["kpi_center"],
            "center report": b["center"]["report"] / a["center"]["report"],
            "one-server KPI refresh": b["one"]["kpi_server"] / a["one"]["kpi_server"],
            "one-server report": b["one"]["report"] / a["one"]["report"],
        }
        print(f"growth {small} -> {big} rows ({big / small:.1f}x the rows):")
        for what, ratio in grow.items():
            print(f"  {what:<24} {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
