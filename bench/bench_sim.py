"""How fast the simulator produces AMI: a max-speed traffic run and a 10,000-member QueueStatus.

    .venv/bin/python bench/bench_sim.py [--calls 5000] [--members 10000]

A bare reader (recv into a bytearray, nothing parsed) drains the socket so the numbers are the
simulator's, not a client's. Printed: calls, events, MB, events/s; QueueStatus bytes and seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def _drain(reader: asyncio.StreamReader, until: asyncio.Task[None]) -> bytes:
    buf = bytearray()
    while True:
        try:
            data = await asyncio.wait_for(reader.read(1 << 20), 0.05 if not until.done() else 0.3)
        except TimeoutError:
            if until.done():
                break
            continue
        if not data:
            break
        buf += data
    return bytes(buf)


async def traffic(calls: int) -> None:
    from acd.sim import SimConfig, Simulator

    sim = Simulator(
        SimConfig(
            port=0, speed=float("inf"), seed=1, max_calls=calls, hold_until_login=True, rate_per_min=3.0
        )
    )
    host, port = await sim.start()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"Action: Login\r\nUsername: acd\r\nSecret: acdsecret\r\n\r\n")
    t0 = time.perf_counter()
    done = asyncio.create_task(sim.wait_calls_done(3600))
    data = await _drain(reader, done)
    elapsed = time.perf_counter() - t0
    await sim.stop()
    events = data.count(b"Event: ")
    print(f"traffic: {calls} calls, {events} events, {len(data) / 1e6:.0f} MB in {elapsed:.1f} s")
    print(f"         {events / elapsed:,.0f} events/s, {len(data) / elapsed / 1e6:.0f} MB/s")


async def queuestatus(members: int) -> None:
    from acd.sim import SimConfig, Simulator
    from acd.sim.members import add_member

    sim = Simulator(SimConfig(port=0, speed=0, traffic=False))
    host, port = await sim.start()
    for i in range(members):
        add_member(sim.pbx, "support", f"Local/{20000 + i}@agents", f"Agent{i}", quiet=True)
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"Action: Login\r\nUsername: acd\r\nSecret: acdsecret\r\n\r\n")
    await asyncio.sleep(0.1)
    await reader.read(1 << 20)
    t0 = time.perf_counter()
    writer.write(b"Action: QueueStatus\r\nActionID: q\r\n\r\n")
    buf = bytearray()
    while b"QueueStatusComplete" not in buf[-400:]:
        buf += await reader.read(1 << 20)
    elapsed = time.perf_counter() - t0
    await sim.stop()
    print(f"QueueStatus: {members} members, {len(buf) / 1e6:.1f} MB in {elapsed * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--members", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(traffic(args.calls))
    asyncio.run(queuestatus(args.members))


if __name__ == "__main__":
    main()
