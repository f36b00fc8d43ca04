"""Helpers for the simulator tests: read the captures, talk AMI to the simulator.

The captures are parsed here with ``acd.ami.codec.parse_pairs`` only (header pairs in wire
order), never with the simulator's template generator, so the tests check the simulator
against the captures, not against itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from pathlib import Path

from acd.ami.codec import Framer, parse_pairs
from acd.sim import Simulator

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
Pairs = list[tuple[str, str]]


def capture_files() -> list[Path]:
    return sorted(FIXTURES.rglob("*.ami.log"))


def split_messages(raw: bytes) -> list[Pairs]:
    text = raw.decode("utf-8", "replace")
    if text.startswith("Asterisk Call Manager/"):
        text = text[text.find("\n") + 1 :]
    return [parse_pairs(b) for b in text.split("\r\n\r\n") if b.strip()]


def read_capture(path: Path) -> list[Pairs]:
    return split_messages(path.read_bytes())


def get(p: Pairs, key: str) -> str:
    for k, v in p:
        if k == key:
            return v
    return ""


def is_event(p: Pairs) -> bool:
    return bool(p) and p[0][0] == "Event"


def shape_key(p: Pairs) -> tuple[str, str]:
    """What kind of message this is: ('Event', name) or ('Response', status + message/first key)."""
    if is_event(p):
        return ("Event", get(p, "Event"))
    msg = get(p, "Message")
    if msg.startswith("Invalid/unknown command"):
        msg = "Invalid/unknown command"
    if not msg:
        keys = [k for k, _ in p if k not in ("Response", "ActionID")]
        msg = "<" + (keys[0] if keys else "") + ">"
    return ("Response", f"{p[0][1]}: {msg}")


def names(p: Pairs) -> tuple[str, ...]:
    """Header names in order, without the Timestamp that timestampevents adds; a header repeated
    in a row (``Output`` lines of Command) counts once, since its count follows the content."""
    out: list[str] = []
    for k, _ in p:
        if k != "Timestamp" and not (out and out[-1] == k):
            out.append(k)
    return tuple(out)


def call_shape(msgs: Iterable[Pairs], linkedid: str) -> list[str]:
    """The event names of one call (all events carrying its Linkedid), in order."""
    out = []
    for p in msgs:
        if is_event(p) and linkedid in (get(p, "Linkedid"), get(p, "LocalOneLinkedid")):
            out.append(get(p, "Event"))
    return out


def linkedid_of(msgs: Iterable[Pairs], number: str) -> str:
    for p in msgs:
        if is_event(p) and get(p, "Event") == "Newchannel" and f"Local/{number}@" in get(p, "Channel"):
            return get(p, "Linkedid")
    raise AssertionError(f"no call from {number}")


class AmiClient:
    """A minimal AMI client for tests: send actions, collect every message received."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.framer = Framer()
        self.raw = bytearray()
        self.messages: list[Pairs] = []
        self._n = 0

    @classmethod
    async def connect(cls, host: str, port: int) -> AmiClient:
        r, w = await asyncio.open_connection(host, port)
        c = cls(r, w)
        await c.read_for(0.05)
        return c

    def send(self, action: str, **headers: object) -> str:
        self._n += 1
        aid = f"t-{self._n}"
        lines = [f"Action: {action}", f"ActionID: {aid}"] + [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        return aid

    async def read_for(self, seconds: float) -> bool:
        """Read whatever arrives within ``seconds``; False once the peer closed."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while True:
            left = end - loop.time()
            if left <= 0:
                return True
            try:
                data = await asyncio.wait_for(self.reader.read(1 << 20), left)
            except TimeoutError:
                return True
            if not data:
                return False
            self.raw += data
            text_end = self.raw.rfind(b"\r\n\r\n")
            if text_end >= 0:
                chunk = bytes(self.raw[: text_end + 4])
                del self.raw[: text_end + 4]
                if not self.messages and chunk.startswith(b"Asterisk Call Manager/"):
                    chunk = chunk[chunk.find(b"\n") + 1 :]
                self.messages.extend(split_messages(chunk))

    async def action(self, action: str, wait: float = 0.05, **headers: object) -> Pairs:
        aid = self.send(action, **headers)
        for _ in range(40):
            await self.read_for(wait)
            for p in self.messages:
                if not is_event(p) and get(p, "ActionID") == aid:
                    return p
        raise AssertionError(f"no response to {action}")

    async def login(self, user: str = "acd", secret: str = "acdsecret") -> Pairs:
        return await self.action("Login", Username=user, Secret=secret)

    def events(self, name: str | None = None) -> list[Pairs]:
        return [p for p in self.messages if is_event(p) and (name is None or get(p, "Event") == name)]

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


async def answered(cli: AmiClient, action: str, last: str | None = None) -> None:
    """Send ``action`` and read until its answer (and its list's ``last`` event) is in: the
    simulator writes in order, so whatever it emitted before is in too. A generous deadline, not
    a window: on a quiet machine this takes a millisecond."""
    aid = cli.send(action)
    deadline = time.monotonic() + 60
    seen = len(cli.messages)
    while time.monotonic() < deadline:
        mine = [p for p in cli.messages[seen:] if get(p, "ActionID") == aid]
        if mine and (last is None or any(get(p, "Event") == last for p in mine)):
            return
        assert await cli.read_for(0.001), "the simulator closed the connection"
    raise AssertionError(f"no answer to {action} in 60 s")


# The shared queue beside the personal affinity queues, as the weighted-queues lab configured it
# (tests/fixtures/ami/weighted-queues/queues.conf).
SHARED_QUEUES = """
[general]
shared_lastcall = yes

[support]
strategy = rrmemory
timeout = 15
retry = 1
ringinuse = no
weight = 0
"""


async def drive(
    sim: Simulator, cli: AmiClient, seconds: float, *, polls: int = 1, pause: float = 0.0, read: float = 0.02
) -> None:
    """Move a manual-time simulator ``seconds`` on in ``polls`` steps (``pause`` of wall time after
    each, for the simulated dialplan's own tasks and anyone else on loopback), then read what came."""
    for _ in range(polls):
        await sim.advance(seconds / polls)
        if pause:
            await asyncio.sleep(pause)
    await cli.read_for(read)


class Driven:
    """A simulator in manual time and a raw AMI client on it."""

    def __init__(
        self, sim: Simulator, cli: AmiClient, *, polls: int = 1, pause: float = 0.0, read: float = 0.02
    ):
        self.sim, self.cli = sim, cli
        self._polls, self._pause, self._read = polls, pause, read

    async def step(self, seconds: float, polls: int | None = None) -> None:
        await drive(
            self.sim, self.cli, seconds, polls=polls or self._polls, pause=self._pause, read=self._read
        )

    def called(self) -> list[tuple[str, str]]:
        """(caller number, member name) of every AgentCalled so far."""
        return [(get(p, "CallerIDNum"), get(p, "MemberName")) for p in self.cli.events("AgentCalled")]

    def user_events(self, name: str) -> list[Pairs]:
        return [p for p in self.cli.events("UserEvent") if get(p, "UserEvent") == name]
