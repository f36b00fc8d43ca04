"""The AMI connection: one logged-in session to Asterisk, kept alive, rebuilt when it breaks.

acd's own client on a plain :class:`asyncio.BufferedProtocol`. The usual Python AMI library, panoramisk
1.4 (its last release, 2021), drops the connection when a handler raises, loses a UTF-8 character
split over two reads, gives actions no timeout, never notices a silent peer and truncates
fractional timings to whole seconds (tests/test_ami_panoramisk_baseline.py shows it on the same
fake Asterisk); it also reads at about a quarter of a bare parser's speed (bench/bench_pipeline.py).
What this client does instead, each with a test in tests/test_ami_connection.py:

1. a handler exception never reaches the transport: ``on_message`` and ``on_state`` are called
   inside a guard, counted and logged (rate-limited), and the next message is delivered;
2. bytes are framed before decoding (:class:`acd.ami.codec.Framer`): a UTF-8 character split over
   two reads survives, a message over ``max_message_bytes`` is dropped and counted, wire anomalies
   are counted and reported as :class:`WireAnomaly` notices;
3. every action has a timeout; single answers resolve on their ``Response``, list answers on the
   ``EventList: Complete`` event with all items (:mod:`acd.ami.actions`);
4. a Ping watchdog: a Ping unanswered within ``ping_timeout`` drops the connection (a silent,
   half-open peer is noticed) and the reconnect loop takes over;
5. :meth:`AmiClient.close` cancels the reconnect loop wherever it is (backoff sleep included),
   closes the socket and fails pending actions; it is idempotent;
6. every timing is a float (0.2 s stays 0.2 s);
7. messages are plain ``dict[str, str]``: a missing header is a ``KeyError``/``None``, never ``''``;
8. everything is created inside the running loop; the client holds a reference to every task it
   starts (the session runner and its watchdog) and cancels them on close.

Beyond panoramisk: reconnect with jittered exponential backoff between ``reconnect_min`` and
``reconnect_max`` (reset once a session stayed up ``reconnect_max`` seconds), a refused login
retried only after ``auth_retry``, and pending reads (and only reads,
:data:`acd.ami.actions.SAFE_TO_REPEAT`) written again after a reconnect, once Asterisk is
fully booted. The secret is sent in the Login action and nowhere else: it is never logged, and
``repr`` of the client does not show it.

What happened to the connection (connected, logged in, booted, a refused login, a failed connect,
the loss) is reported to ``on_state`` as a notice and never logged here: the owner decides what
it means and logs it once (the daemon, acd/daemon.py). The client logs only what no notice
carries: a handler that raised, malformed bytes (both rate-limited), a read written again after
a reconnect, and a bug in the session loop itself.

Hot path: reads of ``READ_SIZE`` bytes; ``data_received`` feeds the framer once per read, reads
the clock once per read and, when the read holds only events the client need not look at, hands
them all to ``on_events`` in one guarded call (the checks are C-level scans of the names).
Otherwise each message gets one ``dict.get``, one truth test and one guarded call; responses and
list items take a slower branch, which is rare on a live system.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Final, TypeVar

import structlog

from acd.ami.actions import (
    SAFE_TO_REPEAT,
    ActionResult,
    ActionTracker,
    AmiActionError,
    AmiConnectionLost,
    AmiError,
    AmiNotConnected,
    AmiTimeout,
)
from acd.ami.backoff import Backoff
from acd.ami.codec import FrameAnomaly, Framer, encode_message
from acd.settings import AmiSettings

__all__ = [
    "ActionResult",
    "AmiActionError",
    "AmiClient",
    "AmiConnectionLost",
    "AmiError",
    "AmiNotConnected",
    "AmiStats",
    "AmiTimeout",
    "AuthFailed",
    "ConnectFailed",
    "Connected",
    "ConnectionEvent",
    "Disconnected",
    "FullyBooted",
    "LoggedIn",
    "WireAnomaly",
]

log = structlog.get_logger("acd.ami")

_T = TypeVar("_T")
Sleep = Callable[[float], Awaitable[None]]

_SESSION_ACTIONS: Final = frozenset({"login", "logoff", "challenge"})
_EVENT: Final = repeat("Event")
READ_SIZE: Final = 32 << 10  # bytes per socket read (about 80 events)
READ_AHEAD: Final = 256 << 10  # ... while more than BEHIND messages wait to be handled
BEHIND: Final = 0
_LOG_EVERY: Final = 10.0  # seconds between repeated warnings of one kind


# --- notices given to on_state -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connected:
    """TCP (and TLS) up and the AMI banner read; not yet logged in."""

    banner: str
    at: float


@dataclass(frozen=True, slots=True)
class LoggedIn:
    """Login accepted: actions may be sent. Asterisk may still be booting: wait for FullyBooted."""

    at: float


@dataclass(frozen=True, slots=True)
class FullyBooted:
    """Asterisk's ``FullyBooted`` event on this session: the moment to resync.

    ``synthetic``: no such event came within ``booted_fallback`` seconds of the login (a manager
    user without read class ``system`` never receives it), so the client stands in for it.
    """

    headers: dict[str, str]
    at: float
    synthetic: bool = False


@dataclass(frozen=True, slots=True)
class Disconnected:
    """A session that had reached :class:`Connected` ended; ``was_logged_in`` marks a gap in events."""

    reason: str
    at: float
    was_logged_in: bool = False


@dataclass(frozen=True, slots=True)
class AuthFailed:
    """Asterisk refused the login (wrong user or secret, or an ACL). The next try is ``retry_in`` away."""

    message: str
    at: float
    retry_in: float = 0.0


@dataclass(frozen=True, slots=True)
class ConnectFailed:
    """A connection attempt failed before a session began (refused, unreachable, no banner, TLS);
    the next attempt is ``retry_in`` away. ``attempt`` counts the failures since the last session."""

    error: str
    at: float
    retry_in: float
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class WireAnomaly:
    """Bytes that were not well-formed AMI: ``kind`` is the codec's (bad_line, lf_framing, oversized,
    bad_banner) or ``truncated`` (a message cut by a disconnect). Counted and skipped, never fatal."""

    kind: str
    detail: str
    at: float


ConnectionEvent = Connected | LoggedIn | FullyBooted | Disconnected | AuthFailed | ConnectFailed | WireAnomaly


@dataclass(slots=True)
class AmiStats:
    """Counters for metrics and ``acd check``; plain ints, read at scrape time."""

    messages: int = 0  # complete messages read (events and responses)
    events: int = 0  # messages with an Event header, each passed to on_message
    bytes: int = 0
    anomalies: int = 0  # wire anomalies (see WireAnomaly)
    handler_errors: int = 0  # exceptions raised by on_message / on_state, swallowed
    connect_attempts: int = 0
    logins: int = 0  # accepted logins
    reconnects: int = 0  # accepted logins after the first
    auth_failures: int = 0
    ping_timeouts: int = 0
    actions_sent: int = 0
    actions_resent: int = 0  # safe reads written again after a reconnect
    action_timeouts: int = 0
    last_error: str | None = None


class _AuthRefused(Exception):
    pass


class _Dropped(Exception):
    """The session could not be established (no banner, connection closed early)."""


# --- the protocol ---------------------------------------------------------------------------------


class _AmiProtocol(asyncio.BufferedProtocol):
    """One TCP (or TLS) connection: frames bytes into messages and hands them to the client (guarded:
    a handler's exception never reaches the transport); reports its loss to the client, which owns
    reconnecting.

    A buffered protocol so that acd chooses the read size: asyncio's plain protocols read up to
    256 KiB at once when Asterisk is ahead, about 700 messages parsed and queued before the first
    is handled, which spills the CPU caches; reads of ``READ_SIZE`` keep a read's messages warm
    until the consumer has handled them (bench/bench_pipeline.py: 15-25% less CPU per event).
    As soon as the client's ``backlog`` says that what was read waits anyway (the consumer did
    not keep up), reads take up to ``READ_AHEAD`` at once: the reader stays ahead of Asterisk,
    which cuts off a client that leaves its buffer full too long (manager.conf writetimeout)."""

    def __init__(
        self, client: AmiClient, framer: Framer, banner: asyncio.Future[str], lost: asyncio.Future[str]
    ):
        self._view = memoryview(bytearray(READ_AHEAD))
        self._small = self._view[:READ_SIZE]
        self._client = client
        self._framer = framer
        self._banner = banner
        self._lost = lost
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.drop_reason: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.closed = False

    def write(self, payload: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise AmiNotConnected("connection is closing")
        transport.write(payload)

    def drop(self, reason: str) -> None:
        """Abort the socket (no graceful close: the peer may be half-open)."""
        if self.drop_reason is None:
            self.drop_reason = reason
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def get_buffer(self, sizehint: int) -> memoryview:
        backlog = self._client._backlog
        if backlog is not None and backlog() > BEHIND:
            return self._view
        return self._small

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self._view[:nbytes]))

    def data_received(self, data: bytes) -> None:
        client = self._client
        now = client._clock()
        framer = self._framer
        msgs = framer.feed(data)
        stats = client.stats
        stats.bytes += len(data)
        if framer.anomalies:
            client._wire_anomalies(framer.pop_anomalies(), now)
        if not self._banner.done() and framer.banner is not None:
            self._banner.set_result(framer.banner)
        if not msgs:
            return
        stats.messages += len(msgs)
        tracker = client._tracker
        on_events = client._on_events
        if on_events is not None and not tracker.listing:
            # The usual read under load: events only, none that the client acts on itself. They
            # go on in one call, and the checks below are C-level scans of their names.
            names = list(map(dict.get, msgs, _EVENT))
            if None not in names and "FullyBooted" not in names and "Shutdown" not in names:
                stats.events += len(msgs)
                try:
                    on_events(msgs, now)
                except BaseException as exc:  # as below: never into the transport
                    if isinstance(exc, (SystemExit, KeyboardInterrupt)):
                        raise
                    client._handler_failed(exc, "<events>")
                return
        on_message = client._on_message
        for msg in msgs:
            event = msg.get("Event")
            if event is None:
                client._on_response(msg)
                continue
            stats.events += 1
            if tracker.listing:
                action_id = msg.get("ActionID")
                if action_id is not None and action_id in tracker.listing:
                    tracker.on_list_event(msg)
            try:
                on_message(msg, now)
            except BaseException as exc:  # even CancelledError from a handler must not kill the socket
                if isinstance(exc, (SystemExit, KeyboardInterrupt)):
                    raise
                client._handler_failed(exc, event)
            if event == "FullyBooted" or event == "Shutdown":
                client._on_system_event(event, msg, now)

    def eof_received(self) -> bool:
        self.drop_reason = self.drop_reason or "connection closed by Asterisk"
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        reason = self.drop_reason or (f"connection lost: {exc}" if exc else "connection closed by Asterisk")
        if self._framer.buffered:
            # A message cut by the disconnect is lost with it: say so, the core may be missing an event.
            detail = f"{self._framer.buffered} bytes of an unfinished message lost with the connection"
            self._client._wire_anomalies([FrameAnomaly("truncated", detail)], self._client._clock())
        self._client._on_lost(self, reason)
        if not self._lost.done():
            self._lost.set_result(reason)


# --- the client ----------------------------------------------------------------------------------


class AmiClient:
    """One AMI session to Asterisk, reconnected for ever until :meth:`close`.

    ``on_message(headers, received_at)`` gets every event in wire order (list items of our own
    actions included), synchronously from the socket read: it must be cheap and should only
    enqueue. ``on_state`` gets :data:`ConnectionEvent` notices. Both are guarded: an exception
    is counted in ``stats.handler_errors`` and logged, never fatal.

    ``on_events(events, received_at)``, when given, takes the events of one read in one call
    (in wire order, as a list the client does not touch again) whenever none of them needs the
    client itself (an answer to one of its actions, ``FullyBooted``, ``Shutdown``): the usual
    case under load, one call instead of one per event. Otherwise every event still goes
    through ``on_message``.

    ``backlog()``, when given, is how many messages the owner has not handled yet: past
    ``BEHIND`` the socket is read in bigger gulps (see :class:`_AmiProtocol`).

    ``keep_events``: when given, only events with these names (and those answering our own
    actions) are parsed and passed on; the others are framed and counted by name in
    :attr:`skipped_events`, never parsed. A user with read=all gets mostly dialplan events
    (VarSet, Newexten) nobody reads; not building them keeps the reader ahead of Asterisk.

    ``clock`` and ``sleep`` are every notion of time the client has (event receipt, session
    stability, backoff, Ping interval, every timeout): tests pass a simulated clock and count
    exactly what happens in simulated time.
    """

    def __init__(
        self,
        settings: AmiSettings,
        *,
        on_message: Callable[[dict[str, str], float], None],
        on_state: Callable[[ConnectionEvent], None] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        ssl_context: ssl.SSLContext | None = None,
        booted_fallback: float | None = None,
        uniform: Callable[[float, float], float] = random.uniform,
        keep_events: frozenset[str] | None = None,
        on_events: Callable[[list[dict[str, str]], float], None] | None = None,
        backlog: Callable[[], int] | None = None,
    ) -> None:
        self._on_events = on_events
        self._backlog = backlog
        self._keep = None if keep_events is None else keep_events | {"FullyBooted", "Shutdown"}
        self.skipped_events: dict[str, int] = {}
        self._settings = settings
        self._on_message = on_message
        self._on_state = on_state
        self._clock = clock
        self._sleep = sleep
        self._ssl_context = ssl_context
        self._booted_fallback = booted_fallback
        self._uniform = uniform
        self.stats = AmiStats()
        # A per-client prefix: another AMI client (acd check, a second acd) may broadcast a
        # UserEvent carrying its own "acd-N" ActionID, which must never match one of ours.
        self._tracker = ActionTracker(f"acd-{uuid.uuid4().hex[:8]}")
        self._proto: _AmiProtocol | None = None
        self._logged_in = False
        self._login_id: str | None = None
        self._banner_text: str | None = None
        self._runner: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._boot_timer: asyncio.Task[None] | None = None
        self._booted = False
        self._closing = False
        self._last_warned: dict[str, float] = {}
        self._auth_delay = settings.auth_retry

    def __repr__(self) -> str:
        s = self._settings
        state = "closed" if self._closing else ("logged-in" if self._logged_in else "connecting")
        return f"<AmiClient {s.username}@{s.host}:{s.port} tls={s.tls} {state}>"

    # --- public API ---

    @property
    def connected(self) -> bool:
        """Logged in: :meth:`send_action` will write to Asterisk."""
        return self._logged_in

    @property
    def banner(self) -> str | None:
        """The last AMI banner read (``Asterisk Call Manager/11.0.0``)."""
        return self._banner_text

    async def start(self) -> None:
        """Start connecting in the background and return at once. Calling it twice is an error."""
        if self._runner is not None:
            raise RuntimeError("AmiClient.start() called twice")
        if self._closing:
            raise RuntimeError("AmiClient is closed")
        self._runner = asyncio.get_running_loop().create_task(self._run(), name="acd-ami-session")

    async def close(self) -> None:
        """Stop everything: a polite Logoff if logged in, then the socket, the watchdog, the
        reconnect loop (even mid-backoff) and every pending action. Idempotent."""
        if self._closing:
            if self._runner is not None and not self._runner.done():
                await asyncio.wait({self._runner})
            return
        was_logged_in = self._logged_in
        self._closing = True
        if was_logged_in and self._proto is not None:
            self._proto.drop_reason = self._proto.drop_reason or "closed"
            with contextlib.suppress(AmiError):
                await self._send({"Action": "Logoff"}, "Logoff", min(1.0, self._settings.action_timeout))
        runner = self._runner
        if runner is not None and not runner.done():
            runner.cancel()
            await asyncio.wait({runner})
        self._tracker.fail_all(AmiNotConnected("AMI client closed"))

    async def send_action(self, action: Mapping[str, str], *, timeout: float | None = None) -> ActionResult:
        """Send one action and wait for its complete answer (list items included).

        Raises :class:`AmiNotConnected` when not logged in (nothing sent), :class:`AmiConnectionLost`
        when the connection broke after sending (it may have run; reads are re-sent instead),
        :class:`AmiTimeout` after ``timeout`` (default ``action_timeout``) seconds, and
        :class:`AmiActionError` when Asterisk answers with an error. An ``ActionID`` given in
        ``action`` is kept; otherwise one is assigned.
        """
        name = _action_name(action)
        if name.lower() in _SESSION_ACTIONS:
            raise ValueError(f"{name} is managed by the AMI client itself")
        if self._closing or not self._logged_in or self._proto is None:
            raise AmiNotConnected(f"{name}: not logged in to AMI")
        wait = self._settings.action_timeout if timeout is None else float(timeout)
        return await self._send(action, name, wait, safe=name.lower() in SAFE_TO_REPEAT)

    # --- session loop ---

    async def _run(self) -> None:
        s = self._settings
        backoff = Backoff(s.reconnect_min, s.reconnect_max, uniform=self._uniform)
        failures = 0  # failed attempts since the last session began
        while not self._closing:
            try:
                stable = await self._session()
                failures = 0
                if stable:
                    backoff.reset()
                delay = backoff.next_delay()
            except _AuthRefused:  # reported as AuthFailed, with its retry delay
                failures = 0
                delay = self._auth_delay
            except (OSError, TimeoutError, _Dropped) as exc:
                self.stats.last_error = _describe(exc)
                delay = backoff.next_delay()
                failures += 1
                self._notify(ConnectFailed(self.stats.last_error, self._clock(), delay, failures))
            except Exception as exc:  # a bug in one session must not end reconnecting for good
                self.stats.last_error = _describe(exc)
                delay = backoff.next_delay()
                log.exception("ami_session_failed", retry_in=round(delay, 2))
            else:
                if self._stopped():  # the session ended because close() logged off
                    return
            await self._sleep(delay)

    def _stopped(self) -> bool:
        return self._closing

    async def _session(self) -> bool:
        """One connection, from connect to loss. Returns whether it stayed up long enough to count
        as stable; raises on failure to establish it."""
        s = self._settings
        loop = asyncio.get_running_loop()
        framer = Framer(max_message_bytes=s.max_message_bytes, keep=self._keep)
        framer.skipped = self.skipped_events  # one tally across connections
        banner: asyncio.Future[str] = loop.create_future()
        lost: asyncio.Future[str] = loop.create_future()
        self.stats.connect_attempts += 1
        self._booted = False
        ssl_ctx = (
            self._ssl_context
            if self._ssl_context is not None
            else (ssl.create_default_context() if s.tls else None)
        )
        proto: _AmiProtocol | None = None

        def factory() -> _AmiProtocol:
            # Registered at once: the loop may deliver data (and even the loss) before
            # create_connection's caller resumes.
            nonlocal proto
            proto = self._proto = _AmiProtocol(self, framer, banner, lost)
            return proto

        try:
            await self._within(
                loop.create_connection(factory, s.host, s.port, ssl=ssl_ctx), s.connect_timeout
            )
            assert proto is not None
            with contextlib.suppress(TimeoutError):
                await self._within(
                    asyncio.wait({banner, lost}, return_when=asyncio.FIRST_COMPLETED), s.connect_timeout
                )
            if not banner.done():
                proto.drop("no AMI banner")
                raise _Dropped(
                    lost.result() if lost.done() else f"no AMI banner within {s.connect_timeout:g}s"
                )
            self._banner_text = banner.result()
            self._notify(Connected(self._banner_text, self._clock()))
            await self._login(proto, lost)
            up_since = self._clock()
            self._watchdog = loop.create_task(self._ping_loop(proto), name="acd-ami-ping")
            if self._booted_fallback is not None and not self._booted:
                self._boot_timer = loop.create_task(self._boot_wait(proto), name="acd-ami-boot")
            await lost  # the loss itself is reported as Disconnected (_on_lost)
            return self._clock() - up_since >= s.reconnect_max
        finally:
            await self._teardown(proto, lost)

    async def _login(self, proto: _AmiProtocol, lost: asyncio.Future[str]) -> None:
        s = self._settings
        action_id = self._tracker.new_id()
        self._login_id = action_id
        login = {
            "Action": "Login",
            "ActionID": action_id,
            "Username": s.username,
            "Secret": s.secret.get_secret_value(),
            "Events": "on",
        }
        try:
            await self._send(login, "Login", s.action_timeout, write_to=proto)
        except AmiActionError as exc:
            self.stats.auth_failures += 1
            self.stats.last_error = f"login refused: {exc.message or 'no reason given'}"
            self._auth_delay = s.auth_retry * self._uniform(0.9, 1.1)
            self._notify(AuthFailed(exc.message or "no reason given", self._clock(), self._auth_delay))
            proto.drop("login refused")
            raise _AuthRefused from None
        except AmiNotConnected:  # lost after the write (AmiConnectionLost) or before it
            raise _Dropped(lost.result() if lost.done() else "connection lost during login") from None
        except AmiTimeout:
            proto.drop("login unanswered")
            raise _Dropped(f"no answer to Login within {s.action_timeout:g}s") from None
        finally:
            self._login_id = None

    def _on_response(self, msg: dict[str, str]) -> None:
        """Responses are rare next to events; the login one flips state before the next message
        in the same read (FullyBooted usually follows it at once) is delivered."""
        try:
            login_id = self._login_id
            if login_id is not None and msg.get("ActionID") == login_id and msg.get("Response") == "Success":
                self._logged_in_now()
            self._tracker.on_response(msg)
        except Exception as exc:  # never let a bookkeeping bug reach the transport
            self._handler_failed(exc, "<response>")

    def _logged_in_now(self) -> None:
        self._logged_in = True
        self.stats.logins += 1
        if self.stats.logins > 1:
            self.stats.reconnects += 1
        self.stats.last_error = None
        self._notify(LoggedIn(self._clock()))

    def _resend_reads(self) -> None:
        """Write again the reads that were pending when the last connection dropped. Done on
        FullyBooted, not at login: a booting Asterisk accepts the login before its modules are
        loaded, and a QueueStatus answered then would describe a half-started PBX."""
        proto = self._proto
        if proto is None or not self._logged_in:
            return
        for pending in self._tracker.take_resend():
            try:
                proto.write(pending.payload)
            except AmiNotConnected:
                break
            self.stats.actions_resent += 1
            log.info("ami_action_resent", action=pending.name, action_id=pending.action_id)

    async def _ping_loop(self, proto: _AmiProtocol) -> None:
        s = self._settings
        while not proto.closed:
            await self._sleep(s.ping_interval)
            try:
                await self._send({"Action": "Ping"}, "Ping", s.ping_timeout, write_to=proto)
            except AmiActionError:
                continue  # an answer, even an error, proves the peer alive
            except AmiTimeout:
                self.stats.ping_timeouts += 1
                proto.drop(f"no answer to Ping within {s.ping_timeout:g}s")
                return
            except AmiNotConnected:
                return

    async def _boot_wait(self, proto: _AmiProtocol) -> None:
        assert self._booted_fallback is not None
        await self._sleep(self._booted_fallback)
        self._boot_fallback(proto)

    def _boot_fallback(self, proto: _AmiProtocol) -> None:
        self._boot_timer = None
        if proto is self._proto and self._logged_in and not self._booted:
            self._booted = True
            self._resend_reads()
            self._notify(FullyBooted({}, self._clock(), synthetic=True))

    async def _teardown(self, proto: _AmiProtocol | None, lost: asyncio.Future[str]) -> None:
        timers = [t for t in (self._boot_timer, self._watchdog) if t is not None and not t.done()]
        self._boot_timer = self._watchdog = None
        for timer in timers:
            timer.cancel()
        if timers:
            await asyncio.wait(timers)
        if proto is not None:
            proto.drop("closed" if self._closing else "session ended")
            if not lost.done():
                await asyncio.wait({lost}, timeout=1.0)
        if self._proto is proto:
            self._proto = None
        self._logged_in = False

    def _on_lost(self, proto: _AmiProtocol, reason: str) -> None:
        if proto is not self._proto:
            return
        was_logged_in = self._logged_in
        self._logged_in = False
        self._tracker.connection_lost(AmiConnectionLost, reason)
        if proto._banner.done():
            self._notify(Disconnected(reason, self._clock(), was_logged_in))

    # --- sending ---

    async def _send(
        self,
        action: Mapping[str, str],
        name: str,
        timeout: float,
        *,
        safe: bool = False,
        write_to: _AmiProtocol | None = None,
    ) -> ActionResult:
        proto = write_to if write_to is not None else self._proto
        if proto is None:
            raise AmiNotConnected(f"{name}: not connected")
        headers = [(k, v) for k, v in action.items() if k.lower() not in ("action", "actionid")]
        action_id = _header(action, "ActionID") or self._tracker.new_id()
        payload = encode_message([("Action", name), ("ActionID", action_id), *headers])
        future: asyncio.Future[ActionResult] = asyncio.get_running_loop().create_future()
        self._tracker.register(action_id, name, payload, future, safe=safe)
        try:
            proto.write(payload)
            self.stats.actions_sent += 1
            return await self._within(future, timeout)
        except TimeoutError:
            self.stats.action_timeouts += 1
            raise AmiTimeout(f"{name}: no complete answer within {timeout:g}s") from None
        finally:
            self._tracker.forget(action_id)

    async def _within(self, awaitable: Awaitable[_T], timeout: float) -> _T:
        """``asyncio.wait_for`` on the client's own ``sleep``: the awaitable's result, or
        ``TimeoutError`` (the awaitable cancelled) once ``timeout`` has passed on that clock."""
        inner = asyncio.ensure_future(awaitable)
        # The caller may be cancelled in the very turn the answer fails (a session torn down as
        # its connection is lost): the failure is then nobody's to read, and must not be logged
        # by asyncio as "never retrieved" at garbage collection.
        inner.add_done_callback(_mark_retrieved)
        timer = asyncio.ensure_future(self._sleep(timeout))
        try:
            await asyncio.wait({inner, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not inner.done():
                inner.cancel()
            timer.cancel()
        if not inner.done():
            # A task (a connect, the banner wait) needs a turn of the loop to finish its
            # cancellation: let it, so the caller moves on with TimeoutError, not half a connect.
            await asyncio.wait({inner})
        if inner.cancelled():
            raise TimeoutError
        return inner.result()

    # --- guarded callbacks and reporting ---

    def _notify(self, notice: ConnectionEvent) -> None:
        if self._on_state is None:
            return
        try:
            self._on_state(notice)
        except BaseException as exc:
            if isinstance(exc, (SystemExit, KeyboardInterrupt)):
                raise
            self._handler_failed(exc, type(notice).__name__)

    def _on_system_event(self, event: str, msg: dict[str, str], now: float) -> None:
        if event == "FullyBooted":
            self._booted = True
            self._resend_reads()
            self._notify(FullyBooted(msg, now))
        elif self._proto is not None:
            self._proto.drop_reason = self._proto.drop_reason or "Asterisk shut down"

    def _handler_failed(self, exc: BaseException, where: str) -> None:
        self.stats.handler_errors += 1
        self._warn("ami_handler_failed", where=where, errors=self.stats.handler_errors, exc_info=exc)

    def _wire_anomalies(self, anomalies: list[FrameAnomaly], now: float) -> None:
        self.stats.anomalies += len(anomalies)
        for anomaly in anomalies:
            self._notify(WireAnomaly(anomaly.kind, anomaly.detail, now))
        first = anomalies[0]
        detail = first.detail[:120]
        self._warn("ami_wire_anomaly", kind=first.kind, detail=detail, anomalies=self.stats.anomalies)

    def _warn(self, event: str, *, exc_info: BaseException | None = None, **fields: Any) -> None:
        """Log at WARNING at most once per ``_LOG_EVERY`` seconds per event: a storm of bad input
        must not cost more in logging than in parsing (the rest go to DEBUG)."""
        now = time.monotonic()
        last = self._last_warned.get(event)
        if last is not None and now - last < _LOG_EVERY:
            log.debug(event, **fields)
            return
        self._last_warned[event] = now
        log.warning(event, exc_info=exc_info, **fields)


def _mark_retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _header(action: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in action.items():
        if key.lower() == lowered:
            return str(value)
    return None


def _action_name(action: Mapping[str, str]) -> str:
    name = _header(action, "Action")
    if not name:
        raise ValueError("an AMI action needs an 'Action' header")
    return name


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError) and not str(exc):
        return "timed out"
    return str(exc) or type(exc).__name__
