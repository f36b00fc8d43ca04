"""Writer throughput and event-loop lateness: N call records into SQLite (and PostgreSQL).

Run: .venv/bin/python bench/bench_writer.py [--calls 10000] [--database URL ...] [--batch 500]

For each database it prints: the cost of ``submit()`` per effect (the only part that runs in the
daemon's consumer), the time until every row is committed (rows/s), the event loop's worst and p99
lateness while the writer works (a 1 ms ticker), and the spool rate (database switched off: records
per second reaching fsync'd segments). Numbers, not assertions: a benchmark, never a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from acd.core.effects import AgentOffer, CallFinished, CallRecord
from acd.settings import Settings
from acd.store.codec import StoredEffect
from acd.store.migrate import prepare_database
from acd.store.upsert import RowUpserter
from acd.store.writer import Writer

BASE = 1_790_000_000.0


def make_calls(n: int, tag: str) -> list[CallFinished]:
    out = []
    for i in range(n):
        t = BASE + i * 8.64
        agent = f"PJSIP/{1000 + i % 50}"
        out.append(
            CallFinished(
                CallRecord(
                    id=f"{tag}.{i}", uniqueid=f"{tag}.{i}", entry=1, linkedid=f"{tag}.{i}", queue=f"q{i % 5}",
                    caller_num=f"555{i % 3000:04d}", caller_name=None, caller_key=f"555{i % 3000:04d}",
                    joined_at=t, ended_at=t + 120, outcome="answered", exit_reason=None, agent=agent,
                    agent_name=f"Agent {1000 + i % 50}", answered_at=t + 12, wait_seconds=12.0,
                    talk_seconds=108.0, ended_by="caller", cause=16, caller_cause=16, agent_cause=16,
                    cut_off=False, cut_off_reasons=(), agent_released_short=False, transfer_target=None,
                    callback_of=None, repeat_of=None, partial=False, position=1,
                    offers=(AgentOffer(agent, "A", t + 1, "answered", 11.0),),
                )
            )
        )  # fmt: skip
    return out


class Lateness:
    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            self.samples.append(time.perf_counter() - start - 0.001)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> tuple[float, float]:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        s = sorted(self.samples) or [0.0]
        return s[-1] * 1000, s[int(len(s) * 0.99)] * 1000


class Down(RowUpserter):
    async def write(self, batch: Sequence[StoredEffect]) -> None:
        raise ConnectionRefusedError("down")


async def bench(url: str, calls: int, batch: int) -> None:
    spool = tempfile.mkdtemp(prefix="acd-bench-spool-")
    settings = Settings(database={"url": url, "spool_dir": spool, "batch_size": batch})  # type: ignore[arg-type]
    engine = await prepare_database(settings)
    effects = make_calls(calls, f"b{int(time.time() * 1000)}")
    writer = Writer(settings, engine)
    task = asyncio.create_task(writer.run())
    lateness = Lateness()
    lateness.start()
    t0 = time.perf_counter()
    submit = 0.0
    for start in range(0, calls, 50):  # as the consumer does: a few effects per event, then yield
        s0 = time.perf_counter()
        for effect in effects[start : start + 50]:
            writer.submit(effect)
        submit += time.perf_counter() - s0
        await asyncio.sleep(0)
    await writer.drain(600)
    total = time.perf_counter() - t0
    worst, p99 = await lateness.stop()
    await writer.close(10)
    await task
    print(
        f"{engine.dialect.name:>10}: submit {submit / calls * 1e6:6.2f} us/effect; {calls} rows committed in "
        f"{total:6.2f} s = {calls / total:8.0f} rows/s; loop lateness worst {worst:6.1f} ms p99 {p99:5.2f} ms"
    )
    down = Writer(
        settings.model_copy(update={"database": settings.database.model_copy(update={"queue_size": 100})}),
        store=Down(engine, settings.server_id, settings.credit_policy),
        retry_min=1.0,
    )
    task = asyncio.create_task(down.run())
    t0 = time.perf_counter()
    for effect in make_calls(calls, "spool"):
        down.submit(effect)
    while down.stats().spooled < calls - 100:
        await asyncio.sleep(0.005)
    spooled = time.perf_counter() - t0
    await down.close(0.1)
    await task
    print(f"{'':>10}  spool (database down): {calls / spooled:8.0f} records/s to fsync'd segments")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--database", action="append", help="URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    urls = args.database or [f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='acd-bench-')}/acd.db"]
    for url in urls:
        asyncio.run(bench(url, args.calls, args.batch))


if __name__ == "__main__":
    main()
