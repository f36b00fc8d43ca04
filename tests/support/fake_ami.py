"""The tests' one fake Asterisk manager interface: a small, real asyncio TCP server.

It speaks the wire as the captures in tests/fixtures/ami show it (banner line, CRLF framing, login
answers, EventList lists) and can misbehave on demand: refuse the login, go silent while keeping the
socket open, drop every connection, refuse connections (listener closed), answer late or never, and
write raw bytes in chosen pieces (a UTF-8 character split over two reads).

Given ``users`` (manager.conf users with read and write classes) it also enforces the classes as
Asterisk's manager.c does: an action is allowed when the user's write classes share any class with
the ones the action is registered with (:data:`AUTHORITY`), else ``Permission denied`` and a
``RequestNotAllowed`` security event; ``ListCommands`` lists only the allowed actions with their
``(Priv: ...)``; events reach a session only when its read classes include the event's class; the
login's FullyBooted is written straight to a session with read ``system`` (no Timestamp); broadcast
events carry ``Timestamp`` only with ``timestampevents``; ``Getvar`` of ``CURL(url)`` fetches the
URL when ``func_curl`` is loaded. ``acd check``'s tests use it so (tests/test_check.py checks the
wording against the real captures). :class:`FakeAsterisk` runs it on a loop of its own, for code
under test that calls ``asyncio.run()``.

The server side is deliberately independent of acd.ami: it parses actions and writes messages with
its own few lines, so a bug in acd's codec cannot hide itself here. Binds 127.0.0.1 on a free port
only. At the bottom: client-side helpers (settings with tiny intervals, a recorder of what the
daemon would see) shared by the tests/test_ami_*.py modules. The secret is random per session.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from acd.ami.connection import AmiClient, ConnectionEvent
from acd.settings import AmiSettings
from acd.sim.config import CLASSES as MANAGER_CLASSES
from tests.support.clock import FakeClock
from tests.support.credentials import AMI_SECRET
from tests.support.waiting import until

BANNER = "Asterisk Call Manager/11.0.0"
PERMISSION_DENIED = "Permission denied"
AUTH_FAILED = "Authentication failed"
AUTH_ACCEPTED = "Authentication accepted"
ALL_CLASSES = frozenset(MANAGER_CLASSES)  # Asterisk's, as the simulator knows them
# manager.c / app_queue.c / db.c registrations (Asterisk 22): action -> classes (empty: anyone)
AUTHORITY: dict[str, frozenset[str]] = {
    "Ping": frozenset(),
    "Logoff": frozenset(),
    "ListCommands": frozenset(),
    "Events": frozenset(),
    "QueueStatus": frozenset(),
    "QueueSummary": frozenset(),
    "CoreShowChannels": frozenset({"system", "reporting"}),
    "CoreSettings": frozenset({"system", "reporting"}),
    "QueueAdd": frozenset({"agent"}),
    "QueueRemove": frozenset({"agent"}),
    "QueuePause": frozenset({"agent"}),
    "QueueWithdrawCaller": frozenset({"agent"}),
    "UserEvent": frozenset({"user"}),
    "Originate": frozenset({"originate"}),
    "Command": frozenset({"command"}),
    "DBPut": frozenset({"system"}),
    "DBGet": frozenset({"system", "reporting"}),
    "Hangup": frozenset({"system", "call"}),
    "Redirect": frozenset({"call"}),
    "Setvar": frozenset({"call"}),
    "Getvar": frozenset({"call", "reporting"}),
}
# What an idle-but-not-dead PBX sends now and then, by class.
TRAFFIC = {
    "agent": [("Event", "QueueMemberStatus"), ("Privilege", "agent,all"), ("Queue", "support")],
    "call": [("Event", "Newchannel"), ("Privilege", "call,all"), ("Channel", "PJSIP/1001-0000002a")],
    "dialplan": [("Event", "VarSet"), ("Privilege", "dialplan,all"), ("Variable", "X")],
}


def classes(spec: str) -> frozenset[str]:
    """manager.conf's ``read =``/``write =`` value as a set of classes (``all``, ``none``)."""
    names = {c.strip() for c in spec.split(",") if c.strip()}
    if "all" in names:
        return ALL_CLASSES
    return frozenset(names - {"none"})


@dataclass(frozen=True)
class User:
    """A manager.conf user: its secret and its read and write classes."""

    secret: str
    read: str
    write: str


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
    user: User | None = None  # with users: who logged in on this connection
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
    - ``members``/``channels``: what QueueStatus and CoreShowChannels list;
    - ``users`` (then ``username``/``secret`` are not used), ``timestampevents``, ``traffic`` (the
      classes of background events sent every 50 ms), ``func_curl``: manager.conf's classes as
      Asterisk enforces them (the module's docstring).
    """

    def __init__(
        self,
        *,
        username: str = "acd",
        secret: str = SECRET,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
        users: dict[str, User] | None = None,
        timestampevents: bool = False,
        traffic: tuple[str, ...] = (),
        func_curl: bool = True,
        banner: str = BANNER,
        auth_delay: float = 0.0,
    ):
        self.clock = clock  # what login_attempts are stamped with (a test's simulated clock)
        self.username = username
        self.secret = secret
        self.ssl_context = ssl_context
        self.auth_delay = auth_delay
        self.fully_booted = True
        self.silent = False
        self.banner = banner
        self.users = users
        self.timestampevents = timestampevents
        self.traffic = traffic
        self.func_curl = func_curl
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
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> FakeAmi:
        await self._listen(0)
        if self.traffic:
            self._ticker = asyncio.get_running_loop().create_task(self._tick())
        return self

    def sent_actions(self) -> list[str]:
        """The name of every action received, all connections, in order."""
        return [a.get("Action", "") for a in self.actions]

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
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
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
        if self.users is not None:
            await self._answer_by_class(client, action)
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

    # --- manager.conf classes (with ``users``) ---

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            for cls in self.traffic:
                self._broadcast(cls, TRAFFIC[cls])

    def _broadcast(self, cls: str, pairs: list[tuple[str, str]]) -> None:
        if self.timestampevents:
            pairs = [*pairs[:2], ("Timestamp", f"{time.time():.6f}"), *pairs[2:]]
        for client in self.clients:
            if client.user is not None and cls in classes(client.user.read):
                client.send(pairs)

    async def _answer_by_class(self, client: FakeClient, action: dict[str, str]) -> None:
        assert self.users is not None
        name = action.get("Action", "")
        aid = [("ActionID", action["ActionID"])] if "ActionID" in action else []
        if name.lower() == "login":
            user = self.users.get(action.get("Username", ""))
            if user is None or user.secret != action.get("Secret"):
                await asyncio.sleep(self.auth_delay)
                client.send([("Response", "Error"), *aid, ("Message", AUTH_FAILED)])
                with contextlib.suppress(ConnectionError):
                    await client.writer.drain()
                client.writer.close()
                return
            client.user, client.logged_in = user, True
            client.send([("Response", "Success"), *aid, ("Message", AUTH_ACCEPTED)])
            if "system" in classes(user.read):
                client.send(
                    [
                        ("Event", "FullyBooted"),
                        ("Privilege", "system,all"),
                        ("Uptime", "374"),
                        ("LastReload", "374"),
                        ("Status", "Fully Booted"),
                    ]
                )
            self._broadcast("security", [("Event", "SuccessfulAuth"), ("Privilege", "security,all")])
            return
        canonical = next((a for a in AUTHORITY if a.lower() == name.lower()), None)
        if client.user is None or canonical is None:
            message = PERMISSION_DENIED if client.user is None else f"Invalid/unknown command: {name}."
            client.send([("Response", "Error"), *aid, ("Message", message)])
            return
        granted = classes(client.user.write)
        needed = AUTHORITY[canonical]
        if needed and not needed & granted:  # any shared class allows it, as in manager.c
            client.send([("Response", "Error"), *aid, ("Message", PERMISSION_DENIED)])
            self._broadcast("security", [("Event", "RequestNotAllowed"), ("Privilege", "security,all")])
            return
        if canonical == "ListCommands":
            listed = [
                (a, f"Synopsis of {a}. (Priv: {','.join(sorted(c)) + ',all' if c else '<none>'})")
                for a, c in AUTHORITY.items()
                if not c or c & granted
            ]
            client.send([("Response", "Success"), *aid, *listed])
        elif canonical == "Ping":
            client.send(
                [("Response", "Success"), *aid, ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}")]
            )
        elif canonical == "UserEvent":
            client.send([("Response", "Success"), *aid])
            custom = [(k, v) for k, v in action.items() if k not in ("Action", "ActionID", "UserEvent")]
            self._broadcast(
                "user",
                [
                    ("Event", "UserEvent"),
                    ("Privilege", "user,all"),
                    ("UserEvent", action.get("UserEvent", "")),
                    *aid,
                    *custom,
                ],
            )
        elif canonical == "Getvar":
            variable = action.get("Variable", "")
            value = ""
            if self.func_curl and variable.startswith("CURL(") and variable.endswith(")"):
                value = await asyncio.get_running_loop().run_in_executor(None, _fetch, variable[5:-1])
            client.send([("Response", "Success"), *aid, ("Variable", variable), ("Value", value)])
        elif canonical == "Logoff":
            client.send([("Response", "Goodbye"), *aid, ("Message", "Thanks for all the fish.")])
            with contextlib.suppress(ConnectionError):
                await client.writer.drain()
            client.writer.close()
        else:
            client.send([("Response", "Success"), *aid, ("Message", "ok")])


def _fetch(url: str) -> str:
    """func_curl's result: the body, or nothing when the server cannot be reached."""
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:
            return str(resp.read().decode())
    except OSError:
        return ""


class FakeAsterisk:
    """:class:`FakeAmi` with ``users``, on a loop of its own in a thread, so the code under test
    may call ``asyncio.run()``. ``with FakeAsterisk(users, ...) as pbx:``; ``pbx`` is the FakeAmi.
    A wrong secret is refused after ``auth_delay`` (1 s, as Asterisk does)."""

    def __init__(self, users: dict[str, User], *, auth_delay: float = 1.0, **options: Any) -> None:
        self._options: dict[str, Any] = {"users": users, "auth_delay": auth_delay, **options}
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._fake: FakeAmi | None = None

    def __enter__(self) -> FakeAmi:
        self._thread.start()
        assert self._ready.wait(5)
        assert self._fake is not None
        return self._fake

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def _run(self) -> None:
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        self._fake = await FakeAmi(**self._options).start()
        self._ready.set()
        await self._stop.wait()
        await self._fake.close()


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
