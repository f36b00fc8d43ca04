"""Why acd has its own AMI client: panoramisk 1.4 (the usual Python AMI library, last released in
2021) on the same fake Asterisk as tests/test_ami_connection.py, in the fault cases acd's client
passes there. Each test asserts panoramisk's behaviour as it is; one that starts failing means
panoramisk changed, and the README's "Why each dependency is there" should be looked at again.

panoramisk is a test/bench dependency only: the pipeline benchmark (bench/bench_pipeline.py)
reads with it as its baseline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.fake_ami import SECRET, FakeAmi
from tests.support.waiting import until

panoramisk = pytest.importorskip("panoramisk")


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = await FakeAmi(secret=SECRET).start()
    yield server
    await server.close()


async def manager_on(fake: FakeAmi, **config: Any) -> Any:
    manager = panoramisk.Manager(
        loop=asyncio.get_running_loop(),
        host="127.0.0.1",
        port=fake.port,
        username="acd",
        secret=SECRET,
        **{"ping_delay": 3600, "reconnect_timeout": 3600, **config},
    )
    await manager.connect()
    await until(lambda: fake.connections == 1 and bool(fake.client.logged_in))
    return manager


async def test_a_utf8_character_split_over_two_reads_is_lost(fake: FakeAmi) -> None:
    manager = await manager_on(fake)
    names: list[str] = []
    manager.register_event("Newchannel", lambda m, event: names.append(event["CallerIDName"]))
    data = "Event: Newchannel\r\nCallerIDName: José Müller\r\n\r\n".encode()
    cut = data.index("é".encode()) + 1  # inside the two-byte é
    await fake.send_pieces([data[:cut], data[cut:]])
    await until(lambda: bool(names))
    assert names == ["Jos Müller"]  # acd: "José Müller"
    manager.close()


async def test_a_handler_exception_drops_the_connection_and_the_events_after_it(fake: FakeAmi) -> None:
    manager = await manager_on(fake)
    seen: list[str] = []

    def handler(m: Any, event: Any) -> None:
        if event.event == "Boom":
            raise RuntimeError("handler bug")
        if event.event in ("A", "B"):  # not the login's FullyBooted, which may be read after this
            seen.append(event.event)

    manager.register_event("*", handler)
    # Three events in one read, the bad one in the middle (as in acd's test).
    connection = fake.client
    connection.write(b"Event: A\r\n\r\nEvent: Boom\r\n\r\nEvent: B\r\n\r\n")
    await until(lambda: connection.writer.is_closing(), describe=lambda: seen)  # dropped
    assert seen == ["A"]  # acd: A and B delivered, the connection stays up
    manager.close()


async def test_an_unanswered_action_has_no_timeout(fake: FakeAmi) -> None:
    fake.handlers["getvar"] = lambda client, action: None
    manager = await manager_on(fake)
    future = manager.send_action({"Action": "Getvar", "Variable": "X"})
    await fake.wait_for_action("Getvar")
    await asyncio.sleep(0.5)  # longer than acd's test timeout; panoramisk offers none at all
    assert not future.done()  # acd: AmiTimeout after the action's timeout
    future.cancel()
    manager.close()


async def test_a_fractional_ping_delay_becomes_zero_and_pings_in_a_tight_loop(fake: FakeAmi) -> None:
    manager = await manager_on(fake, ping_delay=0.5, ping_interval=0.5)  # int(0.5) == 0
    await until(lambda: sum(1 for a in fake.actions if a.get("Action") == "Ping") >= 50)
    manager.close()  # acd: one Ping per 0.5 s, counted exactly in simulated time


async def test_a_silent_peer_is_never_noticed(fake: FakeAmi) -> None:
    manager = await manager_on(fake, ping_delay=1, ping_interval=1)  # whole seconds: its smallest
    connection = fake.client
    fake.silent = True  # the socket stays open, nothing is answered: a half-open Asterisk
    await until(lambda: sum(1 for a in fake.actions if a.get("Action") == "Ping") >= 3)
    assert not connection.writer.is_closing() and fake.connections == 1  # acd: dropped, reconnected
    manager.close()
