"""A small, real asyncio TCP stand-in for Asterisk's manager interface, for the AMI edge tests.

It speaks the wire as the captures in tests/fixtures/ami show it (banner line, CRLF framing, login
answers, EventList lists) and can misbehave on demand: refuse the login, go silent while keeping the
socket open, drop every connection, refuse connections (listener closed), answer late or never, and
write raw bytes in chosen pieces (a UTF-8 character split over two reads).

The server side is deliberately independent of acd.ami: it parses actions and writes messages with
its own few lines, so a bug in acd's codec cannot hide itself here. Binds 127.0.0.1 on a free port
only. At the bottom: client-side helpers (settings with tiny intervals, a recorder of what the
daemon would see) shared by the tests/test_ami_*.py modules. The secret is random per session.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from acd.ami.connection import AmiClient, ConnectionEvent
from acd.settings import AmiSettings
from tests.support.clock import FakeClock
from tests.support.credentials import AMI_SECRET
from tests.support.waiting import until

BANNER = "Asterisk Call Manager/11.0.0"
SECRET = AMI_SECRET
Headers = Sequence[tuple[str, str]] | dict[str, str]
# A handler gets the action's headers and returns the messages to answer with (None: no answer).
Handler = Callable[["FakeClient", dict[str, str]], "list[Headers] | Awaitable[list[Headers] | None] | None"]


def encode(headers: Headers) -> bytes:
    items = headers.items() if isinstance(headers, dict) else headers
    return ("".join(f"{k}: {v}\r\n" for k, v in items) + "\r\n").encode("utf-8")


def parse_action(block: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in block.split("\r\n"):
        if line:
            key, _, value = line.partition(": ")
            out[key] = value
    return out


@dataclass
class FakeClient:
    """One accepted connection, as the server sees it."""

    server: FakeAmi
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    logged_in: bool = False
    actions: list[dict[str, str]] = field(default_factory=list)

    def write(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def send(self, headers: Headers) -> None:
        self.write(encode(headers))

    def abort(self) -> None:
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()


FULLY_BOOTED: list[tuple[str, str]] = [
    ("Event", "FullyBooted"),
    ("Privilege", "system,all"),
    ("Uptime", "12"),
    ("LastReload", "12"),
    ("Status", "Fully Booted"),
]


def queue_member(queue: str, name: str, location: str, action_id: str) -> list[tuple[str, str]]:
    return [
        ("Event", "QueueMember"),
        ("Queue", queue),
        ("Name", name),
        ("Location", location),
        ("StateInterface", location),
        ("Membership", "dynamic"),
        ("Penalty", "0"),
        ("CallsTaken", "0"),
        ("LastCall", "0"),
        ("LastPause", "0"),
        ("LoginTime", "1795879274"),
        ("InCall", "0"),
        ("Status", "1"),
        ("Paused", "0"),
        ("PausedReason", ""),
        ("Wrapuptime", "0"),
        ("ActionID", action_id),
    ]


class FakeAmi:
    """The fake server. ``await FakeAmi().start()``; ``port`` is the bound port; ``close()`` at the end.

    Knobs (plain attributes, change them at any time):
    - ``username``/``secret``: what Login accepts; ``auth_delay``: seconds before a refusal is sent
      (Asterisk waits ~1 s), after which the connection is closed as Asterisk does;
    - ``fully_booted``: send FullyBooted right after a successful login (False: the test sends it);
    - ``silent``: read actions but answer none (a hung or half-open Asterisk);
    - ``handlers``: action name (lower case) -> :data:`Handler`, overriding the defaults;
    - ``members``/``channels``: what QueueStatus and CoreShowChannels list.
    """

    def __init__(
        self,
        *,
        username: str = "acd",
        secret: str = SECRET,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.clock = clock  # what login_attempts are stamped with (a test's simulated clock)
        self.username = username
        self.secret = secret
        self.ssl_context = ssl_context
        self.auth_delay = 0.0
        self.fully_booted = True
        self.silent = False
        self.banner = BANNER
        self.handlers: dict[str, Handler] = {}
        self.members: list[tuple[str, str, str]] = [("support", "Alice", "Local/1001@agents")]
        self.channels: list[str] = ["Local/1001@agents-00000001;1"]
        self.clients: list[FakeClient] = []
        self.connections = 0
        self.login_attempts: list[float] = []  # times (self.clock) of every Login received
        self.actions: list[dict[str, str]] = []  # every action, all connections, in order
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._action_seen = asyncio.Condition()

    async def start(self) -> FakeAmi:
        await self._listen(0)
        return self

    async def _listen(self, port: int) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", port, ssl=self.ssl_context, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def refuse(self) -> None:
        """Close the listener: new connections are refused until :meth:`accept_again`."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def accept_again(self) -> None:
        await self._listen(self.port)

    def drop_all(self) -> None:
        """Abort every open connection (RST), as a crashed Asterisk or a cut cable would."""
        for client in list(self.clients):
            client.abort()

    async def close(self) -> None:
        await self.refuse()
        self.drop_all()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)

    # --- driving the connected client ---

    @property
    def client(self) -> FakeClient:
        """The most recent live connection."""
        live = [c for c in self.clients if not c.writer.is_closing()]
        if not live:
            raise AssertionError("no client connected to the fake AMI")
        return live[-1]

    def send_event(self, headers: Headers) -> None:
        self.client.send(headers)

    async def send_pieces(self, pieces: Iterable[bytes], pause: float = 0.02) -> None:
        """Write raw bytes in separate pieces, pausing so each arrives as its own read."""
        client = self.client
        for piece in pieces:
            client.write(piece)
            await client.writer.drain()
            await asyncio.sleep(pause)

    async def wait_for_action(self, name: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, str]]:
        """Wait until ``count`` actions called ``name`` were received (all connections)."""

        def matching() -> list[dict[str, str]]:
            return [a for a in self.actions if a.get("Action", "").lower() == name.lower()]

        async with self._action_seen:
            await asyncio.wait_for(self._action_seen.wait_for(lambda: len(matching()) >= count), timeout)
        return matching()

    async def wait_for_connections(self, count: int, timeout: float = 10.0) -> None:
        await until(lambda: self.connections >= count, timeout, what=f"{count} connection(s)")

    # --- server side ---

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        client = FakeClient(self, reader, writer)
        self.clients.append(client)
        self.connections += 1
        try:
            client.write(f"{self.banner}\r\n".encode())
            while True:
                try:
                    block = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                action = parse_action(block.decode("utf-8", "replace"))
                client.actions.append(action)
                self.actions.append(action)
                async with self._action_seen:
                    self._action_seen.notify_all()
                await self._answer(client, action)
        except asyncio.CancelledError:
            pass
        finally:
            client.abort()
            self._tasks.discard(task)

    async def _answer(self, client: FakeClient, action: dict[str, str]) -> None:
        name = action.get("Action", "").lower()
        if name == "login":
            self.login_attempts.append(self.clock())
        if self.silent:
            return
        action_id = action.get("ActionID", "")
        handler = self.handlers.get(name)
        if handler is not None:
            result = handler(client, action)
            if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
                result = await result  # type: ignore[misc]
            for msg in result or []:  # type: ignore[union-attr]
                client.send(msg)
            return
        default = getattr(self, f"_on_{name}", None)
        if default is None:
            client.send(
                [
                    ("Response", "Error"),
                    ("ActionID", action_id),
                    (
                        "Message",
                        f"Invalid/unknown command: {action.get('Action')}. Use Action: ListCommands.",
                    ),
                ]
            )
            return
        await default(client, action, action_id)

    async def _on_login(self, client: FakeClient, action: dict[str, str], action_id: str) -> None:
        if action.get("Username") == self.username and action.get("Secret") == self.secret:
            client.logged_in = True
            client.send(
                [("Response", "Success"), ("ActionID", action_id), ("Message", "Authentication accepted")]
            )
            if self.fully_booted:
                client.send(FULLY_BOOTED)
            return
        if self.auth_delay:
            await asyncio.sleep(self.auth_delay)
        client.send([("Response", "Error"), ("ActionID", action_id), ("Message", "Authentication failed")])
        with contextlib.suppress(ConnectionError):
            await client.writer.drain()
        client.writer.close()

    async def _on_logoff(self, client: FakeClient, action: dict[str, str], action_id: str) -> None:
        client.send(
            [("Response", "Goodbye"), ("ActionID", action_id), ("Message", "Thanks for all the fish.")]
        )
        with contextlib.suppress(ConnectionError):
            await client.writer.drain()
        client.writer.close()

    async def _on_ping(self, client: FakeClient, action: dict[str, str], action_id: str) -> None:
        client.send(
            [
                ("Response", "Success"),
                ("ActionID", action_id),
                ("Ping", "Pong"),
                ("Timestamp", f"{time.time():.6f}"),
            ]
        )

    async def _on_queueadd(self, client: FakeClient, action: dict[str, str], action_id: str) -> None:
        client.send(
            [("Response", "Success"), ("ActionID", action_id), ("Message", "Added interface to queue")]
        )

    async def _on_originate(self, client: FakeClient, action: dict[str, str], action_id: str) -> None:
        client.send(
            [("Response", "Success"), ("ActionID", action_id), ("Message", "Originate successfully queued")]
        )

    async def _on_queuestatus(self, client: FakeClient, action: dict[str, str], action_id: str) -> None:
        client.send(
            [
                ("Response", "Success"),
                ("ActionID", action_id),
                ("EventList", "start"),
                ("Message", "Queue status will follow"),
            ]
        )
        queues = sorted({q for q, _, _ in self.members})
        for queue in queues:
            client.send(
                [
                    ("Event", "QueueParams"),
                    ("Queue", queue),
                    ("Max", "0"),
                    ("Strategy", "rrmemory"),
                    ("Calls", "0"),
                    ("ActionID", action_id),
                ]
            )
            for q, name, location in self.members:
                if q == queue:
                    client.send(queue_member(q, name, location, action_id))
        items = len(queues) + len(self.members)
        client.send(
            [
                ("Event", "QueueStatusComplete"),
                ("ActionID", action_id),
                ("EventList", "Complete"),
                ("ListItems", str(items)),
            ]
        )

    async def _on_coreshowchannels(self, client: FakeClient, action: dict[str, str], action_id: str) -> None:
        client.send(
            [
                ("Response", "Success"),
                ("ActionID", action_id),
                ("EventList", "start"),
                ("Message", "Channels will follow"),
            ]
        )
        for channel in self.channels:
            client.send(
                [
                    ("Event", "CoreShowChannel"),
                    ("ActionID", action_id),
                    ("Channel", channel),
                    ("ChannelState", "6"),
                    ("Linkedid", "1795879274.1"),
                    ("Uniqueid", "1795879274.1"),
                ]
            )
        client.send(
            [
                ("Event", "CoreShowChannelsComplete"),
                ("ActionID", action_id),
                ("EventList", "Complete"),
                ("ListItems", str(len(self.channels))),
            ]
        )


# --- client-side helpers shared by the AMI edge tests ---------------------------------------------


def settings(port: int, **over: Any) -> AmiSettings:
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "username": "acd",
        "secret": SECRET,
        "connect_timeout": 1.0,
        "action_timeout": 1.0,
        "reconnect_min": 0.01,
        "reconnect_max": 0.05,
        "auth_retry": 0.3,
        "ping_interval": 30.0,
        "ping_timeout": 1.0,
        "max_message_bytes": 1 << 20,
    }
    base.update(over)
    return AmiSettings(**base)


class Recorder:
    """What the daemon would see: every event, every notice, in order."""

    def __init__(self) -> None:
        self.messages: list[tuple[dict[str, str], float]] = []
        self.states: list[ConnectionEvent] = []

    def on_message(self, msg: dict[str, str], at: float) -> None:
        self.messages.append((msg, at))

    def on_state(self, notice: ConnectionEvent) -> None:
        self.states.append(notice)

    def events(self, name: str) -> list[dict[str, str]]:
        return [m for m, _ in self.messages if m.get("Event") == name]

    def notices(self, kind: type[Any]) -> list[Any]:
        return [s for s in self.states if isinstance(s, kind)]

    async def until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        await until(predicate, timeout, describe=lambda: f"states={self.states!r}")


def make_client(
    fake: FakeAmi,
    rec: Recorder | None = None,
    *,
    clock: FakeClock | None = None,
    client: dict[str, Any] | None = None,
    **over: Any,
) -> tuple[AmiClient, Recorder]:
    """A client for ``fake`` (not started) recording into ``rec``: ``over`` changes its settings,
    ``client`` its other arguments (``uniform``, ``booted_fallback``...); on ``clock``'s simulated
    time when one is given."""
    rec = rec or Recorder()
    extra: dict[str, Any] = {"clock": clock, "sleep": clock.sleep} if clock is not None else {}
    extra.update(client or {})
    made = AmiClient(settings(fake.port, **over), on_message=rec.on_message, on_state=rec.on_state, **extra)
    return made, rec


async def connect(
    fake: FakeAmi, rec: Recorder | None = None, *, clock: FakeClock | None = None, **over: Any
) -> tuple[AmiClient, Recorder]:
    """A started client, logged in; on ``clock``'s simulated time when one is given (returned once
    the client rests in that time: advancing it then moves the client's timers, not a race)."""
    client, rec = make_client(fake, rec, clock=clock, **over)
    await client.start()
    await rec.until(lambda: client.connected)
    if clock is not None:  # simulated time may move only once the Ping loop waits in it
        await until(lambda: clock.sleeping >= 1, what="the Ping loop asleep")
    return client, rec
