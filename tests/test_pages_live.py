"""The live pages' plumbing: the shared snapshot, wake-ups per agent, and streams that end when
the daemon stops (an open wallboard must never hold up a shutdown)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

from acd.core.effects import MemberStateChanged
from acd.core.live import AgentLive, LiveSnapshot, QueueLive
from acd.web.feed import LiveFeed
from tests.support.pages import pages_app, sign_in
from tests.support.waiting import DEADLINE

WALL = "wall-token-3c9e"


def snapshot(at: float, waiting: int = 0) -> LiveSnapshot:
    return LiveSnapshot(
        at,
        (QueueLive("support", waiting, 12.0 if waiting else 0.0, {"available": 1}),),
        (AgentLive("PJSIP/1001", "Alice", "available", ("support",)),),
        True,
    )


async def test_the_snapshot_is_shared_and_refreshed_after_an_effect() -> None:
    built = []
    clock = [100.0]

    def provider() -> LiveSnapshot:
        built.append(clock[0])
        return snapshot(clock[0])

    feed = LiveFeed(provider, min_interval=1.0, monotonic=lambda: clock[0])
    feed.snapshot()
    feed.snapshot()
    assert len(built) == 1, "read twice within the interval: built once"
    clock[0] += 0.1
    feed.observe(MemberStateChanged("support", "PJSIP/1001", "Alice", "ringing", "available", None, 1.0))
    clock[0] += 0.1
    feed.snapshot()
    assert len(built) == 2, "an effect about an agent makes the next read fresh"


async def test_a_desk_stream_wakes_for_its_agent_only() -> None:
    feed = LiveFeed(lambda: snapshot(1.0))
    seen = feed.version("PJSIP/1001")
    waiter = asyncio.ensure_future(feed.wait_agent("PJSIP/1001", seen, 5.0))
    await asyncio.sleep(0)
    feed.observe(MemberStateChanged("support", "PJSIP/1002", "Bob", "ringing", "available", None, 1.0))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    feed.observe(MemberStateChanged("support", "PJSIP/1001", "Alice", "ringing", "available", None, 1.0))
    assert await asyncio.wait_for(waiter, 1.0) is True
    # an effect between reading the version and waiting is not lost
    seen = feed.version("PJSIP/1001")
    feed.observe(MemberStateChanged("support", "PJSIP/1001", "Alice", "in_call", "ringing", None, 2.0))
    # lost, it would sleep its whole hour: the suite's deadline fails it long before
    assert await asyncio.wait_for(feed.wait_agent("PJSIP/1001", seen, 3600.0), DEADLINE) is True


async def test_open_wallboard_streams_end_when_the_server_stops(tmp_path: Path) -> None:
    # The server's stop waits an hour for requests still running: a stream that held it up would
    # end only then, and the wait for its end fails long before.
    tokens = [{"token": WALL, "role": "wallboard"}]
    async with pages_app(tmp_path, tokens, shutdown_timeout=3600.0) as (client, world, _):
        world.snapshot = snapshot(1.8e9, waiting=3)
        await sign_in(client, WALL)
        response = await client.get("/wallboard/events")
        assert response.headers["Content-Type"].startswith("text/event-stream")
        line = b""
        while not line.startswith(b"data:"):
            line = await asyncio.wait_for(response.content.readline(), 5.0)
        message = json.loads(line[5:])
        assert message["fields"]["support.waiting"] == ["3", ""]
        assert message["lost"] is False
        world.snapshot = replace(world.snapshot, in_sync=False)  # AMI lost: the core is out of step
        while True:
            line = await asyncio.wait_for(response.content.readline(), 5.0)
            if line.startswith(b"data:") and json.loads(line[5:])["lost"]:
                break
        assert json.loads(line[5:])["fields"]["support.waiting"] == ["-", ""], "no frozen numbers"
        stopping = asyncio.ensure_future(client.server.close())  # as the daemon's stop does

        async def to_its_end() -> None:
            while await response.content.readline():
                pass  # what the stream still had to say

        await asyncio.wait_for(to_its_end(), DEADLINE)
        await asyncio.wait_for(stopping, DEADLINE)
