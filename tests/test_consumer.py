"""The consumer is visible: queue depth, receipt-to-handling lag, Asterisk's Timestamp lag, and
progress for the systemd watchdog; the AMI client's own counters and failed resyncs are exported,
and a failed resync is retried with back-off. Time is simulated wherever it matters."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from acd.consumer import CHUNK, Consumer
from acd.core.effects import Effect
from acd.daemon import Daemon
from acd.sdnotify import Notifier, watchdog_loop
from acd.settings import Settings
from tests.support.clock import FakeClock, settle
from tests.support.fake_ami import FakeAmi, FakeClient
from tests.support.waiting import until


class Wall:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(wall: Wall, applied: list[str], markers: list[Any], errors: list[str]) -> Consumer:
    def apply(headers: Mapping[str, str], at: float) -> list[Effect]:
        if headers.get("Event") == "Boom":
            raise RuntimeError("core bug")
        applied.append(headers["Event"])
        return []

    return Consumer(
        apply,
        lambda headers, received: received,
        lambda effects: None,
        count_event=lambda name, n: None,
        on_marker=lambda item, received: markers.append(item),
        on_error=lambda headers, exc: errors.append(str(exc)),
        wall=wall,
        batch=3,
    )


async def test_events_and_markers_in_arrival_order_a_core_error_loses_nothing_else() -> None:
    wall, applied, markers, errors = Wall(), [], [], []  # type: ignore[var-annotated]
    consumer = make(wall, applied, markers, errors)
    for item in ({"Event": "A"}, "resync-begin", {"Event": "Boom"}, {"Event": "B"}, "resync-end"):
        consumer.put(item, wall.now)
    task = asyncio.create_task(consumer.run())
    await until(lambda: not consumer.queue)
    task.cancel()
    assert applied == ["A", "B"] and markers == ["resync-begin", "resync-end"]
    assert errors == ["core bug"] and consumer.events == 3 and consumer.taken == 5
    assert consumer.max_depth == 5


async def test_a_reads_events_put_at_once_keep_their_place_and_receipt_time() -> None:
    wall, applied, markers, errors = Wall(), [], [], []  # type: ignore[var-annotated]
    consumer = make(wall, applied, markers, errors)
    consumer.put("resync-begin", 999.0)
    consumer.put_many([{"Event": "A"}, {"Event": "B"}, {"Event": "C"}, {"Event": "D"}], 1000.5)
    consumer.put("resync-end", 1001.0)
    assert [received for _, received in consumer.queue] == [999.0, 1000.5, 1000.5, 1000.5, 1000.5, 1001.0]
    task = asyncio.create_task(consumer.run())
    await until(lambda: not consumer.queue)
    assert applied == ["A", "B", "C", "D"] and markers == ["resync-begin", "resync-end"]
    consumer.put_many([{"Event": "E"}], 1002.0)  # wakes a consumer waiting on an empty queue
    await until(lambda: applied[-1:] == ["E"])
    task.cancel()
    assert consumer.events == 5 and consumer.taken == 7


async def test_a_turn_of_the_loop_ends_when_its_time_budget_is_spent() -> None:
    """A burst is handled in short turns, so the loop's timers and reads are never held long: the
    turn stops at the first look at the (injected) timer past its budget, and the rest waits."""
    ticks = iter(range(1_000_000))
    applied: list[str] = []
    consumer = Consumer(
        lambda headers, at: applied.append(headers["Event"]) or [],  # type: ignore[func-returns-value]
        lambda headers, received: received,
        lambda effects: None,
        count_event=lambda name, n: None,
        on_marker=lambda item, received: None,
        on_error=lambda headers, exc: None,
        budget=1.5,  # the timer moves 1 per look: a turn ends after its second chunk
        timer=lambda: float(next(ticks)),
    )
    consumer.put_many([{"Event": f"E{i}"} for i in range(200)], 0.0)
    turns: list[int] = []
    consumer.lag_observer = lambda lag: turns.append(len(consumer.queue))
    task = asyncio.create_task(consumer.run())
    await until(lambda: not consumer.queue)
    task.cancel()
    assert turns == list(range(200, 0, -2 * CHUNK))  # two chunks per turn
    assert len(applied) == 200 and consumer.events == 200


async def test_events_the_core_has_no_handler_for_are_counted_not_applied() -> None:
    counted: dict[str, int] = {}
    applied: list[str] = []
    consumer = Consumer(
        lambda headers, at: applied.append(headers["Event"]) or [],  # type: ignore[func-returns-value]
        lambda headers, received: received,
        lambda effects: None,
        count_event=lambda name, n: counted.update({name: counted.get(name, 0) + n}),
        on_marker=lambda item, received: None,
        on_error=lambda headers, exc: None,
        handled=frozenset({"Hangup"}),
    )
    for name in ("VarSet", "Hangup", "Newexten", "VarSet"):
        consumer.put({"Event": name}, 0.0)
    task = asyncio.create_task(consumer.run())
    await until(lambda: not consumer.queue)
    task.cancel()
    assert counted == {"VarSet": 2, "Hangup": 1, "Newexten": 1} and applied == ["Hangup"]
    assert consumer.events == 4


async def test_lags_are_sampled_once_per_batch_from_the_oldest_event() -> None:
    wall, applied, markers, errors = Wall(), [], [], []  # type: ignore[var-annotated]
    consumer = make(wall, applied, markers, errors)
    seen: list[float] = []
    consumer.lag_observer = seen.append
    for i in range(5):  # read 4.0 .. 0.0 s ago; the last carries Asterisk's Timestamp
        headers = {"Event": f"E{i}"}
        if i == 4:
            headers["Timestamp"] = f"{wall.now - 6.5:.6f}"
        consumer.put(headers, wall.now - 4.0 + i)
    assert consumer.oldest_wait() == 4.0
    task = asyncio.create_task(consumer.run())
    await until(lambda: not consumer.queue)
    task.cancel()
    # batches of 3: the first one's oldest waited 4 s, the second one's (E3) 1 s
    assert seen == [4.0, 1.0]
    assert consumer.asterisk_lag == pytest.approx(6.5)
    assert consumer.oldest_wait() == 0.0


async def test_watchdog_pings_only_while_the_consumer_makes_progress(tmp_path: Path) -> None:
    clock = FakeClock()
    wall, applied, markers, errors = Wall(), [], [], []  # type: ignore[var-annotated]
    consumer = make(wall, applied, markers, errors)
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})  # sends fail: count attempts
    pings: list[bool] = []
    notifier.watchdog = lambda: pings.append(True) or True  # type: ignore[method-assign]
    watchdog = asyncio.create_task(
        watchdog_loop(notifier, 1.0, healthy=consumer.progressing, sleep=clock.sleep)
    )
    await settle()
    await clock.advance(2.0)
    assert len(pings) == 3  # idle: an empty queue is progress
    consumer.put({"Event": "A"}, wall.now)  # an event arrives, and the consumer task is stuck
    await clock.advance(1.0)
    assert len(pings) == 3, "a queue that does not move withholds the ping"
    await clock.advance(5.0)
    assert len(pings) == 3
    task = asyncio.create_task(consumer.run())  # the consumer moves again
    await until(lambda: not consumer.queue)
    await clock.advance(1.0)
    assert len(pings) == 4
    watchdog.cancel()
    task.cancel()


def samples(daemon: Daemon) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(daemon.metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def daemon_on(fake: FakeAmi, tmp_path: Path, clock: FakeClock) -> Daemon:
    settings = Settings(
        ami={"port": fake.port, "secret": fake.secret, "action_timeout": 1.0, "ping_interval": 3600},  # type: ignore[arg-type]
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'acd.db'}", "spool_dir": str(tmp_path / "j")},  # type: ignore[arg-type]
        http={"port": 0},  # type: ignore[arg-type]
        routing={"port": 0},  # type: ignore[arg-type]
        affinity={"mirror_members": False},  # type: ignore[arg-type]
        queue_log={"path": str(tmp_path / "queue_log")},  # type: ignore[arg-type]  # not the machine's
    )
    return Daemon(settings, sleep=clock.sleep)


async def test_a_failed_resync_is_retried_with_backoff_and_counted(tmp_path: Path) -> None:
    clock = FakeClock()
    fake = await FakeAmi().start()
    answered = fake._on_queuestatus  # the default answer, once Asterisk is responsive again
    calls: list[int] = []

    async def slow_then_fine(client: FakeClient, action: dict[str, str]) -> None:
        calls.append(1)
        if len(calls) > 2:  # the first resync's QueueStatus and its one retry go unanswered
            await answered(client, action, action["ActionID"])

    fake.handlers["queuestatus"] = slow_then_fine
    daemon = daemon_on(fake, tmp_path, clock)
    try:
        await daemon.start()
        for n in (1, 2):
            await until(lambda n=n: len(calls) == n)  # type: ignore[misc]
            await until(lambda: clock.next_wake() == clock.now + 1.0)  # the action's timeout
            await clock.advance(1.0)
        await until(lambda: daemon.stats.resync_failures == 1)
        assert samples(daemon)[("acd_resync_failures_total", ())] == 1
        assert daemon.stats.resyncs == 1 and daemon.core.resync is None  # aborted: nothing reconciled
        # retried after the back-off (1 s on the first failure), not at the next reconnect
        await until(lambda: clock.next_wake() == clock.now + 1.0)
        await clock.advance(1.0)
        await until(lambda: daemon.stats.resyncs == 2 and len(calls) == 3)
        await until(lambda: not daemon.queue)
        assert daemon.stats.resync_failures == 1 and fake.connections == 1
        exported = samples(daemon)
        assert exported[("acd_ami_problems_total", (("kind", "action_timeout"),))] == 2
        assert exported[("acd_ami_problems_total", (("kind", "login_failure"),))] == 0
    finally:
        await daemon.stop()
        await fake.close()


async def test_the_daemon_exports_its_consumer(tmp_path: Path) -> None:
    clock = FakeClock()
    fake = await FakeAmi().start()
    daemon = daemon_on(fake, tmp_path, clock)
    try:
        await daemon.start()
        await until(lambda: daemon.stats.resyncs >= 1 and not daemon.queue)
        fake.client.write(b"Event: Newchannel\r\nthis line has no colon\r\nUniqueid: 1.2\r\n\r\n")
        fake.send_event({"Event": "Newchannel", "Timestamp": "1000.0", "Uniqueid": "1.1", "Channel": "x"})
        await until(lambda: samples(daemon).get(("acd_ami_problems_total", (("kind", "wire_anomaly"),))) == 1)
        # Counted when read; handled on a later turn of the loop: wait for the consumer too.
        await until(lambda: daemon.consumer.asterisk_lag is not None and not daemon.queue)
        exported = samples(daemon)
        assert exported[("acd_event_queue_depth", ())] == 0
        assert exported[("acd_event_queue_oldest_seconds", ())] == 0
        assert exported[("acd_event_handling_lag_seconds_count", ())] >= 1
        assert ("acd_event_asterisk_lag_seconds", ()) in exported  # Timestamp seen, speed 1
        for kind in ("handler_error", "login_failure", "ping_timeout", "action_timeout"):
            assert exported[("acd_ami_problems_total", (("kind", kind),))] == 0
    finally:
        await daemon.stop()
        await fake.close()
