"""The issue's "done" run: the daemon on the simulator writes every call to PostgreSQL although the
database's postmaster is stopped by PID in the middle of the traffic and started again later.
Records wait in the journal and are written when it is back: zero rows lost, zero doubled, and
every row still matches the simulator's ground truth."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from acd.daemon import Daemon
from acd.sim import Simulator
from acd.store.database import make_engine
from tests.pg_fixtures import PgServer
from tests.test_e2e_daemon import compare, daemon_settings, sim_config


@pytest.mark.slow
@pytest.mark.postgres
async def test_ten_thousand_calls_across_a_postgres_restart(
    tmp_path: Path, owned_pg_server: PgServer, pg_url: str
) -> None:
    pg_server = owned_pg_server
    calls = 10_000
    sim = Simulator(sim_config(calls, seed=5))
    _host, port = await sim.start()
    base = daemon_settings(tmp_path, port, pg_url)
    settings = base.model_copy(update={"database": base.database.model_copy(update={"queue_size": 200})})
    daemon = Daemon(settings)
    await daemon.start()
    assert daemon.writer is not None
    spooled_peak = 0
    try:
        while len(sim.truth.records) < calls // 4:
            await asyncio.sleep(0.02)
        await asyncio.to_thread(pg_server.kill)
        down_at = time.monotonic()
        while time.monotonic() - down_at < 3.0:  # traffic goes on while the database is gone
            spooled_peak = max(spooled_peak, daemon.writer.stats().spooled)
            await asyncio.sleep(0.05)
        await asyncio.to_thread(pg_server.start)
        await sim.wait_calls_done(600)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not daemon.queue and not daemon.core.registry.entries:
                break
            await asyncio.sleep(0.1)
        assert await daemon.writer.drain(60)
    finally:
        await daemon.stop()
        await sim.stop()
    assert spooled_peak > 0, "the outage must have left records waiting in the journal"
    assert daemon.writer.stats().failures > 0
    engine = make_engine(pg_url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(sa.text("select * from calls"))
            rows = [dict(r) for r in result.mappings()]
    finally:
        await engine.dispose()
    truth = sim.truth.records
    assert len(truth) >= calls
    known = {t["id"] for t in truth}
    extra = [r for r in rows if r["call_id"] not in known]
    assert not extra, f"rows for no call of the truth: {extra[:3]}"
    assert len(rows) == len({r["call_id"] for r in rows}) == len(truth)
    assert compare(truth, {r["call_id"]: r for r in rows}) == []
    assert not list((tmp_path / "spool").glob("*.wal"))
