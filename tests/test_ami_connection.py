"""The AMI edge against a real TCP fake Asterisk (tests/support/fake_ami.py) over loopback.

Each fault case a daemon meets has a test here: handler isolation, split UTF-8, QueueAdd
resolving, list collection, action timeouts, the Ping watchdog, close() during backoff, float
timings. tests/test_ami_panoramisk_baseline.py runs panoramisk 1.4 through the same fake Asterisk
in the first four kinds and shows it failing them (why acd has its own client). Timing-dependent
tests run on a simulated clock and count exactly.
"""

from __future__ import annotations

import asyncio
import gc
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from acd.ami.actions import AmiActionError, AmiConnectionLost, AmiNotConnected, AmiTimeout
from acd.ami.codec import Framer
from acd.ami.connection import (
    AmiClient,
    AuthFailed,
    Connected,
    ConnectFailed,
    ConnectionEvent,
    Disconnected,
    FullyBooted,
    LoggedIn,
    WireAnomaly,
)
from acd.ami.protocol import BEHIND, READ_AHEAD, READ_SIZE
from acd.ami.resync import resync
from acd.ami.sending import within
from tests.support.clock import FakeClock, settle
from tests.support.fake_ami import (
    FULLY_BOOTED,
    SECRET,
    FakeAmi,
    FakeClient,
    Recorder,
    connect,
    make_client,
    settings,
)
from tests.support.logs import captured_logs
from tests.support.waiting import DEADLINE, until


@pytest.fixture
async def fake() -> Any:
    server = await FakeAmi(secret=SECRET).start()
    yield server
    await server.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# Connect and action timeouts far beyond any backoff, so a pending sleep is told from a timeout
# by its length: the tests that wait for a backoff use these.
PATIENT = {"connect_timeout": 3600.0, "action_timeout": 3600.0}
BACKOFF_MAX = 60.0


async def sleeping(clock: FakeClock, count: int, client: AmiClient | None = None) -> None:
    """Wait until the client rests in exactly one sleep of the simulated clock shorter than
    ``BACKOFF_MAX`` (a backoff or a retry delay, not a connect or action timeout), after its
    ``count``-th connect attempt when ``client`` is given."""

    def resting() -> bool:
        wake = clock.next_wake()
        return (
            clock.sleeping == 1
            and wake is not None
            and wake - clock.now < BACKOFF_MAX
            and (client is None or client.stats.connect_attempts == count)
        )

    await until(resting, describe=lambda: f"sleeping={clock.sleeping} next={clock.next_wake()}")


def acd_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("acd-ami")]


async def test_login_notices_in_order_and_fully_booted_after_logged_in(fake: FakeAmi) -> None:
    rec = Recorder()
    seen_connected_at_boot: list[bool] = []
    client = AmiClient(settings(fake.port), on_message=rec.on_message, on_state=rec.on_state)

    def on_state(notice: ConnectionEvent) -> None:
        rec.on_state(notice)
        if isinstance(notice, FullyBooted):
            seen_connected_at_boot.append(client.connected)

    client._on_state = on_state
    await client.start()
    await rec.until(lambda: bool(rec.notices(FullyBooted)))
    kinds = [type(s) for s in rec.states]
    assert kinds == [Connected, LoggedIn, FullyBooted]
    assert rec.states[0].banner == "Asterisk Call Manager/11.0.0"  # type: ignore[union-attr]
    # The login response and FullyBooted arrive in one read: the daemon's resync, started from the
    # FullyBooted notice, must already find the client logged in.
    assert seen_connected_at_boot == [True]
    assert rec.events("FullyBooted")[0]["Status"] == "Fully Booted"
    assert client.banner == "Asterisk Call Manager/11.0.0"
    assert fake.actions[0]["Events"] == "on"
    await client.close()


async def test_booting_asterisk_fully_booted_comes_later(fake: FakeAmi) -> None:
    fake.fully_booted = False
    client, rec = await connect(fake)
    await asyncio.sleep(0.05)
    assert not rec.notices(FullyBooted)
    fake.send_event(FULLY_BOOTED)
    await rec.until(lambda: bool(rec.notices(FullyBooted)))
    await client.close()


async def test_handler_exception_never_drops_the_connection(fake: FakeAmi) -> None:
    rec = Recorder()

    def on_message(msg: dict[str, str], at: float) -> None:
        if msg.get("Event") == "Boom":
            raise RuntimeError("handler bug")
        rec.on_message(msg, at)

    def on_state(notice: ConnectionEvent) -> None:
        rec.on_state(notice)
        if isinstance(notice, FullyBooted):
            raise ValueError("state handler bug")

    client = AmiClient(settings(fake.port), on_message=on_message, on_state=on_state)
    await client.start()
    await rec.until(lambda: client.connected)
    # Three events in ONE write, so one read: the bad one sits between two good ones.
    fake.client.write(b"Event: A\r\nN: 1\r\n\r\nEvent: Boom\r\n\r\nEvent: B\r\nN: 2\r\n\r\n")
    await rec.until(lambda: bool(rec.events("B")))
    assert [m.get("Event") for m, _ in rec.messages][-2:] == ["A", "B"]
    assert client.stats.handler_errors == 2  # one from on_state(FullyBooted), one from Boom
    fake.send_event({"Event": "C"})
    await rec.until(lambda: bool(rec.events("C")))
    assert fake.connections == 1 and client.connected
    assert (await client.send_action({"Action": "Ping"})).response["Ping"] == "Pong"
    await client.close()


async def test_a_read_of_plain_events_goes_to_on_events_in_one_call(fake: FakeAmi) -> None:
    """Under load the reader hands a read's events over in one call; whatever the client must see
    itself (responses, list items of its actions, FullyBooted) still goes message by message, in
    order, and a raising on_events is counted like any handler, never dropping the link."""
    rec = Recorder()
    batches: list[list[str]] = []
    fail = False

    def on_events(msgs: list[dict[str, str]], at: float) -> None:
        if fail:
            raise RuntimeError("handler bug")
        batches.append([m["Event"] for m in msgs])
        for msg in msgs:
            rec.on_message(msg, at)

    client = AmiClient(
        settings(fake.port), on_message=rec.on_message, on_state=rec.on_state, on_events=on_events
    )
    await client.start()
    await rec.until(lambda: bool(rec.events("FullyBooted")))
    assert batches == []  # the login's answer and FullyBooted came message by message
    fake.client.write(b"Event: A\r\nN: 1\r\n\r\nEvent: B\r\nN: 2\r\n\r\nEvent: C\r\n\r\n")
    await rec.until(lambda: bool(rec.events("C")))
    assert batches == [["A", "B", "C"]]
    fake.members = [("support", "Alice", "Local/1001@agents")]
    result = await client.send_action({"Action": "QueueStatus"})
    assert [i["Event"] for i in result.items] == ["QueueParams", "QueueMember"]
    assert [m["Event"] for m, _ in rec.messages if m.get("ActionID") == result.action_id][-1] == (
        "QueueStatusComplete"
    )
    fail = True
    fake.client.write(b"Event: D\r\n\r\n")
    await rec.until(lambda: client.stats.handler_errors == 1)
    fail = False
    fake.send_event({"Event": "E"})
    await rec.until(lambda: bool(rec.events("E")))
    assert client.connected and fake.connections == 1
    assert not rec.events("D") and [m["Event"] for m, _ in rec.messages][-1] == "E"
    await client.close()


async def test_a_fully_booted_amid_a_read_of_events_is_acted_on_in_its_place(fake: FakeAmi) -> None:
    """A FullyBooted (Asterisk reloaded, or restarted behind a proxy) in the middle of a read of
    events: the events before it, it, the client's own move (the notice the daemon resyncs on),
    then the events after it, in that order; the read's events still go on in few calls."""
    seen: list[str] = []

    def on_events(msgs: list[dict[str, str]], at: float) -> None:
        seen.append("+".join(m["Event"] for m in msgs))

    def on_state(notice: ConnectionEvent) -> None:
        if isinstance(notice, FullyBooted):
            seen.append("notice")

    client = AmiClient(
        settings(fake.port), on_message=lambda msg, at: None, on_state=on_state, on_events=on_events
    )
    await client.start()
    await until(lambda: seen == ["notice"])  # the login's FullyBooted, message by message
    fake.client.write(
        b"Event: A\r\n\r\nEvent: FullyBooted\r\nStatus: Fully Booted\r\n\r\nEvent: B\r\n\r\n"
        b"Event: C\r\n\r\nEvent: FullyBooted\r\nStatus: Fully Booted\r\n\r\n"
    )
    await until(lambda: len(seen) == 5)
    assert seen == ["notice", "A+FullyBooted", "notice", "B+C+FullyBooted", "notice"]
    assert client.stats.events == 6 and client.connected
    await client.close()


async def test_reads_are_small_while_the_consumer_keeps_up_and_big_when_it_is_behind() -> None:
    waiting = 0
    client = AmiClient(settings(1), on_message=lambda msg, at: None, backlog=lambda: waiting)
    loop = asyncio.get_running_loop()
    proto = client._new_protocol(Framer(), loop.create_future(), loop.create_future())
    assert len(proto.get_buffer(-1)) == READ_SIZE
    waiting = BEHIND + 1
    assert len(proto.get_buffer(-1)) == READ_AHEAD > READ_SIZE


async def test_a_slow_step_of_the_session_times_out_as_a_timeout(clock: FakeClock) -> None:
    """A connect or banner wait that outlives its timeout is a task being cancelled: the session
    sees TimeoutError (a failed attempt, retried), never an error about an unset result."""
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def slow_step() -> None:
        await never

    waiting = asyncio.ensure_future(within(slow_step(), 5.0, clock.sleep))
    await settle()
    await clock.advance(5.0)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(waiting, DEADLINE)
    assert never.cancelled()  # the step was cancelled, not left running


async def test_an_answer_failing_as_its_waiter_is_cancelled_is_not_logged_as_unretrieved() -> None:
    """A Ping in flight when the session is torn down: the connection's loss fails the answer and
    the teardown cancels the watchdog in the same turn. Nobody reads that failure, and asyncio
    must not report it as a "Future exception was never retrieved" error."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        answer: asyncio.Future[None] = loop.create_future()
        waiter = asyncio.ensure_future(within(answer, 30.0, asyncio.sleep))
        await settle()
        answer.set_exception(AmiConnectionLost("Ping: connection lost before its answer (closed)"))
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        del answer, waiter
        gc.collect()
        await settle()
    finally:
        loop.set_exception_handler(previous)
    assert reported == []


async def test_utf8_split_across_reads_survives(fake: FakeAmi) -> None:
    client, rec = await connect(fake)
    data = "Event: Newchannel\r\nCallerIDName: José Müller\r\n\r\n".encode()
    cut = data.index("é".encode()) + 1  # inside the two-byte é
    await fake.send_pieces([data[:cut], data[cut:]])
    await rec.until(lambda: bool(rec.events("Newchannel")))
    assert rec.events("Newchannel")[0]["CallerIDName"] == "José Müller"
    await client.close()


async def test_received_at_comes_from_the_injected_clock(fake: FakeAmi) -> None:
    rec = Recorder()
    client = AmiClient(settings(fake.port), on_message=rec.on_message, clock=lambda: 1234.5)
    await client.start()
    await rec.until(lambda: bool(rec.events("FullyBooted")))
    assert rec.messages[0][1] == 1234.5
    await client.close()


async def test_oversized_message_is_dropped_counted_and_reported(fake: FakeAmi) -> None:
    client, rec = await connect(fake, max_message_bytes=4096)
    huge = b"Event: Huge\r\n" + b"X: " + b"y" * 20000 + b"\r\n\r\n"
    await fake.send_pieces([huge[:8000], huge[8000:], b"Event: After\r\n\r\n"])
    await rec.until(lambda: bool(rec.events("After")))
    assert not rec.events("Huge")
    assert client.stats.anomalies >= 1
    assert any(n.kind == "oversized" for n in rec.notices(WireAnomaly))
    assert client.connected and fake.connections == 1
    await client.close()


async def test_garbage_line_is_an_anomaly_not_a_crash(fake: FakeAmi) -> None:
    client, rec = await connect(fake)
    fake.client.write(b"Event: Odd\r\nthis line has no colon\r\nGood: yes\r\n\r\n")
    await rec.until(lambda: bool(rec.events("Odd")))
    assert rec.events("Odd")[0]["Good"] == "yes"
    assert [n.kind for n in rec.notices(WireAnomaly)] == ["bad_line"]
    assert client.stats.anomalies == 1
    await client.close()


async def test_queueadd_resolves_on_its_response(fake: FakeAmi) -> None:
    client, _ = await connect(fake)
    result = await client.send_action(
        {"Action": "QueueAdd", "Queue": "support", "Interface": "Local/1001@agents"}, timeout=1.0
    )
    assert result.message == "Added interface to queue"
    assert result.items == () and not result.is_list
    assert fake.actions[-1]["Interface"] == "Local/1001@agents"
    await client.close()


async def test_list_action_returns_every_item_and_events_still_reach_on_message(fake: FakeAmi) -> None:
    fake.members = [("support", "Alice", "Local/1001@agents"), ("support", "Bob", "Local/1002@agents")]
    client, rec = await connect(fake)
    result = await client.send_action({"Action": "QueueStatus"})
    assert result.is_list
    assert [i["Event"] for i in result.items] == ["QueueParams", "QueueMember", "QueueMember"]
    assert [i["Name"] for i in result.items[1:]] == ["Alice", "Bob"]
    assert result.complete is not None and result.complete["ListItems"] == "3"
    # The core needs the snapshot too: every item and the Complete event went through on_message.
    delivered = [m["Event"] for m, _ in rec.messages if m.get("ActionID") == result.action_id]
    assert delivered == ["QueueParams", "QueueMember", "QueueMember", "QueueStatusComplete"]
    await client.close()


async def test_userevent_echoing_our_actionid_is_not_a_list_item(fake: FakeAmi) -> None:
    def userevent(client: FakeClient, action: dict[str, str]) -> list[Any]:
        aid = action["ActionID"]
        # Asterisk broadcasts the UserEvent (with the sender's ActionID) before answering.
        return [
            [("Event", "UserEvent"), ("UserEvent", "CallOutcome"), ("ActionID", aid)],
            [("Response", "Success"), ("ActionID", aid), ("Message", "Event Sent")],
        ]

    fake.handlers["userevent"] = userevent
    client, rec = await connect(fake)
    result = await client.send_action({"Action": "UserEvent", "UserEvent": "CallOutcome"})
    assert result.message == "Event Sent" and result.items == ()
    assert rec.events("UserEvent")[0]["ActionID"] == result.action_id
    await client.close()


async def test_error_response_raises_with_asterisks_message(fake: FakeAmi) -> None:
    client, _ = await connect(fake)
    with pytest.raises(AmiActionError, match="Invalid/unknown command") as info:
        await client.send_action({"Action": "NoSuchAction"})
    assert info.value.response["Response"] == "Error"
    await client.close()


async def test_unanswered_action_times_out_and_the_link_stays_usable(fake: FakeAmi, clock: FakeClock) -> None:
    fake.handlers["getvar"] = lambda client, action: None  # never answered
    client, _ = await connect(fake, clock=clock)
    pending = asyncio.create_task(client.send_action({"Action": "Getvar", "Variable": "X"}, timeout=0.25))
    await fake.wait_for_action("Getvar")
    await until(lambda: clock.sleeping == 2)  # the Ping loop and the Getvar's timeout
    await clock.advance(0.125)
    assert not pending.done()
    await clock.advance(0.125)  # exactly the timeout
    with pytest.raises(AmiTimeout):
        await pending
    assert client.stats.action_timeouts == 1
    assert len(client._tracker) == 0  # nothing left waiting
    assert (await client.send_action({"Action": "Ping"})).response["Ping"] == "Pong"
    await client.close()


async def test_send_before_login_and_bad_input_are_clear_errors(fake: FakeAmi) -> None:
    rec = Recorder()
    client = AmiClient(settings(fake.port), on_message=rec.on_message)
    with pytest.raises(AmiNotConnected):
        await client.send_action({"Action": "Ping"})
    await client.start()
    await rec.until(lambda: client.connected)
    with pytest.raises(ValueError, match="Action"):
        await client.send_action({"Queue": "support"})
    with pytest.raises(ValueError, match="managed by the AMI client"):
        await client.send_action({"Action": "Login", "Username": "x"})
    with pytest.raises(ValueError, match="line break"):
        await client.send_action({"Action": "UserEvent", "UserEvent": "a\r\nAction: Hangup"})
    assert not any(a.get("Action") == "Hangup" for a in fake.actions)
    await client.close()


async def test_ping_watchdog_drops_a_silent_peer_and_reconnects(fake: FakeAmi, clock: FakeClock) -> None:
    client, rec = await connect(
        fake, clock=clock, ping_interval=0.25, ping_timeout=0.5, connect_timeout=3600.0
    )
    fake.silent = True  # socket stays open, nothing is answered: a half-open peer
    await clock.advance(0.25)
    await fake.wait_for_action("Ping")
    await until(lambda: clock.sleeping == 2)  # the silence timer and the Ping's own timeout, nothing else
    await clock.advance(0.25)
    assert not rec.notices(Disconnected)  # half the Ping timeout: still trusted
    await clock.advance(0.25)
    await rec.until(lambda: bool(rec.notices(Disconnected)))
    gone = rec.notices(Disconnected)[0]
    assert "Ping" in gone.reason and gone.was_logged_in and gone.at == clock.now
    assert client.stats.ping_timeouts == 1
    fake.silent = False
    await sleeping(clock, 1)  # the reconnect backoff
    await clock.advance(clock.next_wake() - clock.now)  # type: ignore[operator]
    await rec.until(lambda: len(rec.notices(LoggedIn)) == 2)
    assert fake.connections == 2 and client.stats.reconnects == 1
    assert client.stats.ping_timeouts == 1
    await client.close()


def pings(fake: FakeAmi) -> int:
    return len([a for a in fake.actions if a.get("Action") == "Ping"])


async def event_read(fake: FakeAmi, rec: Recorder, n: int) -> None:
    """Write the ``n``-th event of a burst and wait until the client has read it."""
    fake.send_event([("Event", "QueueMember"), ("Queue", "support"), ("Name", f"Agent{n}")])
    await rec.until(lambda: len(rec.events("QueueMember")) == n)


async def test_a_ping_answered_late_while_events_keep_coming_does_not_drop(
    fake: FakeAmi, clock: FakeClock
) -> None:
    """Asterisk answers in order: a Ping behind a 10,000-member QueueStatus and a burst is late
    though the peer is plainly alive. Bytes keep arriving, so the link stays up however late the
    answer; one Ping is in flight at a time."""
    release = asyncio.Event()

    async def late_pong(client: FakeClient, action: dict[str, str]) -> list[Any]:
        await release.wait()
        return [[("Response", "Success"), ("ActionID", action["ActionID"]), ("Ping", "Pong")]]

    fake.handlers["ping"] = late_pong
    client, rec = await connect(fake, clock=clock, ping_interval=0.25, ping_timeout=0.5, action_timeout=2.0)
    await clock.advance(0.25)
    await fake.wait_for_action("Ping")
    for n in range(1, 8):  # an event every 0.25 s: the Ping 1.75 s late, 3.5x its timeout
        await event_read(fake, rec, n)
        await clock.advance(0.25)
    assert not rec.notices(Disconnected) and client.stats.ping_timeouts == 0
    assert pings(fake) == 1  # no second Ping while the first waits
    release.set()
    await until(lambda: len(client._tracker) == 0 and clock.sleeping == 1)  # answered, asleep again
    await clock.advance(0.25)
    await fake.wait_for_action("Ping", count=2)
    await until(lambda: len(client._tracker) == 0 and clock.sleeping == 1)
    assert pings(fake) == 2 and not rec.notices(Disconnected) and client.stats.ping_timeouts == 0
    await client.close()


async def test_a_peer_that_falls_silent_behind_a_late_ping_drops_exactly_at_the_timeout(
    fake: FakeAmi, clock: FakeClock
) -> None:
    """Events keep a late Ping's link up only while they come: once nothing arrives, the drop
    comes exactly ``ping_timeout`` after the last byte, not later."""
    fake.handlers["ping"] = lambda client, action: None  # never answered
    client, rec = await connect(fake, clock=clock, ping_interval=0.25, ping_timeout=0.5, action_timeout=8.0)
    await clock.advance(0.25)
    await fake.wait_for_action("Ping")
    for n in range(1, 4):
        await clock.advance(0.25)
        await event_read(fake, rec, n)  # the last at 0.75 s after the Ping
    await clock.advance(0.375)
    assert not rec.notices(Disconnected)  # silent for 0.375 s of 0.5
    await clock.advance(0.125)
    await rec.until(lambda: bool(rec.notices(Disconnected)))
    gone = rec.notices(Disconnected)[0]
    assert gone.at == clock.now and "nothing received for 0.5s" in gone.reason
    assert client.stats.ping_timeouts == 1 and pings(fake) == 1
    await client.close()


async def test_a_ping_unanswered_past_the_action_timeout_while_events_come_is_logged_not_a_drop(
    fake: FakeAmi, clock: FakeClock
) -> None:
    """Bytes keep coming but no Ping is answered: a backlog, not a death. The Ping that waited the
    action timeout is counted as an action timeout and logged, the next one goes an interval
    later, and once the stream stops the silence drops the link exactly at the timeout of the
    Ping then waiting."""
    fake.handlers["ping"] = lambda client, action: None
    client, rec = await connect(fake, clock=clock, ping_interval=0.25, ping_timeout=0.5, action_timeout=1.0)
    with captured_logs() as logs:
        await clock.advance(0.25)
        await fake.wait_for_action("Ping")
        for n in range(1, 5):  # an event every 0.25 s through the Ping's 1.0 s
            await event_read(fake, rec, n)
            await clock.advance(0.25)
        await until(lambda: client.stats.action_timeouts == 1)
        assert not rec.notices(Disconnected) and client.stats.ping_timeouts == 0
        (late,) = [r for r in logs.at("warning") if r["event"] == "ami_ping_late"]
        assert late["waited"] == 1.0
        assert pings(fake) == 1
        await event_read(fake, rec, 5)
        await clock.advance(0.25)  # the interval: the second Ping, and the stream stops
        await fake.wait_for_action("Ping", count=2)
        await clock.advance(0.375)
        assert not rec.notices(Disconnected)
        await clock.advance(0.125)  # 0.5 s of the second Ping's wait with nothing received
        await rec.until(lambda: bool(rec.notices(Disconnected)))
    gone = rec.notices(Disconnected)[0]
    assert gone.at == clock.now and "nothing received for 0.5s" in gone.reason
    assert client.stats.ping_timeouts == 1 and client.stats.action_timeouts == 1 and pings(fake) == 2
    await client.close()


async def test_float_ping_interval_is_honoured_not_truncated(fake: FakeAmi, clock: FakeClock) -> None:
    client, _ = await connect(fake, clock=clock, ping_interval=0.25, ping_timeout=0.5)
    await clock.advance(0.125)
    assert pings(fake) == 0
    for n in range(1, 5):  # int(0.25) == 0 would send a Ping on every loop turn
        await clock.advance(0.125 if n == 1 else 0.25)
        # answered, and the loop asleep again before time moves on
        await until(lambda n=n: pings(fake) == n and len(client._tracker) == 0 and clock.sleeping == 1)  # type: ignore[misc]
    await clock.advance(0.125)
    assert pings(fake) == 4  # 1.0 s of simulated time at 0.25 s: exactly four
    await client.close()


async def test_reconnect_after_drop_and_resync_on_each_fully_booted(fake: FakeAmi) -> None:
    rec = Recorder()
    results: list[Any] = []
    tasks: set[asyncio.Task[Any]] = set()
    client: AmiClient

    def on_state(notice: ConnectionEvent) -> None:
        rec.on_state(notice)
        if isinstance(notice, FullyBooted):  # what the daemon does
            task = asyncio.get_running_loop().create_task(resync(client))
            tasks.add(task)
            task.add_done_callback(lambda t: results.append(t.result()))

    client = AmiClient(settings(fake.port), on_message=rec.on_message, on_state=on_state)
    await client.start()
    await rec.until(lambda: len(results) == 1)
    fake.drop_all()
    await rec.until(lambda: len(results) == 2)
    assert [type(s) for s in rec.states] == [
        Connected,
        LoggedIn,
        FullyBooted,
        Disconnected,
        Connected,
        LoggedIn,
        FullyBooted,
    ]
    assert rec.notices(Disconnected)[0].was_logged_in
    for result in results:
        assert (result.queues, result.members, result.channel_count, result.retries) == (1, 1, 1, 0)
    assert client.stats.reconnects == 1 and fake.connections == 2
    await client.close()


async def test_asterisk_restart_reconnects_after_refused_period(fake: FakeAmi, clock: FakeClock) -> None:
    client, rec = make_client(
        fake,
        clock=clock,
        client={"uniform": lambda low, high: high},  # no jitter: the delays are exact
        reconnect_min=0.125,
        reconnect_max=0.5,
        **PATIENT,
    )
    await client.start()
    await rec.until(lambda: client.connected)
    fake.send_event([("Event", "Shutdown"), ("Shutdown", "Cleanly"), ("Restart", "True")])
    await rec.until(lambda: bool(rec.events("Shutdown")))
    await fake.refuse()
    fake.drop_all()
    await rec.until(lambda: bool(rec.notices(Disconnected)))
    assert rec.notices(Disconnected)[0].reason == "Asterisk shut down"
    # Asterisk refuses connections while it restarts: each refused attempt doubles the delay.
    delays = []
    for attempts in range(1, 5):
        await sleeping(clock, attempts, client)
        delay = clock.next_wake() - clock.now  # type: ignore[operator]
        delays.append(delay)
        if attempts < 4:
            await clock.advance(delay)
    assert delays == [0.125, 0.25, 0.5, 0.5]
    assert client.stats.connect_attempts == 4
    await fake.accept_again()
    await clock.advance(0.5)
    await rec.until(lambda: len(rec.notices(FullyBooted)) == 2)
    assert client.stats.connect_attempts == 5
    await client.close()


async def test_wrong_secret_clear_error_slow_retry_never_a_tight_loop(clock: FakeClock) -> None:
    fake = await FakeAmi(clock=clock).start()
    client, rec = make_client(
        fake,
        clock=clock,
        client={"uniform": lambda low, high: (low + high) / 2},
        secret="wrong-secret-XYZ",
        auth_retry=0.25,  # times 1.0
        **PATIENT,
    )
    try:
        with captured_logs("debug") as logs:
            await client.start()
            for attempts in range(1, 5):
                await until(lambda a=attempts: len(rec.notices(AuthFailed)) == a)  # type: ignore[misc]
                await sleeping(clock, 1)
                if attempts < 4:
                    await clock.advance(0.25)
        # One refused login per auth_retry of simulated time, never a tight loop.
        assert len(fake.login_attempts) == 4
        gaps = [b - a for a, b in zip(fake.login_attempts, fake.login_attempts[1:], strict=False)]
        assert gaps == [0.25, 0.25, 0.25]
        # Each refusal is reported once, with Asterisk's words and the delay; the owner logs it
        # (the daemon: tests/test_commands.py), the client does not.
        failed = rec.notices(AuthFailed)
        assert [(f.message, f.retry_in) for f in failed] == [("Authentication failed", 0.25)] * 4
        assert logs.at("warning", "error") == []
        assert client.stats.auth_failures == 4 and not client.connected
        text = logs.stream.getvalue() + repr(client) + str(client.stats) + repr(failed)
        assert "wrong-secret-XYZ" not in text
    finally:
        await client.close()
        await fake.close()


async def test_unreachable_asterisk_is_reported_once_per_attempt(clock: FakeClock) -> None:
    fake = await FakeAmi(clock=clock).start()
    port = fake.port
    await fake.close()  # nothing listens there now
    rec = Recorder()
    client = AmiClient(
        settings(port, **PATIENT),
        on_message=rec.on_message,
        on_state=rec.on_state,
        clock=clock,
        sleep=clock.sleep,
        uniform=lambda low, high: (low + high) / 2,
    )
    try:
        with captured_logs("debug") as logs:
            await client.start()
            await until(lambda: len(rec.notices(ConnectFailed)) == 1)
            await sleeping(clock, 1)
        failed = rec.notices(ConnectFailed)
        assert failed[0].attempt == 1 and failed[0].retry_in > 0 and failed[0].error
        assert rec.notices(Disconnected) == []  # no session began, so none ended
        assert logs.at("warning", "error") == []  # reported, not logged: the owner decides
    finally:
        await client.close()


async def test_secret_never_in_logs_or_repr_on_success(fake: FakeAmi) -> None:
    with captured_logs("debug") as logs:
        client, _ = await connect(fake)
        await client.send_action({"Action": "Ping"})
        await client.close()
    text = logs.stream.getvalue()
    assert SECRET not in text and SECRET not in repr(client) and SECRET not in repr(client._settings)
    assert fake.actions[0]["Secret"] == SECRET  # it was sent, to Asterisk only


async def test_originate_is_not_resent_after_reconnect_but_a_read_is(fake: FakeAmi) -> None:
    first_connection: list[FakeClient] = []

    def hold_on_first(client: FakeClient, action: dict[str, str]) -> list[Any] | None:
        if not first_connection:
            first_connection.append(client)
        if client is first_connection[0]:
            return None  # the connection will drop before any answer
        aid = action["ActionID"]
        return [
            [("Response", "Success"), ("ActionID", aid), ("EventList", "start")],
            [
                ("Event", "QueueStatusComplete"),
                ("ActionID", aid),
                ("EventList", "Complete"),
                ("ListItems", "0"),
            ],
        ]

    fake.handlers["originate"] = lambda client, action: None
    fake.handlers["queuestatus"] = hold_on_first
    client, _ = await connect(fake, action_timeout=3.0)
    originate = asyncio.create_task(client.send_action({"Action": "Originate", "Channel": "Local/1@x"}))
    status = asyncio.create_task(client.send_action({"Action": "QueueStatus"}))
    await fake.wait_for_action("QueueStatus")
    await fake.wait_for_action("Originate")
    fake.drop_all()
    with pytest.raises(AmiConnectionLost, match="Originate"):
        await originate
    result = await asyncio.wait_for(status, 3.0)
    assert result.complete is not None
    assert len([a for a in fake.actions if a.get("Action") == "Originate"]) == 1
    assert len([a for a in fake.actions if a.get("Action") == "QueueStatus"]) == 2
    assert client.stats.actions_resent == 1
    await client.close()


async def test_close_during_backoff_returns_promptly_and_leaves_no_task(
    fake: FakeAmi, clock: FakeClock
) -> None:
    await fake.refuse()
    client, _ = make_client(fake, clock=clock, reconnect_min=5.0, reconnect_max=10.0, **PATIENT)
    await client.start()
    await sleeping(clock, 1, client)  # now in a >= 5 s backoff
    before = clock.now
    await asyncio.wait_for(client.close(), DEADLINE)  # no simulated time needed to close
    assert clock.now == before and clock.sleeping == 0
    assert acd_tasks() == []
    await fake.accept_again()
    await clock.advance(60.0)
    assert fake.connections == 0  # really stopped: no timer fired a late reconnect
    await client.close()  # idempotent


async def test_close_while_connected_logs_off_and_fails_pending(fake: FakeAmi, clock: FakeClock) -> None:
    fake.handlers["getvar"] = lambda client, action: None
    client, rec = await connect(fake, clock=clock, ping_interval=0.25)
    pending = asyncio.create_task(client.send_action({"Action": "Getvar", "Variable": "X"}, timeout=5.0))
    await fake.wait_for_action("Getvar")
    await client.close()
    with pytest.raises(AmiNotConnected):
        await pending
    assert fake.actions[-1]["Action"] == "Logoff"
    assert acd_tasks() == [] and not client.connected
    with pytest.raises(AmiNotConnected):
        await client.send_action({"Action": "Ping"})
    await clock.advance(10.0)
    assert fake.connections == 1 and clock.sleeping == 0
    assert rec.notices(Disconnected)[-1].reason == "closed"


async def test_start_twice_is_an_error(fake: FakeAmi) -> None:
    client, _ = await connect(fake)
    with pytest.raises(RuntimeError):
        await client.start()
    await client.close()


async def test_refused_connections_back_off_within_bounds(fake: FakeAmi, clock: FakeClock) -> None:
    await fake.refuse()
    rec = Recorder()
    draws: list[tuple[float, float]] = []

    def lowest(low: float, high: float) -> float:
        draws.append((low, high))
        return low

    client, rec = make_client(
        fake, rec, clock=clock, client={"uniform": lowest}, reconnect_min=0.125, reconnect_max=0.5, **PATIENT
    )
    await client.start()
    delays = []
    for attempts in range(1, 7):
        await sleeping(clock, attempts, client)
        delay = clock.next_wake() - clock.now  # type: ignore[operator]
        delays.append(delay)
        await clock.advance(delay)
    # Equal jitter over min * 2**n capped at max, never below min: the lowest draws give exactly
    # these delays; the draws' ranges show the doubling and the cap.
    assert delays == [0.125, 0.125, 0.25, 0.25, 0.25, 0.25]
    assert draws[:4] == [(0.0625, 0.125), (0.125, 0.25), (0.25, 0.5), (0.25, 0.5)]
    assert "connect call failed" in (client.stats.last_error or "").lower()
    assert rec.notices(Disconnected) == []  # never connected: nothing to report as lost
    await fake.accept_again()
    await sleeping(clock, 7, client)
    await clock.advance(0.25)
    await rec.until(lambda: client.connected)
    await client.close()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl binary not available to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_session_with_a_trusted_certificate(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server = await FakeAmi(ssl_context=server_ctx).start()
    try:
        client_ctx = ssl.create_default_context(cafile=str(cert))
        rec = Recorder()
        client = AmiClient(
            settings(server.port, tls=True),
            on_message=rec.on_message,
            on_state=rec.on_state,
            ssl_context=client_ctx,
        )
        await client.start()
        await rec.until(lambda: bool(rec.notices(FullyBooted)))
        assert (await client.send_action({"Action": "Ping"})).response["Ping"] == "Pong"
        await client.close()
    finally:
        await server.close()


async def test_tls_with_an_untrusted_certificate_is_a_connect_error_not_a_crash(
    tls_files: tuple[Path, Path],
) -> None:
    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server = await FakeAmi(ssl_context=server_ctx).start()
    try:
        rec = Recorder()
        client = AmiClient(settings(server.port, tls=True), on_message=rec.on_message, on_state=rec.on_state)
        await client.start()
        await rec.until(lambda: client.stats.connect_attempts >= 2)
        assert not client.connected
        assert "certificate" in (client.stats.last_error or "").lower()
        await client.close()
        assert acd_tasks() == []
    finally:
        await server.close()


async def test_booted_fallback_stands_in_when_fully_booted_never_comes(
    fake: FakeAmi, clock: FakeClock
) -> None:
    fake.fully_booted = False  # as for a manager user without read class 'system'
    client, rec = make_client(fake, clock=clock, client={"booted_fallback": 0.25})
    await client.start()
    await rec.until(lambda: client.connected and clock.sleeping == 2)  # the Ping loop and the boot timer
    await clock.advance(0.125)
    assert not rec.notices(FullyBooted)
    await clock.advance(0.125)
    [booted] = rec.notices(FullyBooted)
    assert booted.synthetic and booted.headers == {} and booted.at == clock.now
    await client.close()


async def test_booted_fallback_is_not_used_when_fully_booted_arrives(fake: FakeAmi, clock: FakeClock) -> None:
    client, rec = make_client(fake, clock=clock, client={"booted_fallback": 0.25})
    await client.start()
    await rec.until(lambda: bool(rec.notices(FullyBooted)) and clock.sleeping == 1)  # the Ping loop only
    await clock.advance(1.0)
    assert [n.synthetic for n in rec.notices(FullyBooted)] == [False]
    await client.close()


async def test_an_unexpected_error_in_a_session_does_not_end_reconnecting(fake: FakeAmi) -> None:
    rec = Recorder()
    client = AmiClient(settings(fake.port), on_message=rec.on_message, on_state=rec.on_state)
    real_login = client._login
    calls: list[int] = []

    async def flaky_login(*args: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("bug")
        await real_login(*args)

    client._login = flaky_login  # type: ignore[method-assign]
    await client.start()
    await rec.until(lambda: client.connected)
    assert len(calls) == 2 and fake.connections == 2
    await client.close()


async def test_close_while_the_login_is_unanswered_returns_promptly(fake: FakeAmi, clock: FakeClock) -> None:
    fake.silent = True
    client, rec = make_client(fake, clock=clock, action_timeout=30.0)
    await client.start()
    await fake.wait_for_action("Login")
    before = clock.now
    await asyncio.wait_for(client.close(), DEADLINE)  # without waiting out the login's timeout
    assert clock.now == before
    assert acd_tasks() == [] and not client.connected
    assert [type(n) for n in rec.states] == [Connected, Disconnected]


async def test_a_message_cut_by_a_disconnect_is_reported(fake: FakeAmi) -> None:
    client, rec = await connect(fake)
    await fake.send_pieces([b"Event: Hangup\r\nChannel: Local/1001@agents-0000"])
    fake.drop_all()
    await rec.until(lambda: bool(rec.notices(Disconnected)))
    [cut] = [n for n in rec.notices(WireAnomaly) if n.kind == "truncated"]
    assert "unfinished message" in cut.detail
    assert not rec.events("Hangup")
    await rec.until(lambda: client.connected)  # and the next session starts clean
    fake.send_event({"Event": "Next"})
    await rec.until(lambda: bool(rec.events("Next")))
    assert [n.kind for n in rec.notices(WireAnomaly)] == ["truncated"]
    await client.close()


async def test_action_ids_differ_between_clients(fake: FakeAmi) -> None:
    first, _ = await connect(fake)
    second, _ = await connect(fake)
    a = await first.send_action({"Action": "Ping"})
    b = await second.send_action({"Action": "Ping"})
    assert a.action_id.startswith("acd-") and a.action_id.rsplit("-", 1)[0] != b.action_id.rsplit("-", 1)[0]
    await first.close()
    await second.close()


async def test_a_pending_read_is_resent_only_once_asterisk_is_fully_booted(fake: FakeAmi) -> None:
    answered: list[FakeClient] = []

    def second_connection_only(client: FakeClient, action: dict[str, str]) -> list[Any] | None:
        if fake.connections < 2:
            return None
        answered.append(client)
        aid = action["ActionID"]
        return [
            [("Response", "Success"), ("ActionID", aid), ("EventList", "start")],
            [
                ("Event", "CoreShowChannelsComplete"),
                ("ActionID", aid),
                ("EventList", "Complete"),
                ("ListItems", "0"),
            ],
        ]

    fake.handlers["coreshowchannels"] = second_connection_only
    client, rec = await connect(fake, action_timeout=3.0)
    pending = asyncio.create_task(client.send_action({"Action": "CoreShowChannels"}))
    await fake.wait_for_action("CoreShowChannels")
    fake.fully_booted = False  # the restarted Asterisk is still booting when it accepts the login
    fake.drop_all()
    await rec.until(lambda: len(rec.notices(LoggedIn)) == 2)
    await asyncio.sleep(0.1)
    assert len([a for a in fake.actions if a["Action"] == "CoreShowChannels"]) == 1  # held back
    fake.send_event(FULLY_BOOTED)
    result = await asyncio.wait_for(pending, 3.0)
    assert result.is_list and len(answered) == 1
    assert len([a for a in fake.actions if a["Action"] == "CoreShowChannels"]) == 2
    await client.close()
