"""Memory over simulated days: the daemon's footprint must stop growing once its windows are full.

    .venv/bin/python bench/bench_memory.py [--days 2 --rate 6]

The simulator (another process, 1500x by default) runs a call center for ``--days``
simulated days; the daemon (this process, SQLite writer) samples its resident memory and the
size of its model every simulated hour. The caller history keeps 24 h by design (repeat window),
so the first day grows; after it, memory should stay flat. Printed: RSS and model sizes per
6 hours, and the growth over the last day.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import resource
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

START = 1.8e9


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def _simulator(port_q: Any, days: float, rate: float, speed: float, secret: str) -> None:
    from acd.sim import SimConfig, Simulator

    async def main() -> None:
        sim = Simulator(
            SimConfig(
                port=0,
                speed=speed,
                seed=3,
                start_epoch=START,
                hold_until_login=True,
                duration=days * 86400,
                rate_per_min=rate,
                agents=12,
                username="acd",
                secret=secret,
            )
        )
        _host, port = await sim.start()
        port_q.put(port)
        await sim.wait_calls_done(None)
        await asyncio.sleep(3600)

    asyncio.run(main())


async def _run(
    port: int, tmp: Path, days: float, speed: float, secret: str
) -> list[tuple[float, float, dict[str, int]]]:
    from acd.daemon import Daemon
    from bench.local_daemon import bench_daemon_settings

    daemon = Daemon(bench_daemon_settings(tmp, port, secret, ami={"ping_interval": 3600}, speed=speed))
    await daemon.start()
    samples: list[tuple[float, float, dict[str, int]]] = []
    next_hour = 1
    idle = 0
    last_events = -1
    while next_hour <= days * 24 and idle < 100:
        await asyncio.sleep(0.05)
        hours = (daemon.clock.now() - START) / 3600
        idle = idle + 1 if daemon.stats.events == last_events else 0
        last_events = daemon.stats.events
        if hours >= next_hour:
            gc.collect()
            core = daemon.core
            sizes = {
                "entries": len(core.registry.entries),
                "channels": len(core.registry.channels),
                "history": len(core.history),
                "timers": len(core.timers),
                "agents": len(core.registry.agents),
                "writer": daemon.writer.stats().backlog,
            }
            samples.append((hours, _rss_mb(), sizes))
            next_hour += 1
    await daemon.stop()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=6.0, help="calls per minute")
    parser.add_argument(
        "--speed",
        type=float,
        default=1500.0,
        help="simulated seconds per second (a pace the SQLite writer keeps up with: "
        "as fast as possible measures the write backlog instead)",
    )
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")
    port_q = ctx.Queue()
    secret = secrets.token_urlsafe(18)  # acd has no default secret: simulator and daemon share one
    sim = ctx.Process(target=_simulator, args=(port_q, args.days, args.rate, args.speed, secret), daemon=True)
    sim.start()
    port = port_q.get(timeout=60)
    with tempfile.TemporaryDirectory() as tmpdir:
        samples = asyncio.run(_run(port, Path(tmpdir), args.days, args.speed, secret))
    sim.terminate()
    for hours, rss, sizes in samples:
        if round(hours) % 6 == 0:
            print(f"hour {hours:5.1f}: rss {rss:7.1f} MB  " + "  ".join(f"{k} {v}" for k, v in sizes.items()))
    if len(samples) > 30:
        day = [s for s in samples if s[0] >= samples[-1][0] - 24]
        print(
            f"last simulated day: rss {day[0][1]:.1f} -> {day[-1][1]:.1f} MB "
            f"({day[-1][1] - day[0][1]:+.1f} MB), history {day[0][2]['history']} -> {day[-1][2]['history']}"
        )


if __name__ == "__main__":
    main()
