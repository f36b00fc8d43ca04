"""Resync after (re)connection: QueueStatus + CoreShowChannels, answered with bytes from a real
Asterisk capture, and retried once on timeout since both are reads."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from acd.ami.actions import AmiNotConnected, AmiTimeout
from acd.ami.connection import AmiClient
from acd.ami.resync import resync
from tests.support.fake_ami import SECRET, FakeAmi, FakeClient, Recorder, connect, settings

CAPTURE = Path(__file__).parent / "fixtures" / "ami" / "answered_call.ami.log"


def capture_answers() -> dict[str, list[bytes]]:
    """The capture's list answers by action name: response, items and Complete, as raw blocks."""
    text = CAPTURE.read_bytes().decode("utf-8").partition("\r\n")[2]
    by_id: dict[str, list[str]] = {}
    for block in text.split("\r\n\r\n"):
        for line in block.split("\r\n"):
            if line.startswith("ActionID: "):
                by_id.setdefault(line[len("ActionID: ") :], []).append(block)
    answers: dict[str, list[bytes]] = {}
    for blocks in by_id.values():
        if "EventList: start" not in blocks[0]:
            continue
        complete = blocks[-1].split("\r\n")[0]  # "Event: QueueStatusComplete"
        name = complete.removeprefix("Event: ").removesuffix("Complete")
        items = len(blocks) - 2
        # keep the biggest answer of each kind: the mid-call snapshot
        if name not in answers or items > len(answers[name]) - 2:
            answers[name] = [b.encode() for b in blocks]
    return answers


ANSWERS = capture_answers()


def replay(name: str) -> Any:
    def handler(client: FakeClient, action: dict[str, str]) -> None:
        aid = action["ActionID"]
        for block in ANSWERS[name]:
            lines = [
                f"ActionID: {aid}" if ln.startswith("ActionID: ") else ln
                for ln in block.decode().split("\r\n")
            ]
            client.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    return handler


def count(name: str, event: str) -> int:
    return sum(1 for block in ANSWERS[name] if block.startswith(f"Event: {event}\r\n".encode()))


@pytest.fixture
async def fake() -> Any:
    server = await FakeAmi(secret=SECRET).start()
    server.handlers["queuestatus"] = replay("QueueStatus")
    server.handlers["coreshowchannels"] = replay("CoreShowChannels")
    yield server
    await server.close()


async def test_resync_counts_match_the_capture_and_items_reach_on_message_first(fake: FakeAmi) -> None:
    client, rec = await connect(fake)
    before = len(rec.messages)
    result = await resync(client)
    assert result.retries == 0
    assert result.members == count("QueueStatus", "QueueMember") > 0
    assert result.queues == count("QueueStatus", "QueueParams") > 0
    assert result.callers == count("QueueStatus", "QueueEntry")
    assert result.channel_count == count("CoreShowChannels", "CoreShowChannel") > 0
    # Everything was delivered to on_message before resync returned: markers around the await
    # bracket the whole snapshot.
    delivered = [m["Event"] for m, _ in rec.messages[before:]]
    assert delivered[-1] == "CoreShowChannelsComplete"
    assert delivered.count("QueueMember") == result.members
    assert [a["Action"] for a in fake.actions[-2:]] == ["QueueStatus", "CoreShowChannels"]
    await client.close()


async def test_resync_retries_a_timed_out_read_once(fake: FakeAmi) -> None:
    answer = replay("QueueStatus")
    calls: list[int] = []

    def first_lost(client: FakeClient, action: dict[str, str]) -> None:
        calls.append(1)
        if len(calls) > 1:
            answer(client, action)

    fake.handlers["queuestatus"] = first_lost
    client, _ = await connect(fake)
    result = await resync(client, timeout=0.2)
    assert result.retries == 1 and len(calls) == 2
    assert result.members == count("QueueStatus", "QueueMember")
    await client.close()


async def test_resync_gives_up_after_one_retry(fake: FakeAmi) -> None:
    fake.handlers["coreshowchannels"] = lambda client, action: None
    client, _ = await connect(fake)
    with pytest.raises(AmiTimeout):
        await resync(client, timeout=0.1)
    assert len([a for a in fake.actions if a["Action"] == "CoreShowChannels"]) == 2
    await client.close()


async def test_resync_without_a_connection_says_so(fake: FakeAmi) -> None:
    client = AmiClient(settings(fake.port), on_message=Recorder().on_message)
    with pytest.raises(AmiNotConnected):
        await resync(client)
    await asyncio.sleep(0)
