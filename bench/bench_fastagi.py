"""FastAGI answer latency under concurrent load (target: p99 <= 5 ms), and while the loop is blocked.

Run: .venv/bin/python bench/bench_fastagi.py [--agents 500] [--keys 20000] [--clients 8] [--calls 4000]
     [--rate 300]

What it does:
1. Builds a routing snapshot with ``--agents`` agents (shared + personal queue, mixed states) and
   ``--keys`` caller keys with a last answered call (a third of them cut off recently).
2. Serves FastAGI with the real service (decide + variables) from its own thread, and lets
   ``--clients`` processes play Asterisk over loopback: each connects, sends the captured request
   (tests/fixtures/ami/fastagi_request.txt) with a random caller, answers every SET VARIABLE with
   ``200 result=1`` and waits for the close. Latency = connect to close, seen by the client.
3. Runs paced (Poisson arrivals at ``--rate`` per second, far above a real center's call rate),
   then flat out (queueing: the server's single-thread throughput).
4. Repeats the paced run with a thread of the server's process spinning in Python (a daemon loop
   stuck in Python code holds the GIL between switches), with the switch interval start_routing
   sets (1 ms) and with Python's default (5 ms), to show what that costs the callers. (A loop
   blocked in I/O or ``time.sleep`` releases the GIL and costs nothing.)
Prints p50 / p90 / p99 / max and the decision mix. Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from collections import Counter
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from acd.core.affinity import AgentView, PastAnswer
from acd.core.effects import MemberState
from acd.routing import SWITCH_INTERVAL
from acd.routing.fastagi import FastAgiServer
from acd.routing.index import RoutingIndex
from acd.routing.service import RoutingService, fallback_variables
from acd.settings import Settings
from tests.fastagi_client import agi_dialogue, request_for

STATES: tuple[MemberState, ...] = ("available", "in_call", "in_call", "wrapup", "paused", "ringing")


def build_index(agents: int, keys: int, rng: random.Random) -> RoutingIndex:
    index = RoutingIndex(3600.0)
    now = time.time()
    for n in range(agents):
        agent = f"PJSIP/{1000 + n}"
        state = rng.choice(STATES)
        index.agents[agent] = AgentView(
            agent,
            f"Agent {n}",
            state,
            {"support": state, f"acd-agent-{1000 + n}": "paused" if state == "paused" else state},
            {"support": "lunch"} if state == "paused" else {},
        )
    for k in range(keys):
        agent = f"PJSIP/{1000 + rng.randrange(agents)}"
        index.answers[f"tel:{5_000_000 + k}"] = PastAnswer(
            f"{k}.1", agent, "Agent", now - rng.uniform(0, 7200), rng.random() < 0.33, "support"
        )
    return index


def _client(job: tuple[int, int, int, int, float]) -> tuple[list[float], Counter[str]]:
    port, seed, count, keys, gap = job
    rng = random.Random(seed)
    mine = []
    mix: Counter[str] = Counter()
    next_at = time.monotonic() + rng.uniform(0, gap)
    for i in range(count):
        if gap:
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at += rng.expovariate(1.0 / gap)  # Poisson arrivals
        caller = str(5_000_000 + rng.randrange(keys * 2))  # half of them unknown
        d = agi_dialogue(port, request_for(callerid=caller, uniqueid=f"{seed}.{i}"))
        mine.append(d.elapsed)
        mix[d.variables.get("ACD_REASON", "?")] += 1
    return mine, mix


def run(
    pool: Pool, port: int, clients: int, calls: int, keys: int, rate: float = 0.0
) -> tuple[list[float], Counter[str]]:
    """``clients`` processes (Asterisk is another process: no GIL shared with the server) in parallel,
    flat out, or at ``rate`` dialogues per second in all."""
    latencies: list[float] = []
    routes: Counter[str] = Counter()
    gap = clients / rate if rate else 0.0
    jobs = [(port, seed, calls // clients, keys, gap) for seed in range(clients)]
    for mine, mix in pool.map(_client, jobs):
        latencies.extend(mine)
        routes.update(mix)
    return latencies, routes


def hogged(pool: Pool, server: FastAgiServer, args: argparse.Namespace, interval: float) -> None:
    """The paced run while a thread spins in Python, with the GIL switch interval ``interval``."""
    stop = threading.Event()

    def hog() -> None:  # the daemon's loop stuck in Python code: holds the GIL between switches
        x = 0
        while not stop.is_set():
            x += 1

    before = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    hogger = threading.Thread(target=hog)
    hogger.start()
    try:
        server.stats.latencies.clear()
        started = time.perf_counter()
        latencies, _ = run(pool, server.port, args.clients, args.calls // 4, args.keys, args.rate)
        wall = time.perf_counter() - started
        title = f"with a thread holding the GIL, switch interval {interval * 1000:.0f} ms, client side"
        report(title, latencies, wall)
        report("  server side", list(server.stats.latencies), wall)
    finally:
        stop.set()
        hogger.join()
        sys.setswitchinterval(before)


def report(title: str, latencies: list[float], wall: float) -> None:
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100)
    print(
        f"{title}: {len(ms)} dialogues in {wall:.2f} s ({len(ms) / wall:.0f}/s): "
        f"p50 {q[49]:.2f} ms  p90 {q[89]:.2f} ms  p99 {q[98]:.2f} ms  max {ms[-1]:.2f} ms"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=500)
    p.add_argument("--keys", type=int, default=20000)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--calls", type=int, default=4000)
    p.add_argument("--rate", type=float, default=300.0, help="offered dialogues/s in the paced run")
    args = p.parse_args()
    rng = random.Random(7)
    index = build_index(args.agents, args.keys, rng)
    service = RoutingService(Settings(), index)
    server = FastAgiServer("127.0.0.1", 0, 500, service.answer, fallback_variables)
    server.start()
    try:
        with Pool(args.clients) as pool:
            run(pool, server.port, args.clients, 400, args.keys)  # warm up
            server.stats.latencies.clear()
            started = time.perf_counter()
            latencies, _ = run(pool, server.port, args.clients, args.calls // 2, args.keys, args.rate)
            wall = time.perf_counter() - started
            report(f"{args.clients} client processes, {args.rate:.0f}/s offered (Poisson)", latencies, wall)
            report("  server side (accept to close)", list(server.stats.latencies), wall)
            server.stats.latencies.clear()
            started = time.perf_counter()
            latencies, mix = run(pool, server.port, args.clients, args.calls, args.keys)
            report(
                f"{args.clients} client processes flat out, client side",
                latencies,
                time.perf_counter() - started,
            )
            report(
                "  server side (accept to close)", list(server.stats.latencies), time.perf_counter() - started
            )
            print("  decisions:", dict(mix.most_common()))

            for interval in (SWITCH_INTERVAL, 0.005):
                hogged(pool, server, args, interval)
        st = server.stats
        print(f"server: answered {st.answered}, late {st.late}, failed {st.failed}, cut short {st.cut_short}")
    finally:
        server.close()


if __name__ == "__main__":
    main()
