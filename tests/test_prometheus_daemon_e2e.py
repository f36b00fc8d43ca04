"""The real thing: a real Prometheus scrapes the daemon while it runs against the simulator.

The simulator runs a busy center at 20x (cut-offs, callbacks, repeats); the daemon reads it over
AMI, writes SQLite, serves /metrics with per-agent series on; reps post outcomes through the HTTP
API as a CRM would. Prometheus (Debian's package) scrapes every second with acd-rules.yml loaded.
Then every query of every dashboard panel must return series with the labels its legend names and
plausible values, every alert rule must evaluate, and a real fault (the simulator's AMI going
away) must make AcdAmiDown fire.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from acd.daemon import Daemon
from acd.settings import Settings
from acd.sim import SimConfig, Simulator
from tests.support import prometheus as prom
from tests.support.credentials import login
from tests.support.ports import free_port
from tests.support.simulated import fast_center
from tests.support.waiting import eventually

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.skipif(
        prom.PROMETHEUS is None, reason="prometheus not installed (apt-get install prometheus)"
    ),
    pytest.mark.timeout(420),  # its waits are bounded: traffic 180 s, panels 90 s, the alert 30 s
]
TOKEN = "e2e-supervisor-token"


def settings_for(tmp_path: Path, port: int, speed: float = 20.0) -> Settings:
    return Settings(
        ami={"port": port, "reconnect_min": 0.2, "reconnect_max": 0.5, **login()},  # type: ignore[arg-type]
        database={
            "url": f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}",  # type: ignore[arg-type]
            "spool_dir": str(tmp_path / "spool"),
        },
        http={"port": 0},  # type: ignore[arg-type]
        routing={"port": 0},  # type: ignore[arg-type]
        queue_log={"path": str(tmp_path / "queue_log")},  # type: ignore[arg-type]  # not the machine's
        speed=speed,
        metrics_per_agent=True,
        api_tokens=[{"token": TOKEN, "role": "supervisor"}],  # type: ignore[list-item]
    )


async def history(tmp_path: Path, days_ago: float) -> None:
    """An hour of traffic that happened ``days_ago``, recorded by a daemon of its own: the 24 h, 7 d
    and 30 d windows only count calls whose window has closed, which a live run of minutes lacks."""
    sim = Simulator(
        fast_center(
            seed=int(days_ago * 10),
            start_epoch=time.time() - days_ago * 86400,
            duration=3600,
            rate_per_min=8,
            agents=12,
            cutoff_share=0.2,
            callback_share=0.9,
            repeat_share=0.5,
            talk_mean=40,
        )
    )
    _host, port = await sim.start()
    daemon = Daemon(settings_for(tmp_path, port, speed=1.0))
    await daemon.start()
    try:
        await sim.wait_calls_done(120)
        while daemon.queue or daemon.core.registry.entries:
            await asyncio.sleep(0.05)
    finally:
        await daemon.stop()
        await sim.stop()


AGENTS = 12
INBOUND = """
[inbound]
exten => _X.,1,Answer()
 same => n,Set(ACD_QUEUE=${IF($["${SIM_QUEUE}" = ""]?support:${SIM_QUEUE})})
 same => n,Goto(acd-route,route,1)

"""


def routed_center_files(tmp_path: Path, lookup_port: int) -> tuple[Path, Path]:
    """The shipped affinity configuration for the simulator's agents, as an operator would deploy
    it: `acd asterisk-config` output, the lookup URL pointed at this test's daemon."""
    out = tmp_path / "asterisk"
    agents = [arg for i in range(AGENTS) for arg in ("--agent", f"Local/{1001 + i}@agents")]
    subprocess.run(
        [sys.executable, "-m", "acd.cli", "asterisk-config", *agents, "--out", str(out)],
        check=True,
        capture_output=True,
    )
    queues = tmp_path / "queues.conf"
    queues.write_text(
        (prom.ROOT / "acd" / "sim" / "queues.conf").read_text() + "\n" + (out / "queues-acd.conf").read_text()
    )
    dialplan = tmp_path / "extensions.conf"
    routing = (
        (out / "extensions-acd.conf")
        .read_text()
        .replace("http://127.0.0.1:8081/", f"http://127.0.0.1:{lookup_port}/")
    )
    dialplan.write_text(INBOUND + routing)
    return queues, dialplan


@pytest.fixture
async def center(tmp_path: Path) -> AsyncIterator[tuple[Simulator, Daemon]]:
    for days_ago in (30.5, 7.5, 1.5):  # inside each window's closed day (W + 1 d .. W ago)
        await history(tmp_path, days_ago)
    lookup_port = free_port()
    queues, dialplan = routed_center_files(tmp_path, lookup_port)
    sim = Simulator(
        SimConfig(
            port=0,
            speed=20.0,
            seed=21,
            rate_per_min=90,
            agents=AGENTS,
            cutoff_share=0.25,
            callback_share=0.9,
            repeat_share=0.4,
            talk_mean=40,
            patience_mean=60,
            queues_conf=queues,
            dialplan=dialplan,
            queues=["support", "sales"],
            **login(),
        )
    )
    _host, port = await sim.start()
    settings = settings_for(tmp_path, port)
    daemon = Daemon(
        settings.model_copy(update={"routing": settings.routing.model_copy(update={"port": lookup_port})})
    )
    await daemon.start()
    try:
        yield sim, daemon
    finally:
        await daemon.stop()
        await sim.stop()


async def post_outcomes(daemon: Daemon, stop: asyncio.Event) -> None:
    """Reps write outcomes for answered calls, some with empty notes, as a CRM would."""
    rng = random.Random(5)
    done: set[str] = set()
    base = f"http://127.0.0.1:{daemon.http_port}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    dispositions = daemon.settings.dispositions
    async with aiohttp.ClientSession(headers=headers) as http:
        while not stop.is_set():
            async with http.get(base + "/api/v1/calls", params={"limit": "200"}) as resp:
                body = await resp.json() if resp.status == 200 else {"calls": []}
            for call in body.get("calls", []):
                cid = call.get("id") or call.get("call_id")
                if not cid or cid in done or call.get("outcome") != "answered":
                    continue
                done.add(cid)
                payload = {
                    "disposition": rng.choice(dispositions),
                    "resolved": rng.random() < 0.7,
                    "notes": "" if rng.random() < 0.3 else "customer asked about the order",
                    "points": rng.choice([0, 10, 40]),
                }
                async with http.post(f"{base}/api/v1/calls/{cid}/outcome", json=payload) as resp:
                    assert resp.status in (200, 201), await resp.text()
            await asyncio.sleep(0.5)


async def test_every_panel_and_alert_against_the_daemon_on_the_simulator(
    center: tuple[Simulator, Daemon], tmp_path: Path
) -> None:
    sim, daemon = center
    port = free_port()
    proc = prom.start_prometheus(tmp_path, port, daemon.http_port or 0)
    base = f"http://127.0.0.1:{port}"
    stop = asyncio.Event()
    poster = asyncio.create_task(post_outcomes(daemon, stop))
    try:

        async def enough_traffic() -> bool:
            await daemon.kpis.refresh_once()
            for query, least in (
                ("sum(acd_agent_callbacks_received_total)", 1),
                # a call that waited for its preferred agent, or the wait panel has nothing to show
                ("sum(increase(acd_affinity_wait_seconds_count[1h]))", 1),
                ("count_over_time(acd_ami_up[1m])", 10),
                ("sum(acd_outcome_writes_total)", 10),
            ):
                data = await prom.api_async(base, "/api/v1/query", query=query)
                if not data["result"] or float(data["result"][0]["value"][1]) < least:
                    return False
            return True

        await eventually(
            enough_traffic, 180, what="answered callbacks, an affinity wait, outcomes and 10 scrapes"
        )

        async def problems_now() -> list[str]:
            await daemon.kpis.refresh_once()
            return await prom.panel_problems(base)

        # Traffic is random and machines differ in speed: a panel whose events have not happened
        # yet gets until the deadline, and the last check's problems are what fails the test.
        deadline = time.monotonic() + 90
        problems = await problems_now()
        while problems and time.monotonic() < deadline:
            await asyncio.sleep(3)
            problems = await problems_now()
        assert not problems, "\n".join(problems)

        assert await prom.alert_metric_problems(base) == []
        groups = (await prom.api_async(base, "/api/v1/rules"))["groups"]
        for rule in (r for g in groups for r in g["rules"]):
            assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))

        # A real fault: Asterisk goes away (the simulator stops listening); acd_ami_up drops to 0
        # and the AMI-down alert fires in this Prometheus.
        stop.set()
        await sim.stop()

        await eventually(lambda: prom.ami_down_firing(base), 30, what="AcdAmiDown firing")
    finally:
        stop.set()
        poster.cancel()
        prom.stop_prometheus(proc)
