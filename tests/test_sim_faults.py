"""Faults on demand: dropped connections, restart, silence, garbage, slow readers, bad logins."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from acd.ami.codec import Framer
from acd.sim import SimConfig, Simulator
from acd.sim.emit import event
from acd.sim.server import Session
from tests.sim_helpers import AmiClient, get, is_event
from tests.support.waiting import DEADLINE, until


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    s = Simulator(SimConfig(port=0, speed=0, traffic=False, start_epoch=1.8e9, boot_seconds=0.1))
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def _client(sim: Simulator) -> AmiClient:
    c = await AmiClient.connect(sim.server.host, sim.server.port)
    await c.login()
    return c


async def test_drop_mid_message(sim: Simulator) -> None:
    c = await _client(sim)
    sim.drop_connections(mid_message=True)
    assert not await c.read_for(1.0)
    assert bytes(c.raw).startswith(b"Event: Newchannel") and not bytes(c.raw).endswith(b"\r\n\r\n")


async def test_restart_refuses_then_boots(sim: Simulator) -> None:
    c = await _client(sim)
    sim.add_agent("support", "1001", "Alice")
    sim.place_call("5551400", "support")
    await sim.advance(5.0)
    sim.cfg.boot_seconds = 0.8
    task = asyncio.create_task(sim.restart(0.5))
    assert not await c.read_for(1.0)
    evs = [get(p, "Event") for p in c.messages if is_event(p)]
    assert evs[-1] == "Shutdown"
    assert "AgentComplete" in evs
    with pytest.raises(OSError):
        await asyncio.open_connection(sim.server.host, sim.server.port)
    for _ in range(100):
        if not sim.restarting:
            break
        await asyncio.sleep(0.02)
    c2 = await AmiClient.connect(sim.server.host, sim.server.port)
    await c2.login()
    await c2.read_for(0.05)
    assert not c2.events("FullyBooted"), "FullyBooted only once booted"
    await task
    await c2.read_for(0.1)
    fb = c2.events("FullyBooted")
    assert len(fb) == 1 and get(fb[0], "Uptime") == "0"
    st = await c2.action("QueueStatus")
    assert get(st, "Response") == "Success"
    members = c2.events("QueueMember")
    assert [get(p, "Name") for p in members] == ["Alice"]  # persistent members survive
    sim.place_call("5551401", "support")
    await sim.advance(0.1)
    await c2.read_for(0.05)
    uids = [get(p, "Uniqueid") for p in c2.events("Newchannel")]
    assert uids[0].endswith(".0")  # the Uniqueid counter restarted
    await c2.close()


async def test_silent_keeps_socket_open(sim: Simulator) -> None:
    c = await _client(sim)
    sim.set_silent(True)
    c.send("Ping")
    assert await c.read_for(0.3)  # still open
    assert not [p for p in c.messages if get(p, "Ping")]
    sim.set_silent(False)
    got = await c.action("Ping")
    assert get(got, "Ping") == "Pong"
    await c.close()


async def test_malformed_frames_reach_the_client(sim: Simulator) -> None:
    r, w = await asyncio.open_connection(sim.server.host, sim.server.port)
    w.write(b"Action: Login\r\nUsername: acd\r\nSecret: acdsecret\r\n\r\n")
    await asyncio.sleep(0.05)
    sim.send_malformed()
    framer = Framer()
    data = b""
    while True:
        try:
            chunk = await asyncio.wait_for(r.read(65536), 0.2)
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    framer.feed(data)
    kinds = {a.kind for a in framer.pop_anomalies()}
    assert "bad_line" in kinds
    w.close()


def _session_of(sim: Simulator, writer: asyncio.StreamWriter) -> Session:
    port = writer.get_extra_info("sockname")[1]
    (found,) = [s for s in sim.server.sessions if s.remote.endswith(f"/{port}")]
    return found


async def test_slow_reader_is_disconnected_fast_one_is_not(sim: Simulator) -> None:
    """manager.conf ``writetimeout`` (100 ms) in the manual clock's simulated seconds: a client
    whose buffer stays full that long is cut off; one that reads is not, however long it took."""
    _slow_r, slow_w = await asyncio.open_connection(sim.server.host, sim.server.port)
    slow_w.write(b"Action: Login\r\nUsername: acd\r\nSecret: acdsecret\r\n\r\n")
    fast_r, fast_w = await asyncio.open_connection(sim.server.host, sim.server.port)
    fast_w.write(b"Action: Login\r\nUsername: acd\r\nSecret: acdsecret\r\n\r\n")
    await until(lambda: len(sim.server.sessions) == 2 and all(s.user for s in sim.server.sessions))
    slow, fast = _session_of(sim, slow_w), _session_of(sim, fast_w)
    got = bytearray()

    async def read_fast() -> None:
        while chunk := await fast_r.read(1 << 20):
            got.extend(chunk)
            del got[:-4096]  # only the tail matters: the answer to the last action

    reading = asyncio.create_task(read_fast())
    try:
        burst = [event("UserEvent", "user", (("UserEvent", "Burst"), ("Pad", "x" * 900)))] * 2000
        rounds = 0
        while slow._paused_at is None:  # ~2 MB a round until the kernel's and the simulator's
            assert rounds < 200, "the slow reader's buffer never filled"  # buffers are full
            sim.broadcast(burst)
            rounds += 1
            await until(lambda: fast._paused_at is None, what="the reading client catching up")
        await sim.advance(0.09)  # not yet writetimeout
        await asyncio.sleep(0)
        assert sim.server.sessions == {slow, fast}
        await sim.advance(0.02)  # over it: the slow reader's buffer stayed full for 110 ms
        await until(lambda: sim.server.sessions == {fast}, what="the slow reader cut off")
        fast_w.write(b"Action: Ping\r\nActionID: still-here\r\n\r\n")
        await until(lambda: b"ActionID: still-here" in got, what="the reading client's Pong")
        assert not reading.done()  # still connected
    finally:
        reading.cancel()
        slow_w.close()
        fast_w.close()


async def test_wrong_secret_answers_after_a_second_then_closes(sim: Simulator) -> None:
    c = await AmiClient.connect(sim.server.host, sim.server.port)
    t0 = time.monotonic()
    c.send("Login", Username="acd", Secret="nope")
    assert await c.read_for(0.5)
    assert not c.messages
    while await c.read_for(0.2):  # until the simulator closes the connection
        assert time.monotonic() - t0 < DEADLINE, "the connection was never closed"
    elapsed = time.monotonic() - t0
    assert [(get(p, "Response"), get(p, "Message")) for p in c.messages] == [
        ("Error", "Authentication failed")
    ]
    assert elapsed >= 0.9  # Asterisk's delay: a load can only make it longer


async def test_simfault_action_drops_connections(sim: Simulator) -> None:
    c = await _client(sim)
    ro = await AmiClient.connect(sim.server.host, sim.server.port)
    await ro.login("ro", "rosecret")
    denied = await ro.action("SimFault", Fault="drop")
    assert get(denied, "Message") == "Permission denied"
    ok = await c.action("SimFault", Fault="drop")
    assert get(ok, "Message") == "Fault scheduled"
    assert not await c.read_for(0.5)
    assert not await ro.read_for(0.5)
