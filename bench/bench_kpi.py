"""The window KPI refresh and ``acd report --since 30d``, before and after acd recorded customer calls,
on SQLite and PostgreSQL, and how they grow with the rows.

    .venv/bin/python bench/bench_kpi.py [--rows 1200000] [--growth 5000000] [--postgres URL] [--no-before]
                                        [--runs 3]

For each database (a SQLite file, and PostgreSQL: a throwaway cluster started as the tests start
theirs, or ``--postgres URL``: a server of yours, where each size gets a database of its own,
``acd_bench_kpi_<rows>``, kept and reused by the next run, since loading 5M rows takes many minutes)
it loads N entry rows as the daemon writes them (bench/kpi_db.py: SQLite executemany, PostgreSQL
COPY, then VACUUM ANALYZE as autovacuum would), then times, in one run:

  before  the KPI query and the report as they were (bench/legacy.py: correlated sub-queries that
          fold personal legs and find closing legs at read time; every entry loaded and folded in
          Python for the report);
  rows    the KPI refresh (acd.metrics.sql: the three windows as three periods of one pass of plain
          GROUP BYs) and ``acd report --since 30d`` (acd.reads.summary, then the table), with no
          summary rollup built: every figure read from the rows;
  build   the summary rollups built from nothing (acd/reads/rollup_build.py: what the daemon's KPI
          refresh does a few seconds at a time after an upgrade);
  after   the same two reads with the rollups current (the daemon's refresh includes its build
          step, which then only re-checks a couple of buckets), ``--runs`` times each, the median
          kept, and whether they equal the rows';

and prints seconds and the ratios. ``--growth`` repeats "after" on a second database of that many
rows. Numbers, not assertions: machines here are noisy; only ratios within one run mean much.
Targets: the KPI refresh at least 5x faster than before (5.2 s at 1.2M rows was measured before);
KPIs over ~5M rows <= 2 s on PostgreSQL; the report <= 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import make_url  # noqa: E402

from acd.metrics.sql import SqlKpiSource  # noqa: E402
from acd.reads.summary import build_rollups, load_report  # noqa: E402
from acd.reporting.render import to_table  # noqa: E402
from acd.settings import Settings  # noqa: E402
from acd.store.database import make_engine  # noqa: E402
from bench import legacy  # noqa: E402
from bench.kpi_db import build_database  # noqa: E402
from tests.pg_fixtures import own_cluster  # noqa: E402

AGENTS, QUEUES, DAYS = 2000, 20, 30
MONTH = 30 * 86400.0


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str | None]:
    """An empty PostgreSQL database on a cluster of our own (as the tests start theirs), or None when
    there is no server. The cluster is stopped on every way out: the end of the block, an
    exception, Ctrl-C, SIGTERM and SIGHUP."""
    with interrupted_by_stop_signals(), own_cluster("acd-bench-pg-") as server:
        yield None if server is None else server.url(server.create_database())


@contextlib.contextmanager
def interrupted_by_stop_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP end the run as Ctrl-C does: their default would end the process on the
    spot, with no ``finally`` run and the cluster left behind; a KeyboardInterrupt unwinds it."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def timed(what: str, run: object) -> float:
    started = time.perf_counter()
    await run  # type: ignore[misc]
    took = time.perf_counter() - started
    print(f"    {what:<40} {took:8.2f} s", flush=True)
    return took


async def measure(
    url: str, rows: int, *, before: bool, runs: int = 1, kept: bool = False
) -> dict[str, float]:
    """``kept``: the database holds this size's records from an earlier run (only its rollups go)."""
    settings = Settings(database={"url": url})  # type: ignore[arg-type]
    per_day = rows // DAYS
    started = time.perf_counter()
    if kept:
        written, now = await _reuse(url)
        print(f"  {written} entry rows over {DAYS} days kept from an earlier run", flush=True)
    else:
        written, now = await build_database(
            url, days=DAYS, agents=AGENTS, queues=QUEUES, calls_per_day=per_day
        )
        print(
            f"  {written} entry rows over {DAYS} days loaded in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        await _mark_loaded(url, written, now)
    engine = make_engine(url, timeout=600)
    out: dict[str, float] = {}
    try:
        if before:
            out["kpi_before"] = await timed(
                "KPI refresh, before", legacy.LegacyKpiSource(engine, settings).compute(now)
            )
            out["report_before"] = await timed(
                "acd report --since 30d, before", legacy.load_report(engine, settings, now - MONTH, now, now)
            )
        shown: dict[str, dict[str, Any]] = {}

        async def report(key: str) -> None:
            found = await load_report(engine, settings, now - MONTH, now, now)
            to_table(found)
            shown[key] = found.as_dict()

        # No rollup built yet: every summary reads the rows (what acd did before the rollups).
        out["kpi_rows"] = await timed(
            "KPI refresh, rows only", SqlKpiSource(engine, settings, build_budget=0).compute(now)
        )
        out["report_rows"] = await timed("acd report --since 30d, rows only", report("rows"))
        out["rollups_build"] = await timed(
            "rollups built from nothing (once)", build_rollups(engine, settings, now, budget=math.inf)
        )
        kpis, reports = [], []
        for n in range(runs):
            kpis.append(
                await timed(f"KPI refresh, rollups ({n + 1})", SqlKpiSource(engine, settings).compute(now))
            )
            reports.append(await timed(f"acd report --since 30d, rollups ({n + 1})", report("rollups")))
        out["kpi_after"], out["report_after"] = statistics.median(kpis), statistics.median(reports)
        if runs > 1:
            print(
                f"    medians of {runs}: KPI refresh {out['kpi_after']:.2f} s,"
                f" report {out['report_after']:.2f} s"
            )
        print(f"  the same figures from the rows and the rollups: {_same(shown['rows'], shown['rollups'])}")
    finally:
        await engine.dispose()
    print(
        f"  ratios: KPI refresh {out['kpi_rows'] / out['kpi_after']:.1f}x faster with rollups,"
        f" report {out['report_rows'] / out['report_after']:.1f}x"
        + (
            f"; against before: KPI {out['kpi_before'] / out['kpi_after']:.1f}x,"
            f" report {out['report_before'] / out['report_after']:.1f}x"
            if before
            else ""
        ),
        flush=True,
    )
    print(
        f"  targets: KPI refresh {out['kpi_after']:.2f} s of 2 s ({out['kpi_after'] / 2:.2f}),"
        f" report {out['report_after']:.2f} s of 5 s ({out['report_after'] / 5:.2f})",
        flush=True,
    )
    return out


async def _mark_loaded(url: str, written: int, now: float) -> None:
    """Note in a PostgreSQL database kept for later runs what it holds."""
    if make_url(url).get_backend_name() != "postgresql":
        return
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE bench_kpi_loaded (written BIGINT, now DOUBLE PRECISION)")
            await conn.exec_driver_sql(f"INSERT INTO bench_kpi_loaded VALUES ({written}, {now!r})")
    finally:
        await engine.dispose()


async def _reuse(url: str) -> tuple[int, float]:
    """The records a kept database holds, with its rollups and marks dropped (built anew below)."""
    engine = make_engine(url, timeout=600)
    try:
        async with engine.begin() as conn:
            written, now = (await conn.exec_driver_sql("SELECT written, now FROM bench_kpi_loaded")).one()
            await conn.exec_driver_sql("TRUNCATE summary_rollups, summary_marks")
    finally:
        await engine.dispose()
    return int(written), float(now)


async def kept_database(server: str, rows: int) -> tuple[str, bool]:
    """(URL of this size's database on ``server``, whether an earlier run loaded it), creating an
    empty one when there is none (one whose load was cut short is dropped first)."""
    name = f"acd_bench_kpi_{rows}"
    admin = make_engine(make_url(server).set(database="postgres").render_as_string(hide_password=False))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        async with admin.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            exists = (
                await conn.exec_driver_sql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
            ).first()
            if exists:
                probe = make_engine(url)
                try:
                    async with probe.connect() as db:
                        found = await db.exec_driver_sql("SELECT to_regclass('bench_kpi_loaded')")
                        if found.scalar() is not None:
                            return url, True
                finally:
                    await probe.dispose()
                await conn.exec_driver_sql(f'DROP DATABASE "{name}"')
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        await admin.dispose()
    return url, False


def _same(a: Any, b: Any) -> bool:
    """Equal, floats to 1e-9 (a sum of sums may round its last bit differently)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_200_000, help="entry rows for before/after (default 1.2M)")
    ap.add_argument("--growth", type=int, default=5_000_000, help="entry rows for the growth run (0: none)")
    ap.add_argument(
        "--postgres",
        metavar="URL",
        help="a PostgreSQL server whose databases acd_bench_kpi_<rows> are kept for the next run"
        " (default: a throwaway one)",
    )
    ap.add_argument("--runs", type=int, default=3, help="runs of the reads with rollups (median; default 3)")
    ap.add_argument("--no-before", action="store_true", help="skip the old reads (slow on big tables)")
    ap.add_argument("--sqlite-only", action="store_true")
    ap.add_argument("--postgres-only", action="store_true")
    args = ap.parse_args()
    results: dict[str, dict[int, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in [] if args.postgres_only else [args.rows, *([args.growth] if args.growth else [])]:
            print(f"SQLite, {size} rows:", flush=True)
            url = f"sqlite+aiosqlite:///{Path(tmp) / f'kpi-{size}.db'}"
            results.setdefault("sqlite", {})[size] = await measure(
                url, size, before=size == args.rows and not args.no_before, runs=args.runs
            )
            (Path(tmp) / f"kpi-{size}.db").unlink()
    if not args.sqlite_only:
        for size in [args.rows, *([args.growth] if args.growth else [])]:
            with contextlib.ExitStack() as stack:
                kept = False
                if args.postgres:
                    url, kept = await kept_database(args.postgres, size)
                else:
                    url = stack.enter_context(throwaway_postgres())
                if url is None:
                    print("PostgreSQL: no server (install postgresql or give --postgres URL)")
                    break
                print(f"PostgreSQL, {size} rows:", flush=True)
                results.setdefault("postgresql", {})[size] = await measure(
                    url, size, before=size == args.rows and not args.no_before, runs=args.runs, kept=kept
                )
    print("\nsummary (seconds):")
    for backend, sizes in results.items():
        for size, figures in sizes.items():
            shown = ", ".join(f"{k} {v:.2f}" for k, v in figures.items())
            print(f"  {backend:<10} {size:>9} rows: {shown}")
        if len(sizes) == 2:
            (small, a), (big, b) = sorted(sizes.items())
            kpi, report = b["kpi_after"] / a["kpi_after"], b["report_after"] / a["report_after"]
            print(
                f"  {backend:<10} growth {small} -> {big} rows ({big / small:.1f}x):"
                f" KPI refresh {kpi:.1f}x, report {report:.1f}x"
            )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt as stopped:
        print(f"interrupted ({str(stopped) or 'SIGINT'}): nothing left running", file=sys.stderr)
        sys.exit(130)
