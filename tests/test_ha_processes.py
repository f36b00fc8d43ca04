"""An HA pair for one server, as processes: two `acd run` nodes, one `acd sim`, one PostgreSQL.

One run takes the pair through three faults in a row, each against whichever node leads then:

1. kill -9 of the leader (its session ends with it: the lock is free at once);
2. SIGSTOP of the leader for 30 s, then SIGCONT (PostgreSQL ends its silent session after
   ``idle_session_timeout``; on resuming it finds its lock gone and steps down);
3. the leader cut off from PostgreSQL by a black-hole proxy (neither end is told; PostgreSQL ends
   the session, the leader's heartbeats fail for 3 s and it steps down), then healed.

Each time the standby leads within 10 s, and the deposed node sends no AMI action (beyond keeping
its session up) after the other took over. Callers go through the shipped dialplan, which asks
the second node only when the first refuses. At the end every call of the simulator's truth is
one row, right: takeover gaps filled from queue_log, late writes of deposed nodes merged.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.cluster import Node, free_port, pg_rows, start_sim
from tests.pg_fixtures import PgServer
from tests.support.tcp_proxy import tcp_proxy
from tests.support.waiting import wait_until
from tests.truth_compare import tally

TAKEOVER_BOUND = 10.0  # seconds: what the README promises
SPEED = 8.0
CALLS = 200


def takeover(new: Node, fault_at: float) -> float:
    new.wait_role("leader", timeout=60)
    took = time.monotonic() - fault_at
    print(f"{new.name} leads {took:.1f} s after the fault")
    return took


@pytest.mark.slow
def test_three_faults_each_taken_over_within_ten_seconds_nothing_lost_or_doubled(
    tmp_path: Path, pg_server: PgServer, pg_url: str
) -> None:
    port1, port2 = free_port(), free_port()
    sim = start_sim(
        tmp_path / "sim", ["n1", "n2"], lookups=(port1, port2), calls=CALLS, speed=SPEED, seed=16,
        rate=30.0, agent_count=8,
    )  # fmt: skip
    with tcp_proxy(pg_server.host, pg_server.port) as proxy:
        proxied = pg_url.replace(f":{pg_server.port}/", f":{proxy.port}/", 1)
        n1 = Node("n1", tmp_path, sim, "n1", proxied, routing_port=port1, other_port=port2, speed=SPEED)
        n2 = Node("n2", tmp_path, sim, "n2", pg_url, routing_port=port2, other_port=port1, speed=SPEED)
        try:
            n1.start()
            n1.wait_role("leader")
            n2.start()
            n2.wait_role("standby")
            wait_until(lambda: len(sim.truth()) >= 15, 120, what="calls before the first fault")

            # 1. kill -9 of the leader.
            fault = time.monotonic()
            n1.stop(signal.SIGKILL)
            took = [takeover(n2, fault)]
            n1.start()  # back, as the standby; its journal's records are written
            n1.wait_role("standby")
            wait_until(lambda: len(sim.truth()) >= 55, 120, what="calls before the second fault")

            # 2. SIGSTOP of the leader for 30 s.
            fault = time.monotonic()
            n2.send(signal.SIGSTOP)
            took.append(takeover(n1, fault))
            deposed = time.time()
            stopped_for = 30.0 - (time.monotonic() - fault)
            time.sleep(max(0.0, stopped_for))  # the fault itself: the process stays stopped 30 s
            n2.send(signal.SIGCONT)
            n2.wait_role("standby", timeout=30)
            assert sim.acting("n2", after=deposed) == [], "a deposed node acted"
            assert n1.role() == "leader"
            wait_until(lambda: len(sim.truth()) >= 125, 120, what="calls before the third fault")

            # 3. The leader cut off from PostgreSQL.
            fault = time.monotonic()
            proxy.cut()
            took.append(takeover(n2, fault))
            deposed = time.time()
            n1.wait_role("standby", timeout=30)
            time.sleep(1.0)  # let any late action of the deposed node arrive (there must be none)
            assert sim.acting("n1", after=deposed) == [], "a node cut off from the database acted"
            proxy.heal()

            wait_until(sim.finished, 300, what="the simulator's last call")
            wait_until(
                lambda: len(pg_rows(pg_url, "SELECT id FROM calls")) >= len(sim.truth()),
                120,
                what="every call in the database",
            )
            time.sleep(2.0)  # the deposed node's journal, written late, doubles nothing
        finally:
            for node in (n1, n2):
                if node.proc is not None and node.proc.poll() is None:
                    node.send(signal.SIGCONT)
                    node.stop()
            sim.stop()

    print("takeovers (s):", [round(t, 1) for t in took])
    assert all(t <= TAKEOVER_BOUND for t in took), took
    truth = sim.truth()
    rows = {r["call_id"]: r for r in pg_rows(pg_url, "SELECT * FROM calls")}
    result = tally(truth, rows)
    print("HA run:", result.line)
    assert result.clean, "\n".join(result.lost + result.doubled + result.wrong)
    gaps = pg_rows(pg_url, "SELECT reason, queue_log, calls_recovered, calls_merged FROM gaps")
    takeovers = [g for g in gaps if g["reason"] == "takeover"]
    assert len(takeovers) == 3 and all(g["queue_log"] == "read" for g in takeovers), gaps
    (lease,) = pg_rows(pg_url, "SELECT * FROM servers")
    assert lease["takeovers"] == 3 and lease["leader"] is None, "both stopped cleanly: nobody leads"
