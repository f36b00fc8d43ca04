"""Journal throughput on a real disk: how fast records become *accepted* (fsync'd), and how long one waits.

Run: .venv/bin/python bench/bench_journal.py [--records 20000] [--dir DIR] [--rate 2000 ...]

``--dir`` must be on the disk acd's journal will live on (the default is a temporary directory;
tmpfs has no fsync cost and measures nothing). It prints:

  disk     the disk's own pace: 4 KiB written and fdatasync'd, one after another (fsyncs/s);
  burst    N call records appended as fast as the event loop can (as the consumer does: 50, then
           yield) until all are durable: records/s, fsyncs (group commits), records per fsync,
           the event loop's worst and p99 lateness meanwhile (a 1 ms ticker; ``idle`` is the
           same ticker with nothing else running: the machine's own floor);
  paced    records at ``--rate``/s (default 20/s, more than a busy center makes, and 2,000/s): the
           time from append to durable (p50, p99, worst), the figure "accepted" rests on;
  replay   a journal of N records opened again, read and acknowledged (the restart after a crash
           with the database down meanwhile): records/s.

Numbers, not assertions: a benchmark, never a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_writer import Lateness, make_calls

from acd.store.journal import Journal, State


class TimedJournal(Journal):
    """Notes when each report of durability reached the loop (the benchmark's only addition)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.reports: list[tuple[float, int]] = []

    def _report(self, durable: int, state: State) -> None:
        self.reports.append((time.perf_counter(), durable))
        super()._report(durable, state)


def file_system(path: Path) -> str:
    best, kind = "", "?"
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            _, point, fstype, *_ = line.split()
            if str(path).startswith(point) and len(point) > len(best):
                best, kind = point, fstype
    return kind


def disk_pace(directory: Path, n: int = 200) -> float:
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    block = b"x" * 4096
    try:
        start = time.perf_counter()
        for _ in range(n):
            os.write(fd, block)
            os.fdatasync(fd)
        return n / (time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink()


def settled() -> None:
    """As the daemon does once started: what is already built stays out of later collections (the
    benchmark's own thousands of ready-made records would otherwise make one collection tens of
    milliseconds long, and that is not the journal's doing)."""
    gc.collect()
    gc.freeze()


def percentile(values: list[float], q: float) -> float:
    s = sorted(values) or [0.0]
    return s[min(len(s) - 1, int(len(s) * q))]


async def idle_lateness(seconds: float = 1.0) -> None:
    lateness = Lateness()
    lateness.start()
    await asyncio.sleep(seconds)
    worst, p99 = await lateness.stop()
    print(f"idle:   loop lateness with nothing else to do worst {worst:.1f} ms p99 {p99:.2f} ms (the floor)")


async def burst(directory: Path, n: int) -> None:
    journal = TimedJournal(directory, max_bytes=8 << 30, memory_records=n + 1)
    journal.open()
    journal.attach(asyncio.get_running_loop())
    effects = make_calls(n, "burst")
    settled()
    lateness = Lateness()
    lateness.start()
    t0 = time.perf_counter()
    append = 0.0
    for start in range(0, n, 50):
        a0 = time.perf_counter()
        for effect in effects[start : start + 50]:
            journal.append(effect)
        append += time.perf_counter() - a0
        await asyncio.sleep(0)
    while journal.stats().on_disk < n:
        await asyncio.sleep(0.001)
    total = time.perf_counter() - t0
    worst, p99 = await lateness.stop()
    stats = journal.stats()
    await journal.close()
    print(
        f"burst:  {n} records durable in {total:5.2f} s = {n / total:8,.0f} records/s "
        f"({stats.bytes / n:.0f} B each); append {append / n * 1e6:.2f} us/record on the loop; "
        f"{stats.commits} fsyncs, {n / max(stats.commits, 1):.0f} records each; "
        f"loop lateness worst {worst:.1f} ms p99 {p99:.2f} ms"
    )


async def paced(directory: Path, rate: float, seconds: float) -> None:
    journal = TimedJournal(directory, max_bytes=8 << 30)
    journal.open()
    journal.attach(asyncio.get_running_loop())
    n = int(rate * seconds)
    effects = make_calls(n, "paced")
    settled()
    appended: list[float] = []
    t0 = time.perf_counter()
    for i, effect in enumerate(effects):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        appended.append(time.perf_counter())
        journal.append(effect)
    while journal.stats().on_disk < n:
        await asyncio.sleep(0.001)
    stats = journal.stats()
    await journal.close()
    waits: list[float] = []
    reports = iter(journal.reports)
    at, durable = next(reports)
    for seq, t in enumerate(appended, start=1):
        while durable < seq:
            at, durable = next(reports)
        waits.append(at - t)
    print(
        f"paced:  {n} records at {rate:,.0f}/s: append to durable "
        f"p50 {percentile(waits, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(waits, 0.99) * 1000:.1f} ms, worst {max(waits) * 1000:.1f} ms; "
        f"{stats.commits} fsyncs ({n / max(stats.commits, 1):.1f} records each)"
    )


async def replay(directory: Path, n: int) -> None:
    journal = Journal(directory, max_bytes=8 << 30)
    journal.open()
    for effect in make_calls(n, "replay"):
        journal.append(effect)
    while journal.stats().on_disk < n:
        await asyncio.sleep(0.005)
    await journal.close()
    t0 = time.perf_counter()
    again = Journal(directory, max_bytes=8 << 30)
    waiting = again.open()
    after = 0
    while after < waiting:
        batch = await again.read(after, 500)
        after = batch[-1][0]
        again.ack(after)
    total = time.perf_counter() - t0
    await again.close()
    print(
        f"replay: {waiting} records reopened, read and acknowledged in {total:5.2f} s "
        f"= {waiting / total:8,.0f} records/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument(
        "--rate", type=float, action="append", help="records/s of a paced run (default: 20 and 2,000)"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the paced run")
    parser.add_argument(
        "--dir", type=Path, help="a directory on the journal's disk (default: a temporary one)"
    )
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="acd-bench-journal-", dir=args.dir))
    try:
        print(f"directory {base} ({file_system(base)})")
        print(f"disk:   {disk_pace(base):8,.0f} fdatasyncs/s of 4 KiB, one after another")
        asyncio.run(idle_lateness())
        asyncio.run(burst(base / "burst", args.records))
        for i, per_second in enumerate(args.rate or [20.0, 2_000.0]):
            asyncio.run(paced(base / f"paced{i}", per_second, args.seconds))
        asyncio.run(replay(base / "replay", args.records))
    finally:
        shutil.rmtree(base, ignore_errors=True)  # the journals it wrote: nothing is left behind


if __name__ == "__main__":
    main()
