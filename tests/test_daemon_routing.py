"""The daemon around routing, against the simulator: a center without personal queues gets no
mirroring (and one warning), a Reload makes acd read the queues again, events without Asterisk's
Timestamp are reported once and exported as acd_ami_timestamps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from acd.daemon import Daemon
from acd.sim import SimConfig, Simulator
from acd.sim.emit import event
from tests.sim_helpers import AmiClient, drive, get
from tests.support.credentials import login
from tests.support.logs import Captured, captured_logs
from tests.test_e2e_daemon import daemon_settings

SHARED_ONLY = """
[general]
shared_lastcall = yes

[support]
strategy = rrmemory
timeout = 15
ringinuse = no
"""


class Run:
    def __init__(self, sim: Simulator, cli: AmiClient, daemon: Daemon) -> None:
        self.sim, self.cli, self.daemon = sim, cli, daemon

    async def until(self, check: Any, seconds: float = 5.0) -> bool:
        for _ in range(int(seconds / 0.05)):
            if check():
                return True
            await drive(self.sim, self.cli, 0.05)
        return bool(check())


async def start(tmp_path: Path, queues: str, **sim: Any) -> Run:
    (tmp_path / "queues.conf").write_text(queues)
    simulator = Simulator(
        SimConfig(
            port=0, speed=0, traffic=False, queues_conf=tmp_path / "queues.conf", seed=4, **login(), **sim
        )
    )
    _host, port = await simulator.start()
    cli = await AmiClient.connect("127.0.0.1", port)
    await cli.login()
    daemon = Daemon(daemon_settings(tmp_path, port))
    await daemon.start()
    run = Run(simulator, cli, daemon)
    assert await run.until(lambda: daemon.stats.resyncs >= 1 and not daemon.queue)
    return run


@pytest.fixture
def logs() -> Iterator[Captured]:
    with captured_logs("info") as captured:
        yield captured


async def stop(run: Run) -> None:
    await run.daemon.stop()
    await run.cli.close()
    await run.sim.stop()


async def test_no_personal_queues_no_actions_one_warning(tmp_path: Path, logs: Captured) -> None:
    run = await start(tmp_path, SHARED_ONLY)
    try:
        run.sim.add_agent("support", "1001", "Alice", answer_after=1.0)
        run.sim.add_agent("support", "1002", "Bob", answer_after=1.0)
        await run.until(lambda: len(run.daemon.core.registry.members) == 2)
        await run.cli.action("QueuePause", Interface="Local/1001@agents", Paused="true", Reason="lunch")
        await run.until(lambda: False, 1.0)
        assert run.daemon.routing is not None
        assert run.daemon.routing.edge.actions_failed == 0  # no "No such queue" answers
        warned = [e for e in logs.records() if e["event"] == "personal_queue_missing"]
        assert len(warned) == 1 and warned[0]["agents"] == ["Local/1001@agents"]  # Bob came after
    finally:
        await stop(run)


async def test_reload_reads_the_queues_again(tmp_path: Path) -> None:
    run = await start(tmp_path, SHARED_ONLY)
    try:
        resyncs = run.daemon.stats.resyncs
        run.sim.broadcast(
            [event("Reload", "system", [("Module", "app_queue.so"), ("Status", "2")], run.sim.ts())]
        )
        assert await run.until(lambda: run.daemon.stats.resyncs > resyncs)
        other = run.daemon.stats.resyncs
        run.sim.broadcast(
            [event("Reload", "system", [("Module", "res_pjsip.so"), ("Status", "2")], run.sim.ts())]
        )
        await run.until(lambda: False, 0.5)
        assert run.daemon.stats.resyncs == other  # another module's reload changes no queue
    finally:
        await stop(run)


@pytest.mark.parametrize("timestamps", [False, True])
async def test_whether_events_carry_timestamps_is_reported(
    tmp_path: Path, logs: Captured, timestamps: bool
) -> None:
    run = await start(tmp_path, SHARED_ONLY, timestampevents=timestamps)
    try:
        run.sim.add_agent("support", "1001", "Alice", answer_after=1.0)
        await run.until(lambda: bool(run.daemon.core.registry.members))
        assert run.daemon.metrics.registry.get_sample_value("acd_ami_timestamps") == int(timestamps)
        warned = [e["event"] for e in logs.records()].count("ami_timestamps_off")
        assert warned == (0 if timestamps else 1)
        if timestamps:
            assert get(run.cli.events("QueueMemberAdded")[0], "Queue") == "support"
    finally:
        await stop(run)
