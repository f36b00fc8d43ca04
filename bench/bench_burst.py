"""A 10,000-member resync and a burst of tens of thousands of events, against the real daemon.

    .venv/bin/python bench/bench_burst.py [--agents 500 --queues 20 --calls 1500]

The simulator (a separate process, with Asterisk's ``writetimeout`` of 100 ms: a client whose
socket stays unwritable that long is cut off) logs 500 agents into 20 queues (10,000 members),
the daemon connects and resyncs (QueueStatus answers with every member), then 1,500 callers arrive
at once and are answered: tens of thousands of events in a few seconds. The daemon runs in this
process with its SQLite writer; a probe measures how late a 10 ms timer fires on its event loop.

Printed: events, resync size, disconnects seen by the daemon, loop stall p50/p99/max.
Targets (docs/architecture.md, "Performance targets"): no disconnect; stall p99 <= 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _queues_conf(path: Path, queues: int) -> None:
    lines = []
    for i in range(queues):
        lines += [
            f"[q{i:02d}]",
            "strategy = rrmemory",
            "timeout = 15",
            "retry = 1",
            "wrapuptime = 0",
            "ringinuse = no",
            "servicelevel = 20",
            "",
        ]
    path.write_text("\n".join(lines))


def _simulator(port_q: Any, go: Any, conf: str, agents: int, queues: int, calls: int, secret: str) -> None:
    from acd.sim import SimConfig, Simulator

    async def main() -> None:
        sim = Simulator(
            SimConfig(
                port=0,
                speed=1.0,
                traffic=False,
                queues_conf=Path(conf),
                seed=1,
                username="acd",
                secret=secret,
            )
        )
        _host, port = await sim.start()
        for a in range(agents):
            for q in range(queues):
                sim.add_agent(f"q{q:02d}", f"{2000 + a}", f"Agent{a:03d}", answer_after=1.0)
        port_q.put(port)
        while not go.is_set():
            await asyncio.sleep(0.05)
        for c in range(calls):
            sim.place_call(f"555{c:05d}", f"q{c % queues:02d}", patience=None, talk=20.0)
        await asyncio.sleep(40)
        await sim.stop()

    asyncio.run(main())


async def _run(port: int, go: Any, tmp: Path, seconds: float, secret: str) -> dict[str, Any]:
    from acd.ami.connection import Disconnected
    from acd.daemon import Daemon
    from bench.local_daemon import bench_daemon_settings

    daemon = Daemon(bench_daemon_settings(tmp, port, secret))
    reasons: list[str] = []
    original = daemon._on_state

    def on_state(notice: Any) -> None:
        if isinstance(notice, Disconnected):
            reasons.append(notice.reason)
        original(notice)

    daemon.ami._on_state = on_state
    lateness: list[float] = []
    stop = False

    async def probe() -> None:
        while not stop:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            lateness.append((time.perf_counter() - t - 0.01) * 1000)

    probe_task = asyncio.create_task(probe())
    await daemon.start()
    t0 = time.perf_counter()
    while daemon.stats.resyncs == 0 and time.perf_counter() - t0 < 60:
        await asyncio.sleep(0.05)
    # The resync counts as done once Asterisk's answer is read; its members may still wait in the
    # consumer's queue, applied in order before anything after them. Count them once applied.
    while daemon.queue and time.perf_counter() - t0 < 120:
        await asyncio.sleep(0.01)
    resync_seconds = time.perf_counter() - t0
    members = len(daemon.core.registry.members)
    go.set()
    await asyncio.sleep(seconds)
    stop = True
    await probe_task
    events = daemon.stats.events
    seen_disconnects = list(reasons)
    await daemon.stop()
    lateness.sort()
    return {
        "events": events,
        "members": members,
        "resync_seconds": resync_seconds,
        "disconnects": seen_disconnects,
        "p50": statistics.median(lateness),
        "p99": lateness[int(len(lateness) * 0.99) - 1],
        "max": lateness[-1],
        "max_queue": daemon.stats.max_queue,
        "calls": daemon.stats.calls_finished,
        "ping_timeouts": daemon.ami.stats.ping_timeouts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--queues", type=int, default=20)
    parser.add_argument("--calls", type=int, default=1500)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        conf = tmp / "queues.conf"
        _queues_conf(conf, args.queues)
        ctx = multiprocessing.get_context("spawn")
        port_q, go = ctx.Queue(), ctx.Event()
        secret = secrets.token_urlsafe(18)  # acd has no default secret: simulator and daemon share one
        sim = ctx.Process(
            target=_simulator,
            args=(port_q, go, str(conf), args.agents, args.queues, args.calls, secret),
            daemon=True,
        )
        sim.start()
        port = port_q.get(timeout=120)
        r = asyncio.run(_run(port, go, tmp, args.seconds, secret))
        sim.terminate()
    print(f"members after resync: {r['members']} (resync applied {r['resync_seconds']:.2f} s after start)")
    print(f"events read: {r['events']}, calls recorded: {r['calls']}, deepest queue: {r['max_queue']}")
    gone = r["disconnects"]
    print(f"disconnects: {len(gone)} (target 0){': ' if gone else ''}{'; '.join(gone)}")
    print(f"Ping timeouts: {r['ping_timeouts']}")
    print(
        f"event-loop stall: p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms (target <= 20), "
        f"max {r['max']:.1f} ms"
    )


if __name__ == "__main__":
    main()
