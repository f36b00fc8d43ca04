"""What a node does with the AMI events it reads while its role changes: nothing accepted is lost.

The daemon runs on SQLite with no Asterisk (its AMI client keeps retrying a closed port); the test
puts events on its queue and drives the role changes the leadership task would report, and a spy
on ``Core.apply`` shows which core took which event:

- before the first lock result the events wait, and a node that wins leads with them;
- a leader that loses its database session stops acting (listener closed, no token) but its core
  goes on taking events, and winning the lock again keeps that core;
- a node that learns another leads only counts events, and taking over builds a fresh core that
  takes the events held while it was built;
- a node that cannot learn its role records after ``UNDECIDED_LIMIT``, and stopping never drops
  what waits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import pytest

import acd.daemon.roles as daemon_module
from acd.core.callcenter import Core
from acd.daemon import Daemon
from acd.ha import Change, Takeover
from tests.support.ports import free_port
from tests.test_e2e_daemon import daemon_settings

Seen = list[tuple[Core, str]]


async def until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Seen:
    applied: Seen = []
    original = Core.apply

    def spy(self: Core, headers: Mapping[str, str], now: float) -> list[object]:
        applied.append((self, headers["Uniqueid"]))
        return original(self, headers, now)  # type: ignore[return-value]

    monkeypatch.setattr(Core, "apply", spy)
    return applied


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    d = Daemon(daemon_settings(tmp_path, free_port()))  # nothing listens there: AMI stays down
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


def event(d: Daemon, uniqueid: str) -> None:
    headers = {"Event": "Hangup", "Uniqueid": uniqueid, "Linkedid": uniqueid, "Channel": "x"}
    d.consumer.put(headers, time.time())


def won(token: int, previous: str | None = None) -> Change:
    takeover = Takeover(token=token, covered_until=None, previous=previous, previous_heartbeat_age=None)
    return Change("leader", token, "takeover" if previous else "won", takeover)


async def test_events_wait_for_the_role_and_are_recorded_by_whoever_may_lose_them(
    daemon: Daemon, seen: Seen
) -> None:
    d = daemon
    d._leading = False
    d._set_events("hold", "test", undecided=True)
    for n in ("1", "2"):
        event(d, n)
    await asyncio.sleep(0.2)
    assert seen == [] and len(d.queue) == 2, "undecided: the events wait"

    # The first lock attempt wins: a fresh core takes what waited, in order.
    d._role_changed(won(1))
    await until(lambda: len(seen) == 2 and d.routing is not None, "the held events in the leader's core")
    first = d.core
    assert [u for _, u in seen] == ["1", "2"] and all(c is first for c, _ in seen) and d._leading

    # The database session is lost: acting stops at once, recording does not.
    d._role_changed(Change("standby", None, "connection_lost"))
    assert not d._leading and d._write_token() is None
    event(d, "3")
    await until(lambda: len(seen) == 3, "the cut-off leader's core to take the event")
    assert seen[-1] == (first, "3") and d.core is first
    await until(lambda: d.routing is None, "the listener to close")

    # The database is back and the lock is still free: the same core leads on.
    d._role_changed(won(2))
    await until(lambda: d._leading and d.routing is not None, "leading again")
    assert d.core is first

    # A lock attempt finds another node leading: only counting from now on.
    d._role_changed(Change("standby", None, "connection_lost"))
    d._role_changed(Change("standby", None, "other_leads"))
    counted = d.consumer.events
    event(d, "4")
    await until(lambda: d.consumer.events > counted, "the event to be counted")
    assert len(seen) == 3, "a standby whose leader records the stream applies nothing"

    # That leader dies: taking over builds a fresh core, which takes what came meanwhile.
    d._role_changed(won(3, previous="other"))
    event(d, "5")
    await until(lambda: len(seen) == 4, "the new leader's core to take the event")
    assert seen[-1][1] == "5" and seen[-1][0] is d.core and d.core is not first and d._leading


async def undecided_with_one_event(d: Daemon, seen: Seen) -> Daemon:
    d._leading = False
    d._set_events("hold", "test", undecided=True)
    event(d, "1")
    await asyncio.sleep(0.2)
    assert seen == [], "undecided: the event waits"
    return d


async def test_a_node_that_cannot_learn_its_role_records_after_a_bound(
    daemon: Daemon, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = await undecided_with_one_event(daemon, seen)
    monkeypatch.setattr(daemon_module, "UNDECIDED_LIMIT", 0.0)
    await until(lambda: len(seen) == 1, "the held event recorded once the bound passed")
    assert d._events == "record" and not d._leading


async def test_stopping_undecided_records_what_waits(daemon: Daemon, seen: Seen) -> None:
    d = await undecided_with_one_event(daemon, seen)
    await d.stop()
    assert [u for _, u in seen] == ["1"]


async def test_a_leader_back_from_a_stall_that_lost_its_session_stops_recording(
    daemon: Daemon, seen: Seen
) -> None:
    """Its session outlived by the stall, the standby has led meanwhile: its core is stale (its
    timers would run ahead of what it missed), so it only counts until it leads again."""
    d = daemon
    d._leading = False
    d._set_events("hold", "test", undecided=True)
    d._role_changed(won(1))
    await until(lambda: d._leading and d._events == "record", "leading")
    d._role_changed(Change("standby", None, "connection_lost", stalled=True))
    assert d._events == "count"
    counted = d.consumer.events
    event(d, "1")
    await until(lambda: d.consumer.events > counted, "the event to be counted")
    assert seen == []
