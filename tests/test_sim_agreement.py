"""The daemon's replay of what the simulator sent agrees with the simulator's own truth.

This is the end-to-end check the simulator exists for: a seeded run is recorded byte for byte as
a client received it, replayed offline through acd's core (``acd replay``'s code), and every call
record is compared with the truth file: outcome, agent, who ended it, cut-off and cause, callback
and repeat links, wait and talk within one second.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from acd.capture.replay import replay_file, summarize
from acd.sim import Simulator
from tests.support.simulated import fast_center

FIELDS = ("queue", "caller", "agent", "outcome", "ended_by", "cut_off", "cause", "callback_of", "repeat_of")


async def _record(tmp_path: Path, calls: int) -> tuple[Path, Path]:
    truth = tmp_path / "truth.jsonl"
    capture = tmp_path / "sim.ami.log"
    cfg = fast_center(seed=5, truth=truth, max_calls=calls, rate_per_min=3.0)
    sim = Simulator(cfg)
    host, port = await sim.start()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"Action: Login\r\nActionID: 1\r\nUsername: acd\r\nSecret: acdsecret\r\n\r\n")
    buf = bytearray()
    done = asyncio.create_task(sim.wait_calls_done(300))
    try:
        while True:
            try:
                data = await asyncio.wait_for(reader.read(1 << 20), 0.05 if not done.done() else 0.3)
            except TimeoutError:
                if done.done():
                    break
                continue
            if not data:
                break
            buf += data
        await done
    finally:
        writer.close()
        await sim.stop()
    capture.write_bytes(bytes(buf))
    return capture, truth


@pytest.mark.slow
async def test_replay_of_simulated_traffic_matches_truth(tmp_path: Path) -> None:
    capture, truth_path = await _record(tmp_path, 1500)
    truth = {r["id"]: r for r in map(json.loads, truth_path.read_text().splitlines())}
    doc = summarize(replay_file(capture))
    calls = {c["id"]: c for c in doc["calls"]}
    assert doc["anomalies"] == 0
    assert set(calls) == set(truth)
    wrong = []
    for cid, t in truth.items():
        c = calls[cid]
        for k in FIELDS:
            if t[k] != c[k]:
                wrong.append((cid, k, t[k], c[k]))
        for k in ("wait_seconds", "talk_seconds"):
            if abs(t[k] - c[k]) > 1.0:
                wrong.append((cid, k, t[k], c[k]))
    assert not wrong, wrong[:10]
    kinds = {(t["outcome"], t["ended_by"], t["cut_off"]) for t in truth.values()}
    assert ("answered", "agent", True) in kinds and ("answered", "caller", True) in kinds
    assert any(t["callback_of"] for t in truth.values()) and any(t["repeat_of"] for t in truth.values())
