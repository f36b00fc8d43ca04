"""Live numbers tell the truth: while acd is out of step with Asterisk (AMI down, or reconnected and
not yet resynced, or Asterisk shutting down) callers waiting, longest wait and agents by state are
absent from /metrics, not frozen at their last values; they come back with the resync."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from acd.core.callcenter import Core
from acd.daemon import Daemon
from acd.metrics import Metrics
from acd.settings import Settings
from acd.sim import SimConfig, Simulator
from tests.support.credentials import login
from tests.support.synthetic import synthetic_snapshot
from tests.test_e2e_daemon import daemon_settings

LIVE = {"acd_queue_callers_waiting", "acd_queue_longest_wait_seconds", "acd_queue_agents", "acd_agents"}

MEMBER = {
    "Event": "QueueMember",
    "Queue": "support",
    "Name": "Alice",
    "Location": "Local/1001@agents",
    "StateInterface": "Local/1001@agents",
    "Status": "1",
    "Paused": "0",
}


def resync(core: Core, now: float) -> None:
    core.begin_resync(now)
    core.apply(MEMBER, now)
    core.apply({"Event": "QueueStatusComplete"}, now)
    core.apply({"Event": "CoreShowChannelsComplete"}, now)


def test_the_core_says_when_its_picture_is_in_step() -> None:
    core = Core()
    assert not core.live(1.0).in_sync  # nothing known before the first resync
    resync(core, 2.0)
    assert core.live(3.0).in_sync and core.live(3.0).agents
    core.disconnected(4.0)
    assert not core.live(5.0).in_sync
    resync(core, 6.0)
    assert core.live(7.0).in_sync
    core.apply({"Event": "Shutdown", "Shutdown": "Cleanly", "Restart": "True"}, 8.0)
    assert not core.live(9.0).in_sync


def families(m: Metrics) -> set[str]:
    return {f.name for f in text_string_to_metric_families(m.render(m.live.take()).decode())}


def test_live_families_are_absent_while_out_of_step() -> None:
    snap = synthetic_snapshot(agents=10, queues=2)
    current = [snap]
    m = Metrics(Settings(metrics_per_agent=True), live=lambda: current[0])
    assert families(m) >= LIVE | {"acd_agent_state"}
    from dataclasses import replace

    current[0] = replace(snap, in_sync=False)
    assert not families(m) & (LIVE | {"acd_agent_state"})
    assert "acd_live_snapshot_errors" in families(m)


async def scrape(port: int | None) -> set[str]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        return {f.name for f in text_string_to_metric_families(await resp.text())}


async def test_a_dead_pbx_does_not_look_busy(tmp_path: Path) -> None:
    sim = Simulator(
        SimConfig(port=0, speed=float("inf"), traffic=False, seed=1, start_epoch=1.8e9, **login())
    )
    _host, port = await sim.start()
    sim.add_agent("support", "1001", "Alice", paused=True, reason="lunch")
    daemon = Daemon(daemon_settings(tmp_path, port))
    await daemon.start()
    try:
        while daemon.stats.resyncs == 0 or daemon.core.resync is not None:
            await asyncio.sleep(0.02)
        sim.place_call("5551234", "support", patience=None, talk=30.0)
        while not daemon.core.registry.entries:
            await asyncio.sleep(0.02)
        assert await scrape(daemon.http_port) >= LIVE
        restart = asyncio.create_task(sim.restart(down_seconds=1.5))
        while daemon.ami.connected or daemon.core.synced:
            await asyncio.sleep(0.02)
        absent = await scrape(daemon.http_port)
        assert not absent & LIVE, "AMI is down: nothing live may be exported"
        await restart
        deadline = time.monotonic() + 30
        while not await scrape(daemon.http_port) >= LIVE:
            assert time.monotonic() < deadline, "the live families never came back after the resync"
            await asyncio.sleep(0.1)
        assert daemon.core.synced
    finally:
        await daemon.stop()
        await sim.stop()
