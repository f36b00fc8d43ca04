"""Several servers writing one PostgreSQL: writer lag and rows/s of four daemons against one.

    .venv/bin/python bench/bench_servers.py [--rate 30] [--seconds 20] [--daemons 4] [--postgres URL]

Each "daemon" is a process of its own with acd's writer (journal, batches, the store's upserts and
customer-call links, the history NOTIFY in every transaction) and its own ``ACD_SERVER_ID``, as on
a real Asterisk host. Two runs on one database (``--postgres URL`` of an empty database, else a
throwaway cluster started as the tests start theirs):

  paced     each daemon submits ``--rate`` finished calls per second for ``--seconds`` (30 calls/s
            is about 800 AMI events/s, four times a 500-seat center's peak); writer lag is the time
            from ``submit()`` to the commit of the record's transaction: p50, p99 and worst;
  flat out  each daemon submits as fast as it can: rows/s per daemon and in all.

Both runs once with one daemon, then with ``--daemons`` at once, and the ratios of the two, measured
in the same run (these machines are shared and noisy: only the ratios mean much). Target: writer
lag p99 <= 1 s with four daemons. Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from acd.core.effects import CallFinished  # noqa: E402
from acd.settings import Settings  # noqa: E402
from acd.store.codec import StoredEffect  # noqa: E402
from acd.store.migrate import prepare_database  # noqa: E402
from acd.store.upsert import RowUpserter  # noqa: E402
from acd.store.writer import Writer  # noqa: E402
from bench.bench_kpi import throwaway_postgres  # noqa: E402
from bench.bench_writer import make_calls  # noqa: E402


class TimedStore(RowUpserter):
    """The store, noting when each call record's transaction committed."""

    committed: dict[str, float]

    async def write(self, batch: Sequence[StoredEffect]) -> None:
        await super().write(batch)
        now = time.perf_counter()
        for effect in batch:
            if isinstance(effect, CallFinished):
                self.committed.setdefault(effect.record.id, now)


async def _daemon(url: str, server: str, rate: float | None, seconds: float, calls: int) -> dict[str, Any]:
    spool = tempfile.mkdtemp(prefix=f"acd-bench-{server}-")
    settings = Settings(server_id=server, database={"url": url, "spool_dir": spool})  # type: ignore[arg-type]
    engine = await prepare_database(settings)
    store = TimedStore(engine, server, settings.credit_policy, settings.credit_original_share)
    store.committed = {}
    writer = Writer(settings, store=store)
    task = asyncio.create_task(writer.run())
    n = int(rate * seconds) if rate is not None else calls
    effects = make_calls(n, f"{server}-{int(time.time() * 1000)}")
    submitted: dict[str, float] = {}
    t0 = time.perf_counter()
    for i, effect in enumerate(effects):
        if rate is not None:
            due = t0 + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
        elif i % 50 == 0:
            await asyncio.sleep(0)
        submitted[effect.record.id] = time.perf_counter()
        writer.submit(effect)
    await writer.drain(600)
    took = time.perf_counter() - t0
    await writer.close(10)
    await task
    await engine.dispose()
    shutil.rmtree(spool, ignore_errors=True)
    lags = sorted(store.committed[k] - v for k, v in submitted.items() if k in store.committed)
    return {"rows": len(lags), "seconds": took, "lags": lags}


def _run(args: tuple[str, str, float | None, float, int]) -> dict[str, Any]:
    return asyncio.run(_daemon(*args))


def run(
    url: str, daemons: int, rate: float | None, seconds: float, calls: int, tag: str
) -> list[dict[str, Any]]:
    jobs = [(url, f"{tag}{i}", rate, seconds, calls) for i in range(daemons)]
    with multiprocessing.get_context("spawn").Pool(daemons) as pool:
        return pool.map(_run, jobs)


def _pct(values: Sequence[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


def paced(results: list[dict[str, Any]]) -> dict[str, float]:
    lags = sorted(x for r in results for x in r["lags"])
    return {"p50": _pct(lags, 0.5), "p99": _pct(lags, 0.99), "worst": lags[-1] if lags else float("nan")}


def flat(results: list[dict[str, Any]]) -> dict[str, float]:
    per = [r["rows"] / r["seconds"] for r in results]
    return {
        "per_daemon": sum(per) / len(per),
        "total": sum(r["rows"] for r in results) / max(r["seconds"] for r in results),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=30.0, help="finished calls per second per daemon")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--calls", type=int, default=5000, help="per daemon, flat out")
    parser.add_argument("--daemons", type=int, default=4)
    parser.add_argument("--postgres", metavar="URL", help="an empty PostgreSQL database")
    args = parser.parse_args()

    def body(url: str) -> None:
        asyncio.run(_prepare(url))
        one = paced(run(url, 1, args.rate, args.seconds, 0, "p1-"))
        many = paced(run(url, args.daemons, args.rate, args.seconds, 0, "p4-"))
        print(f"paced, {args.rate:g} calls/s per daemon for {args.seconds:g} s (writer lag, ms):")
        for name, r in (("1 daemon", one), (f"{args.daemons} daemons", many)):
            ms = {k: v * 1e3 for k, v in r.items()}
            print(f"  {name:<10} p50 {ms['p50']:7.1f}  p99 {ms['p99']:7.1f}  worst {ms['worst']:7.1f}")
        print(f"  ratio p99 {many['p99'] / one['p99']:.2f}x (target: p99 <= 1000 ms with {args.daemons})")
        one_f = flat(run(url, 1, None, 0, args.calls, "f1-"))
        many_f = flat(run(url, args.daemons, None, 0, args.calls, "f4-"))
        print(f"flat out, {args.calls} calls per daemon (rows/s):")
        print(f"  1 daemon   {one_f['per_daemon']:8.0f}")
        print(f"  {args.daemons} daemons  {many_f['per_daemon']:8.0f} each, {many_f['total']:8.0f} in all")
        print(
            f"  ratio: each {many_f['per_daemon'] / one_f['per_daemon']:.2f}x, "
            f"in all {many_f['total'] / one_f['per_daemon']:.2f}x one daemon's"
        )

    if args.postgres:
        body(args.postgres)
        return 0
    with throwaway_postgres() as url:
        if url is None:
            print("no PostgreSQL server binaries: give --postgres URL", file=sys.stderr)
            return 1
        body(url)
    return 0


async def _prepare(url: str) -> None:
    """Migrate once, before the daemons start (each would otherwise race to create the tables)."""
    spool = tempfile.mkdtemp(prefix="acd-bench-migrate-")
    settings = Settings(database={"url": url, "spool_dir": spool})  # type: ignore[arg-type]
    engine = await prepare_database(settings)
    await engine.dispose()
    shutil.rmtree(spool, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
