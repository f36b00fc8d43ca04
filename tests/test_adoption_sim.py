"""acd started while calls are in progress: the calls it adopts in its first resync are recorded
right. The simulator runs a small center in simulated time; the daemon attaches part-way through
(as `acd sim --speed 10 --rate 12` then `acd run` 20 s later), runs to the end, and every stored
call is compared with the simulator's truth: the adopted ones (``partial``) with their wait within
1 s where Asterisk told it (a waiting caller's ``Wait``, the final ``AgentComplete``'s ``HoldTime``)
and null otherwise, never the channel's age; who ended it exactly; and the list and detail views of
the API give the same values.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from acd.daemon import Daemon
from acd.reads.calls import customer_call, list_calls
from acd.sim import SimConfig, Simulator
from tests.support.credentials import login
from tests.test_e2e_daemon import daemon_settings

SPEED = 10.0


def rows(path: Path, table: str) -> dict[str, dict[str, Any]]:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    key = "call_id" if table == "calls" else "linkedid"
    found = {r[key]: dict(r) for r in db.execute(f"select * from {table}")}
    db.close()
    return found


@pytest.mark.slow
async def test_calls_in_progress_when_acd_starts_are_recorded_right(tmp_path: Path) -> None:
    sim = Simulator(
        SimConfig(
            port=0, speed=SPEED, seed=1, rate_per_min=12.0, max_calls=90, start_epoch=1.8e9, agents=6,
            talk_mean=60.0, patience_mean=120.0, cutoff_share=0.1, callback_share=0.5, **login(),
        )
    )  # fmt: skip
    _host, port = await sim.start()
    settings = daemon_settings(tmp_path, port, speed=SPEED)
    try:
        await asyncio.sleep(2.0)  # 20 simulated seconds at 10x: calls are under way
        daemon = Daemon(settings)
        await daemon.start()
        try:
            while daemon.stats.resyncs == 0:
                await asyncio.sleep(0.05)
            await sim.wait_calls_done(600)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and (daemon.queue or daemon.core.registry.entries):
                await asyncio.sleep(0.1)
            await asyncio.sleep(2.0)  # the last hang-ups settle the last customer calls
            assert daemon.writer is not None and await daemon.writer.drain(60)
            async with daemon.engine.connect() as conn:
                listed = {c["call_id"]: c for c in await list_calls(conn, settings.server_id, agent=None,
                                                                     queue=None, since=None, until=None,
                                                                     limit=1000)}  # fmt: skip
                detailed = {
                    linkedid: await customer_call(conn, settings.server_id, linkedid, reader_agent=None,
                                                  supervisor=True)
                    for linkedid in listed
                }  # fmt: skip
        finally:
            await daemon.stop()
    finally:
        await sim.stop()
    truth = {t["id"]: t for t in sim.truth.records}
    stored = rows(tmp_path / "acd.db", "calls")
    adopted = [r for r in stored.values() if r["partial"]]
    assert len(adopted) >= 3, "acd must have attached while calls were under way"
    problems: list[str] = []
    for call_id, row in stored.items():
        t = truth.get(call_id)
        if t is None:
            problems.append(f"{call_id}: no such call in the simulator")
            continue
        for key in ("outcome", "ended_by", "cut_off"):
            got = bool(row[key]) if key == "cut_off" else row[key]
            if got != t[key]:
                problems.append(f"{call_id}: {key} {got!r} != truth {t[key]!r} (partial={row['partial']})")
        if (row["agent_name"] or None) != t["agent"]:
            problems.append(f"{call_id}: agent {row['agent_name']!r} != truth {t['agent']!r}")
        wait = row["leg_wait"]
        if wait is not None and abs(wait - t["wait_seconds"]) > 1.0:
            problems.append(f"{call_id}: wait {wait} != truth {t['wait_seconds']} (partial={row['partial']})")
        if wait is None and not row["partial"]:
            problems.append(f"{call_id}: no wait for a call acd saw whole")
    assert problems == [], problems
    # The list and the detail give the same values for every call.
    for linkedid, item in listed.items():
        detail = detailed[linkedid]
        assert detail is not None
        for key in ("wait_seconds", "outcome", "agent", "talk_seconds", "cut_off", "queue", "ended_by"):
            assert item[key] == detail[key], (linkedid, key, item[key], detail[key])
    # Every adopted call here ended with an AgentComplete (or its caller was waiting, with a Wait):
    # Asterisk told each wait, so none may be unknown (the unknown case is a core test).
    assert [r["call_id"] for r in adopted if r["leg_wait"] is None] == []
    assert any(r["outcome"] == "answered" and r["answered_at"] is not None for r in adopted)
