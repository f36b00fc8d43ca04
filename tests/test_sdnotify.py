"""sd_notify against a datagram socket the test owns, as systemd's would be."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from acd.sdnotify import Notifier, watchdog_loop
from tests.support.clock import FakeClock, settle
from tests.support.waiting import DEADLINE, until, wait_until


class Systemd:
    """A stand-in for systemd's notify socket: records each datagram with its arrival time."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address.replace("@", "\0", 1) if address.startswith("@") else address)
        self.sock.settimeout(0.05)
        self.address = address
        self.received: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received.append((time.monotonic(), data.decode()))

    def messages(self) -> list[str]:
        return [m for _, m in self.received]

    def wait_for(self, count: int, timeout: float = DEADLINE) -> list[str]:
        """The messages once ``count`` arrived (at once when they have), or all there are after a
        generous ``timeout`` (the test judges)."""
        wait_until(lambda: len(self.received) >= count, timeout, interval=0.005, fail=False)
        return self.messages()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        self.sock.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[Systemd]:
    fake = Systemd(str(tmp_path / "notify"))
    yield fake
    fake.close()


def test_ready_status_stopping_are_single_datagrams(systemd: Systemd) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": systemd.address})
    assert notifier.enabled
    assert notifier.ready()
    assert notifier.status("AMI connected\nREADY=1, 120 events/s")
    assert notifier.ready(status="database open; AMI reconnecting")
    assert notifier.stopping()
    assert notifier.extend_timeout(2.5)
    assert systemd.wait_for(5) == [
        "READY=1",
        "STATUS=AMI connected READY=1, 120 events/s",  # a status cannot inject a second line
        "READY=1\nSTATUS=database open; AMI reconnecting",
        "STOPPING=1",
        "EXTEND_TIMEOUT_USEC=2500000",
    ]
    assert notifier.sent == 5
    notifier.close()


def test_abstract_namespace_socket() -> None:
    fake = Systemd(f"@acd-test-{uuid.uuid4().hex}")
    try:
        notifier = Notifier({"NOTIFY_SOCKET": fake.address})
        assert notifier.ready()
        assert fake.wait_for(1) == ["READY=1"]
    finally:
        fake.close()


def test_without_systemd_everything_is_a_no_op() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.status("x")
    assert not notifier.watchdog()
    assert not notifier.stopping()
    assert notifier.watchdog_interval() is None
    assert not Notifier({"NOTIFY_SOCKET": "relative/path"}).enabled


def test_a_vanished_socket_does_not_raise(tmp_path: Path) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert notifier.enabled
    assert not notifier.ready()
    assert notifier.sent == 0


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "20000000"}, 10.0),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())}, 10.0),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_PID": str(os.getpid())}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_sec(env: dict[str, str], expected: float | None) -> None:
    assert Notifier(env).watchdog_interval() == expected


async def test_watchdog_pings_once_per_interval_from_the_loop_and_never_catches_up(
    systemd: Systemd, clock: FakeClock
) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": systemd.address, "WATCHDOG_USEC": "500000"})
    interval = notifier.watchdog_interval()
    assert interval == 0.25
    task = asyncio.create_task(watchdog_loop(notifier, interval, sleep=clock.sleep))
    try:
        await settle()
        assert notifier.sent == 1  # the first ping at once
        for _ in range(8):
            await clock.advance(0.25)
        assert notifier.sent == 9  # then one per interval: 2 s of simulated time, 8 more
        clock.now += 5.0  # the loop is stuck in a blocking call: time passes, nothing runs
        assert notifier.sent == 9, "nothing pings while the loop is blocked"
        await clock.advance(0)  # the loop runs again: one ping, not a burst of missed ones
        assert notifier.sent == 10
        assert set(systemd.wait_for(10)) == {"WATCHDOG=1"}
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_watchdog_withholds_pings_while_unhealthy(systemd: Systemd, clock: FakeClock) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": systemd.address})
    state = {"ok": True}
    task = asyncio.create_task(watchdog_loop(notifier, 0.25, healthy=lambda: state["ok"], sleep=clock.sleep))
    try:
        await settle()
        await clock.advance(0.5)
        assert notifier.sent == 3
        state["ok"] = False
        await clock.advance(1.0)
        assert notifier.sent == 3
        state["ok"] = True
        await clock.advance(0.25)
        assert notifier.sent == 4
    finally:
        task.cancel()


async def test_watchdog_rejects_a_non_positive_interval() -> None:
    with pytest.raises(ValueError, match="positive"):
        await watchdog_loop(Notifier({}), 0)


# --- the daemon speaks the protocol: READY after the database and listeners, STATUS, STOPPING ------


class _ReadyProbe(Notifier):
    """A real Notifier that also notes, at the instant READY is sent, what was already open."""

    def __init__(self, environ: dict[str, str], http_port: Callable[[], int | None], db: Path) -> None:
        super().__init__(environ)
        self._http_port = http_port
        self._db = db
        self.at_ready: dict[str, bool] | None = None

    def notify(self, *assignments: str) -> bool:
        if "READY=1" in assignments and self.at_ready is None:
            port = self._http_port()
            listening = False
            if port:
                with socket.socket() as probe:
                    listening = probe.connect_ex(("127.0.0.1", port)) == 0
            self.at_ready = {"http_listening": listening, "database_exists": self._db.exists()}
        return super().notify(*assignments)


async def test_daemon_notifies_ready_status_watchdog_and_stopping(systemd: Systemd, tmp_path: Path) -> None:
    from acd.daemon import Daemon
    from acd.settings import Settings
    from tests.support.fake_ami import FakeAmi

    fake = await FakeAmi().start()
    db = tmp_path / "acd.db"
    settings = Settings(
        ami={"host": "127.0.0.1", "port": fake.port, "username": "acd", "secret": fake.secret},  # type: ignore[arg-type]
        database={"url": f"sqlite+aiosqlite:///{db}", "spool_dir": str(tmp_path / "spool")},  # type: ignore[arg-type]
        http={"host": "127.0.0.1", "port": 0},  # type: ignore[arg-type]
        routing={"host": "127.0.0.1", "port": 0},  # type: ignore[arg-type]
        queue_log={"path": str(tmp_path / "queue_log")},  # type: ignore[arg-type]  # not the machine's
    )
    holder: dict[str, Daemon] = {}
    notifier = _ReadyProbe(
        {"NOTIFY_SOCKET": systemd.address, "WATCHDOG_USEC": "200000"},
        lambda: holder["daemon"].http_port if "daemon" in holder else None,
        db,
    )
    daemon = Daemon(settings, notifier=notifier)
    holder["daemon"] = daemon
    try:
        await daemon.start()
        assert notifier.at_ready == {"http_listening": True, "database_exists": True}

        async def messages_once(predicate: Callable[[list[str]], bool], timeout: float) -> list[str]:
            await until(lambda: predicate(systemd.messages()), timeout, interval=0.02, fail=False)
            return systemd.messages()

        got = await messages_once(lambda m: any("AMI connected" in x for x in m), 5)
        assert [m for m in got if m.startswith("READY=1")], got
        assert any(m.startswith("STATUS=") and "AMI connected" in m for m in got), got
        got = await messages_once(lambda m: m.count("WATCHDOG=1") >= 3, 3)
        assert got.count("WATCHDOG=1") >= 3, got

        await fake.refuse()
        fake.drop_all()
        got = await messages_once(lambda m: any("AMI reconnecting" in x for x in m), 8)
        assert any("AMI reconnecting" in x for x in got), got
    finally:
        await daemon.stop()
        await fake.close()
    # sent before stop() returned; the receiving thread may still be reading it
    wait_until(lambda: any(m.startswith("STOPPING=1") for m in systemd.messages()), what="STOPPING=1")
    got = systemd.messages()
    stopping = [i for i, m in enumerate(got) if m.startswith("STOPPING=1")]
    ready = next(i for i, m in enumerate(got) if m.startswith("READY=1"))
    assert ready < stopping[0]
