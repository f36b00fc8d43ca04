"""The daemon fills an AMI gap from the simulator's queue_log: every call of the run is stored once
and right (what queue_log cannot tell counted as unknown), the calls that ended while acd could not
see them included. The daemon and the simulator run in one process on real sockets, with SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

from acd.daemon import Daemon
from acd.sim import SimConfig, Simulator
from tests.support.credentials import login
from tests.test_e2e_daemon import daemon_settings
from tests.truth_compare import tally


def rows(db: Path, table: str = "calls") -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(f"select * from {table}")]
    finally:
        conn.close()


async def test_an_ami_gap_is_filled_from_queue_log(tmp_path: Path) -> None:
    qlog = tmp_path / "queue_log"
    sim = Simulator(
        SimConfig(
            port=0, speed=40.0, seed=21, max_calls=90, start_epoch=1.8e9, hold_until_login=True,
            rate_per_min=30.0, agents=6, cutoff_share=0.15, callback_share=0.8, repeat_share=0.2,
            talk_mean=60.0, patience_mean=60.0, queue_log=qlog, **login(),
        )
    )  # fmt: skip
    _host, port = await sim.start()
    settings = daemon_settings(tmp_path, port, queue_log={"path": str(qlog)}, speed=40.0)
    settings = settings.model_copy(
        update={"ami": settings.ami.model_copy(update={"reconnect_min": 2.0, "reconnect_max": 2.0})}
    )
    daemon = Daemon(settings)
    await daemon.start()
    try:
        while len(sim.truth.records) < 15:
            await asyncio.sleep(0.05)
        sim.drop_connections()  # acd is blind for 2 s of wall time: 80 s of the call center
        while daemon.ami.connected:
            await asyncio.sleep(0.01)
        while not daemon.ami.connected:
            await asyncio.sleep(0.05)
        await sim.wait_calls_done(120)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (daemon.queue or daemon.core.registry.entries):
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        assert await daemon.writer.drain(30)
    finally:
        await daemon.stop()
        await sim.stop()
    stored = {r["call_id"]: r for r in rows(tmp_path / "acd.db")}
    result = tally(sim.truth.records, stored)
    print("AMI gap:", result.line)
    assert result.clean, "\n".join(result.lost + result.doubled + result.wrong)
    gaps = [g for g in rows(tmp_path / "acd.db", "gaps") if g["reason"] == "ami_disconnect"]
    assert gaps and gaps[0]["queue_log"] == "read"
    assert gaps[0]["calls_recovered"] + gaps[0]["calls_merged"] > 0, "the gap must have held calls"
    assert result.sources.get("queue_log", 0) + result.sources.get("merged", 0) > 0
