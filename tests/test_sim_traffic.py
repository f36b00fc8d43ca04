"""Simulated traffic: reproducible with a seed, and its truth file says what really happened."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from acd.sim import SimConfig, Simulator, members
from acd.sim.truth import TRUTH_KEYS
from tests.sim_helpers import AmiClient, get, is_event


async def _run(
    tmp_path: Path, name: str, calls: int, seed: int = 11, **kw: object
) -> tuple[list[dict[str, object]], AmiClient | None]:
    truth = tmp_path / f"{name}.jsonl"
    cfg = SimConfig(
        port=0,
        speed=float("inf"),
        seed=seed,
        truth=truth,
        max_calls=calls,
        start_epoch=1.8e9,
        hold_until_login=True,
        **kw,  # type: ignore[arg-type]
    )
    sim = Simulator(cfg)
    host, port = await sim.start()
    cli = None
    try:
        cli = await AmiClient.connect(host, port)
        await cli.login()
        done = asyncio.create_task(sim.wait_calls_done(60))
        while not done.done():
            await cli.read_for(0.05)
        await done
        await cli.read_for(0.2)
    finally:
        await sim.stop()
    return [json.loads(line) for line in truth.read_text().splitlines()], cli


async def test_seed_makes_a_run_reproducible(tmp_path: Path) -> None:
    a, _ = await _run(tmp_path, "a", 60)
    b, _ = await _run(tmp_path, "b", 60)
    c, _ = await _run(tmp_path, "c", 60, seed=12)
    assert a == b
    assert a != c


async def test_truth_records_and_event_stream_agree(tmp_path: Path) -> None:
    recs, cli = await _run(
        tmp_path, "t", 300, rate_per_min=3.0, agents=6, cutoff_share=0.3, callback_share=0.9, repeat_share=0.3
    )
    assert cli is not None
    assert len(recs) >= 300
    for r in recs:
        assert tuple(r) == TRUTH_KEYS
        assert r["outcome"] in ("answered", "abandoned", "exited")
        if r["outcome"] == "answered":
            assert r["agent"] and r["interface"] and r["talk_seconds"] > 0
        else:
            assert r["agent"] is None and r["talk_seconds"] == 0
        if r["cut_off"]:
            assert r["outcome"] == "answered" and r["cause"] not in (16, 17, 19, 21)
    by_id = {r["id"]: r for r in recs}
    callbacks = [r for r in recs if r["callback_of"]]
    assert callbacks, "cut-off callers call back"
    for r in callbacks:
        first = by_id[r["callback_of"]]
        assert first["cut_off"] and first["caller"] == r["caller"]
        assert r["joined_at"] - first["joined_at"] <= 3600 + first["wait_seconds"] + first["talk_seconds"]
    repeats = [r for r in recs if r["repeat_of"]]
    assert repeats and all(by_id[r["repeat_of"]]["caller"] == r["caller"] for r in repeats)
    assert {r["ended_by"] for r in recs if r["outcome"] == "answered"} >= {"caller", "agent", "transfer"}

    # The wire agrees: every abandon is of a caller never connected; cut-off causes reach Hangup.
    connected: set[str] = set()
    abandoned: set[str] = set()
    for p in cli.messages:
        if not is_event(p):
            continue
        ev = get(p, "Event")
        if ev == "AgentConnect":
            connected.add(get(p, "Uniqueid"))
        elif ev == "QueueCallerAbandon":
            assert get(p, "Uniqueid") not in connected, "abandon after the caller was answered"
            abandoned.add(get(p, "Uniqueid"))
    assert abandoned == {r["id"] for r in recs if r["outcome"] == "abandoned"}
    answered = {r["id"] for r in recs if r["outcome"] == "answered"}
    assert answered == connected
    hang_causes = {get(p, "Cause") for p in cli.messages if get(p, "Event") == "Hangup"}
    assert {str(r["cause"]) for r in recs if r["cut_off"]} <= hang_causes


@pytest.mark.slow
async def test_large_queuestatus_answer(tmp_path: Path) -> None:
    sim = Simulator(SimConfig(port=0, speed=0, traffic=False, start_epoch=1.8e9))
    host, port = await sim.start()
    try:
        for i in range(10_000):
            members.add_member(sim.pbx, "support", f"Local/{20000 + i}@agents", f"Agent{i}", quiet=True)
        cli = await AmiClient.connect(host, port)
        await cli.login()
        await cli.action("QueueStatus", Queue="support")
        for _ in range(50):
            if cli.events("QueueStatusComplete"):
                break
            await cli.read_for(0.1)
        done = cli.events("QueueStatusComplete")
        assert done and get(done[0], "ListItems") == "10001"
        assert len(cli.events("QueueMember")) == 10_000
        await cli.close()
    finally:
        await sim.stop()


async def test_speed_stamps_events_in_simulated_time() -> None:
    """--speed compresses time: Timestamp headers advance speed times faster than the wall."""
    sim = Simulator(SimConfig(port=0, speed=200.0, seed=3, rate_per_min=30.0, start_epoch=1.8e9))
    host, port = await sim.start()
    try:
        cli = await AmiClient.connect(host, port)
        await cli.login()
        t0 = asyncio.get_running_loop().time()
        await cli.read_for(1.0)
        wall = asyncio.get_running_loop().time() - t0
        stamps = [float(get(p, "Timestamp")) for p in cli.messages if is_event(p) and get(p, "Timestamp")]
        assert stamps and stamps == sorted(stamps)
        span = stamps[-1] - 1.8e9
        assert 0.5 * 200 * wall < span < 1.5 * 200 * wall + 5
        await cli.close()
    finally:
        await sim.stop()
