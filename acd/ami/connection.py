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
4. a Ping watchdog: nothing received for ``ping_timeout`` while a Ping waits for its answer
   drops the connection (a silent, half-open peer is noticed) and the reconnect loop takes over;
   a Ping answered late behind a big answer or a burst, bytes arriving meanwhile, does not
   (:mod:`acd.ami.keepalive` says why);
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
it means and logs it once (the daemon, acd/daemon/ami_notices.py). The client logs only what
no notice carries: a handler that raised, malformed bytes (both rate-limited), a read written
again after a reconnect, a Ping unanswered for the action timeout while Asterisk kept sending, and
a bug in the session loop itself.

The pieces, one job each: :mod:`acd.ami.protocol` (the socket: bytes framed into messages and
handed on, the hot path), :mod:`acd.ami.actions` (the table of actions waiting for an answer),
:mod:`acd.ami.sending` (write an action, wait for its answer on the client's clock),
:mod:`acd.ami.login`, :mod:`acd.ami.keepalive` (the Ping watchdog, the FullyBooted stand-in),
:mod:`acd.ami.backoff` and :mod:`acd.ami.notices` (what the owner is told). This module is the
session loop that ties them together, and the client's public face.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

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
from acd.ami.codec import FrameAnomaly, Framer
from acd.ami.keepalive import ping_watchdog, stand_in_for_boot
from acd.ami.login import LoginRefused, SessionDropped, log_in
from acd.ami.notices import (
    AmiStats,
    AuthFailed,
    Connected,
    ConnectFailed,
    ConnectionEvent,
    Disconnected,
    FullyBooted,
    LoggedIn,
    WireAnomaly,
)
from acd.ami.protocol import AmiProtocol
from acd.ami.sending import Sleep, action_name, request, within
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

_SESSION_ACTIONS: Final = frozenset({"login", "logoff", "challenge"})
_LOG_EVERY: Final = 10.0  # seconds between repeated warnings of one kind


class AmiClient:
    """One AMI session to Asterisk, reconnected for ever until :meth:`close`.

    ``on_message(headers, received_at)`` gets every event in wire order (list items of our own
    actions included), synchronously from the socket read: it must be cheap and should only
    enqueue. ``on_state`` gets :data:`ConnectionEvent` notices. Both are guarded: an exception
    is counted in ``stats.handler_errors`` and logged, never fatal.

    ``on_events(events, received_at)``, when given, takes the events of one read in one call
    (in wire order, as a list the client does not touch again) whenever none of them answers one
    of the client's actions: the usual case under load, one call instead of one per event. A
    ``FullyBooted`` or ``Shutdown`` among them ends a call (the client acts on it right after it
    was handed on, before the events after it). Otherwise every event still goes through
    ``on_message``.

    ``backlog()``, when given, is how many messages the owner has not handled yet: past
    ``BEHIND`` the socket is read in bigger gulps (see :class:`acd.ami.protocol.AmiProtocol`).

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
        self._proto: AmiProtocol | None = None
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
    def booted(self) -> bool:
        """Logged in and Asterisk fully booted (its FullyBooted, or the fallback's)."""
        return self._logged_in and self._booted

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
        name = action_name(action)
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
            except LoginRefused:  # reported as AuthFailed, with its retry delay
                failures = 0
                delay = self._auth_delay
            except (OSError, TimeoutError, SessionDropped) as exc:
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
        proto: AmiProtocol | None = None

        def factory() -> AmiProtocol:
            # Registered at once: the loop may deliver data (and even the loss) before
            # create_connection's caller resumes.
            nonlocal proto
            proto = self._proto = self._new_protocol(framer, banner, lost)
            return proto

        try:
            await within(
                loop.create_connection(factory, s.host, s.port, ssl=ssl_ctx), s.connect_timeout, self._sleep
            )
            assert proto is not None
            with contextlib.suppress(TimeoutError):
                await within(
                    asyncio.wait({banner, lost}, return_when=asyncio.FIRST_COMPLETED),
                    s.connect_timeout,
                    self._sleep,
                )
            if not banner.done():
                proto.drop("no AMI banner")
                raise SessionDropped(
                    lost.result() if lost.done() else f"no AMI banner within {s.connect_timeout:g}s"
                )
            self._banner_text = banner.result()
            self._notify(Connected(self._banner_text, self._clock()))
            await self._login(proto, lost)
            up_since = self._clock()
            self._watchdog = loop.create_task(
                ping_watchdog(
                    proto,
                    self._ping,
                    interval=s.ping_interval,
                    timeout=s.ping_timeout,
                    patience=s.action_timeout,
                    clock=self._clock,
                    sleep=self._sleep,
                    stats=self.stats,
                ),
                name="acd-ami-ping",
            )
            if self._booted_fallback is not None and not self._booted:
                fire = functools.partial(self._boot_fallback, proto)
                self._boot_timer = loop.create_task(
                    stand_in_for_boot(self._booted_fallback, self._sleep, fire), name="acd-ami-boot"
                )
            await lost  # the loss itself is reported as Disconnected (_on_lost)
            return self._clock() - up_since >= s.reconnect_max
        finally:
            await self._teardown(proto, lost)

    async def _login(self, proto: AmiProtocol, lost: asyncio.Future[str]) -> None:
        s = self._settings
        self._login_id = self._tracker.new_id()
        try:
            await log_in(self._send_on, proto, lost, s, self._login_id)
        except LoginRefused as exc:
            self.stats.auth_failures += 1
            self.stats.last_error = f"login refused: {exc.message}"
            self._auth_delay = s.auth_retry * self._uniform(0.9, 1.1)
            self._notify(AuthFailed(exc.message, self._clock(), self._auth_delay))
            raise
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

    def _boot_fallback(self, proto: AmiProtocol) -> None:
        self._boot_timer = None
        if proto is self._proto and self._logged_in and not self._booted:
            self._booted = True
            self._resend_reads()
            self._notify(FullyBooted({}, self._clock(), synthetic=True))

    async def _teardown(self, proto: AmiProtocol | None, lost: asyncio.Future[str]) -> None:
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

    def _on_lost(self, proto: AmiProtocol, reason: str) -> None:
        if proto is not self._proto:
            return
        was_logged_in = self._logged_in
        self._logged_in = False
        self._tracker.connection_lost(AmiConnectionLost, reason)
        if proto.banner_seen:
            self._notify(Disconnected(reason, self._clock(), was_logged_in))

    # --- sending ---

    async def _send(
        self, action: Mapping[str, str], name: str, timeout: float, *, safe: bool = False
    ) -> ActionResult:
        proto = self._proto
        return await request(proto, self._tracker, self.stats, self._sleep, action, name, timeout, safe=safe)

    async def _send_on(
        self, action: Mapping[str, str], name: str, timeout: float, proto: AmiProtocol
    ) -> ActionResult:
        """Send on one connection (the one being logged in or watched), not whichever is current."""
        return await request(proto, self._tracker, self.stats, self._sleep, action, name, timeout)

    async def _ping(self, proto: AmiProtocol, timeout: float) -> ActionResult:
        return await self._send_on({"Action": "Ping"}, "Ping", timeout, proto)

    def _new_protocol(
        self, framer: Framer, banner: asyncio.Future[str], lost: asyncio.Future[str]
    ) -> AmiProtocol:
        return AmiProtocol(
            framer,
            banner,
            lost,
            clock=self._clock,
            stats=self.stats,
            tracker=self._tracker,
            on_message=self._on_message,
            on_events=self._on_events,
            backlog=self._backlog,
            on_response=self._on_response,
            on_system_event=self._on_system_event,
            on_lost=self._on_lost,
            handler_failed=self._handler_failed,
            wire_anomalies=self._wire_anomalies,
        )

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


def _describe(exc: BaseException) -> str:
    """A failed connection attempt in words (a bare ``TimeoutError`` says nothing by itself)."""
    if isinstance(exc, TimeoutError) and not str(exc):
        return "timed out"
    return str(exc) or type(exc).__name__
