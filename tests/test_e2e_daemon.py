"""The whole daemon against the simulator over real sockets, with a real database.

The simulator is Asterisk's stand-in (it shares only the wire codec with acd); its ground truth is
what each call really was. The daemon reads AMI, runs the core, writes rows through its writer;
the rows must match the truth: one row per queue entry, same outcome, agent, who ended it, cut-off,
callback and repeat links, wait and talk within one second.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from acd.daemon import Daemon
from acd.settings import Settings
from acd.sim import SimConfig, Simulator
from tests.support.credentials import login
from tests.support.simulated import fast_center

FIELDS = ("outcome", "ended_by", "cut_off", "callback_of", "repeat_of")


def daemon_settings(tmp_path: Path, port: int, db_url: str | None = None, **extra: Any) -> Settings:
    extra.setdefault("routing", {"host": "127.0.0.1", "port": 0})
    # Its own queue_log (none there unless the test's simulator writes one), never the machine's.
    extra.setdefault("queue_log", {"path": str(tmp_path / "queue_log")})
    return Settings(
        ami={
            "host": "127.0.0.1",
            "port": port,
            **login(),  # type: ignore[dict-item]
            "reconnect_min": 0.1,
            "reconnect_max": 0.5,
        },
        database={
            "url": db_url or f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}",  # type: ignore[arg-type]
            "spool_dir": str(tmp_path / "spool"),
        },
        http={"host": "127.0.0.1", "port": 0},  # type: ignore[arg-type]
        **extra,
    )


def sim_config(calls: int, seed: int = 11, **extra: Any) -> SimConfig:
    return fast_center(seed=seed, max_calls=calls, rate_per_min=4.0, agents=6, **extra)


async def run_center(
    tmp_path: Path, calls: int, db_url: str | None = None, seed: int = 11
) -> tuple[list[dict[str, Any]], Daemon]:
    sim = Simulator(sim_config(calls, seed))
    _host, port = await sim.start()
    daemon = Daemon(daemon_settings(tmp_path, port, db_url))
    await daemon.start()
    try:
        await sim.wait_calls_done(600)
        # Let the consumer drain and the last decisions settle (they run on event time, and the
        # daemon's clock keeps running at wall speed once the simulator falls silent).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not daemon.queue and not daemon.core.registry.entries:
                break
            await asyncio.sleep(0.1)
        # The simulator ran in this process as fast as it could: the writer had a share of one
        # core. Let it finish before the graceful stop's bounded flush.
        if daemon.writer is not None:
            await daemon.writer.drain(120)
    finally:
        await daemon.stop()
        await sim.stop()
    return sim.truth.records, daemon


def sqlite_rows(path: Path) -> dict[str, dict[str, Any]]:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    rows = {r["call_id"]: dict(r) for r in db.execute("select * from calls")}
    db.close()
    return rows


def compare(truth: list[dict[str, Any]], rows: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    for t in truth:
        r = rows.get(t["id"])
        if r is None:
            problems.append(f"{t['id']}: no row")
            continue
        for key in FIELDS:
            got = bool(r[key]) if key == "cut_off" else r[key]
            if got != t[key]:
                problems.append(f"{t['id']}: {key} {got!r} != truth {t[key]!r}")
        if t["agent"] != r["agent_name"]:
            problems.append(f"{t['id']}: agent {r['agent_name']!r} != truth {t['agent']!r}")
        for key in ("wait_seconds", "talk_seconds"):
            if abs(t[key] - r[key]) > 1.0:
                problems.append(f"{t['id']}: {key} {r[key]} != truth {t[key]}")
    extra = set(rows) - {t["id"] for t in truth}
    problems += [f"{i}: row not in truth" for i in sorted(extra)]
    return problems


async def test_daemon_rows_match_simulator_truth(tmp_path: Path) -> None:
    truth, daemon = await run_center(tmp_path, 250)
    rows = sqlite_rows(tmp_path / "acd.db")
    assert len(truth) >= 250
    assert compare(truth, rows) == []
    assert sum(1 for t in truth if t["cut_off"]) > 5, "the run must exercise cut-offs"
    assert sum(1 for t in truth if t["callback_of"]) > 2, "and callbacks"
    assert daemon.stats.handler_errors == 0
    assert not list((tmp_path / "spool").glob("*.wal")), "the journal is empty once the database has it all"
    # The write metrics move with the real writes: every stored row counted, one sample per batch.
    registry = daemon.metrics.registry
    written = daemon.writer.stats()
    assert registry.get_sample_value("acd_db_rows_written_total") == written.written > 0
    assert registry.get_sample_value("acd_db_write_seconds_count") == written.writes > 0


async def test_metrics_and_health_served_while_running(tmp_path: Path) -> None:
    import aiohttp

    sim = Simulator(sim_config(40))
    _host, port = await sim.start()
    daemon = Daemon(daemon_settings(tmp_path, port))
    await daemon.start()
    try:
        await sim.wait_calls_done(120)
        await asyncio.sleep(0.5)
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{daemon.http_port}"
            async with http.get(base + "/metrics") as resp:
                text = await resp.text()
            async with http.get(base + "/healthz") as resp:
                health = json.loads(await resp.text())
    finally:
        await daemon.stop()
        await sim.stop()
    assert "acd_calls_offered_total" in text and 'acd_ami_up{role="leader",server="asterisk"} 1.0' in text
    assert health["ami_connected"] is True and health["events"] > 500


@pytest.mark.slow
async def test_ten_thousand_calls_sqlite(tmp_path: Path) -> None:
    truth, _ = await run_center(tmp_path, 10_000, seed=3)
    rows = sqlite_rows(tmp_path / "acd.db")
    assert len(truth) >= 10_000
    assert compare(truth, rows) == []


@pytest.mark.slow
@pytest.mark.postgres
async def test_ten_thousand_calls_postgresql(tmp_path: Path, pg_url: str) -> None:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    url = pg_url
    truth, _ = await run_center(tmp_path, 10_000, db_url=url, seed=4)
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        result = await conn.execute(sa.text("select * from calls"))
        rows = {r["call_id"]: dict(r) for r in result.mappings()}
    await engine.dispose()
    assert len(truth) >= 10_000
    assert compare(truth, rows) == []


async def test_restart_between_cut_off_and_callback_changes_nothing(tmp_path: Path) -> None:
    """The caller history is seeded from the database at start: a callback is still a callback."""
    sim = Simulator(
        SimConfig(port=0, speed=float("inf"), traffic=False, seed=1, start_epoch=1.8e9, **login())
    )
    _host, port = await sim.start()
    sim.add_agent("support", "1001", "Alice", answer_after=1.0)
    first = Daemon(daemon_settings(tmp_path, port))
    await first.start()
    try:
        while first.stats.resyncs == 0:
            await asyncio.sleep(0.02)
        sim.place_call("5551234", "support", patience=None, talk=30.0, ending="caller_cut", cause=41)
        await sim.wait_calls_done(60)
        while first.stats.calls_finished < 1:
            await asyncio.sleep(0.02)
    finally:
        await first.stop()
    second = Daemon(daemon_settings(tmp_path, port))
    await second.start()
    try:
        while second.stats.resyncs == 0:
            await asyncio.sleep(0.02)
        sim.place_call("5551234", "support", patience=None, talk=10.0)
        await sim.wait_calls_done(60)
        while second.stats.calls_finished < 1:
            await asyncio.sleep(0.02)
    finally:
        await second.stop()
        await sim.stop()
    rows = sorted(sqlite_rows(tmp_path / "acd.db").values(), key=lambda r: r["joined_at"])
    assert len(rows) == 2
    assert rows[0]["cut_off"] and rows[0]["agent_name"] == "Alice"
    assert rows[1]["callback_of"] == rows[0]["call_id"]
