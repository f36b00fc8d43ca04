"""The AMI TCP edge: sessions, login, class filtering, writetimeout, and the fault switches.

One asyncio Protocol per client (no per-client task): writes go straight to the transport, and a
client whose buffer stays over the high-water mark for longer than ``writetimeout`` is cut off,
as Asterisk's manager.conf ``writetimeout`` does, so a slow reader never slows the simulator.
Actions are handled in :mod:`acd.sim.actions`.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from acd.ami.codec import Framer
from acd.sim.clock import Timer
from acd.sim.config import CLASSES, User
from acd.sim.emit import Out, event, response

if TYPE_CHECKING:
    from acd.sim.simulator import Simulator

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
WRITE_HIGH_WATER = 256 * 1024
# At speed "max" the simulator waits for its readers instead of outrunning them, so only a
# reader stuck this long is cut off.
PACED_WRITETIMEOUT = 10.0


class Session(asyncio.Protocol):
    """One manager connection."""

    def __init__(self, server: AmiServer):
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.framer = Framer(expect_banner=False)
        self.user: User | None = None
        self.mask: frozenset[str] = frozenset()
        self.events_on = True
        self.challenge = ""
        self.closing = False
        self.session_id = f"0x{random.getrandbits(44):x}"
        self.session_tv = ""
        self.local = ""
        self.remote = ""
        self._paused_at: float | None = None
        self._watch: asyncio.TimerHandle | Timer | None = None
        self.await_boot = False

    # ---- transport callbacks ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        sock = transport.get_extra_info("sockname") or ("127.0.0.1", 0)
        peer = transport.get_extra_info("peername") or ("127.0.0.1", 0)
        self.local = f"IPV4/TCP/{sock[0]}/{sock[1]}"
        self.remote = f"IPV4/TCP/{peer[0]}/{peer[1]}"
        self.session_tv = _tv(time.time())
        self.server.sessions.add(self)
        transport.write(BANNER)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.sessions.discard(self)
        self.closing = True
        if self._watch is not None:
            self._watch.cancel()

    def data_received(self, data: bytes) -> None:
        if self.server.silent:
            return
        for msg in self.framer.feed(data):
            if self.closing:
                return
            self.server.sim.handle_action(self, msg)
        self.framer.pop_anomalies()

    def pause_writing(self) -> None:
        self._paused_at = time.monotonic()
        timeout = (self.user.writetimeout_ms if self.user else 100) / 1000.0
        if self.server.paced_by_readers:
            timeout = max(timeout, PACED_WRITETIMEOUT)
        if self.server.sim.speed == 0:
            # Manual clock: writetimeout passes when the test moves time, like every other timer,
            # so whether a reader is cut off never depends on how busy the machine is.
            self._watch = self.server.sim.sched.after(timeout, self._check_blocked)
        else:
            self._watch = asyncio.get_running_loop().call_later(timeout, self._check_blocked)

    def resume_writing(self) -> None:
        self._paused_at = None
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None

    def _check_blocked(self) -> None:
        if self._paused_at is not None and self.transport is not None:
            # manager.conf writetimeout: the peer does not read; Asterisk drops it.
            self.closing = True
            self.transport.abort()

    # ---- output -----------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        if self.transport is None or self.closing or self.server.silent:
            return
        self.transport.write(data)

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def wants(self, cls: str) -> bool:
        return self.user is not None and self.events_on and (not cls or cls in self.mask)

    # ---- login ------------------------------------------------------------------------------
    def check_login(self, msg: dict[str, str]) -> User | None:
        name = msg.get("Username", "")
        user = self.server.users.get(name)
        if user is None:
            return None
        if msg.get("AuthType", "").lower() == "md5":
            if not self.challenge:
                return None
            want = hashlib.md5((self.challenge + user.secret).encode()).hexdigest()
            return user if msg.get("Key", "").lower() == want else None
        return user if msg.get("Secret", "") == user.secret else None

    def set_events(self, value: str) -> None:
        assert self.user is not None
        v = value.strip().lower()
        if v in ("on", "yes", "true", "1", ""):
            self.events_on, self.mask = True, self.user.read
        elif v in ("off", "no", "false", "0"):
            self.events_on, self.mask = False, frozenset()
        else:
            wanted = {c.strip() for c in v.split(",")}
            if "all" in wanted:
                wanted = set(CLASSES)
            self.events_on, self.mask = True, frozenset(wanted) & self.user.read


class AmiServer:
    """Listener plus the set of sessions; knows nothing of calls."""

    def __init__(self, sim: Simulator, users: dict[str, User]):
        self.sim = sim
        self.users = users
        self.sessions: set[Session] = set()
        self.silent = False
        self.paced_by_readers = False
        self._server: asyncio.Server | None = None
        self.host = "127.0.0.1"
        self.port = 0
        # In-process readers (Simulator.add_reader): the read classes they may see, and where to
        # hand the wire bytes.
        self.readers: list[tuple[frozenset[str], Callable[[bytes], None]]] = []

    async def listen(self, host: str, port: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: Session(self), host, port, reuse_address=True)
        sock = self._server.sockets[0].getsockname()
        self.host, self.port = sock[0], sock[1]
        return self.host, self.port

    async def close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def broadcast(self, outs: list[Out]) -> None:
        if not outs or self.silent:
            return
        for mask, read in self.readers:
            data = b"".join(d for cls, d in outs if not cls or cls in mask)
            if data:
                read(data)
        for s in list(self.sessions):
            if s.user is None or not s.events_on:
                continue
            mask = s.mask
            data = b"".join(d for cls, d in outs if not cls or cls in mask)
            if data:
                s.send(data)

    def security(
        self, name: str, s: Session, pairs: Iterable[tuple[str, object]], severity: str = "Error"
    ) -> None:
        head = [
            ("EventTV", _tv(time.time())),
            ("Severity", severity),
            ("Service", "AMI"),
        ]
        self.broadcast([event(name, "security", [*head, *pairs])])

    def drop_all(self, mid_message: bool = False) -> None:
        for s in list(self.sessions):
            if mid_message and s.transport is not None:
                s.transport.write(b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: Local/99")
            s.closing = True
            if s.transport is not None:
                s.transport.abort()
        self.sessions.clear()

    def close_all(self) -> None:
        for s in list(self.sessions):
            s.close()
        self.sessions.clear()

    def malformed(self) -> None:
        junk = (
            b"Event: Bogus\r\nPrivilege: call,all\r\nthis line has no separator\r\n\r\n"
            b"Event: LfOnly\nPrivilege: call,all\nChannel: x\n\n"
            b"\xff\xfe garbage \x00\r\n\r\n"
        )
        for s in list(self.sessions):
            if s.user is not None:
                s.send(junk)


def _tv(t: float) -> str:
    ms = int((t - int(t)) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{ms:03d}+0000"


def reply(s: Session, action_id: str | None, message: str | None, status: str = "Success") -> None:
    s.send(response(action_id, message, status))


Handler = Callable[["Simulator", Session, dict[str, str], "str | None"], None]
