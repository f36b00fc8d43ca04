"""One AMI connection's socket: bytes read, framed into messages and handed on, in wire order.

The hot path of the whole daemon: every event Asterisk writes passes through
:meth:`AmiProtocol.data_received`. It feeds the framer once per read, reads the clock once per
read and, when the read holds only events, hands them all to ``on_events`` in one guarded call
(the checks are C-level scans of the names), or in a few, cut after each event the client acts on
itself (``FullyBooted``, ``Shutdown``). Otherwise each
message gets one ``dict.get``, one truth test and one guarded call; responses and list items take
a slower branch, which is rare on a live system.

The protocol decides nothing about the session: it is given the owner's hooks when it is made
(:class:`acd.ami.connection.AmiClient` makes one per connection) and reports the connection's loss
to ``on_lost``; reconnecting is the owner's. A handler's exception never reaches the transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from itertools import repeat
from typing import Final

from acd.ami.actions import ActionTracker, AmiNotConnected
from acd.ami.codec import FrameAnomaly, Framer
from acd.ami.notices import AmiStats

__all__ = ["BEHIND", "READ_AHEAD", "READ_SIZE", "AmiProtocol"]

READ_SIZE: Final = 32 << 10  # bytes per socket read (about 80 events)
READ_AHEAD: Final = 256 << 10  # ... while more than BEHIND messages wait to be handled
BEHIND: Final = 0
_EVENT: Final = repeat("Event")
_SYSTEM: Final = frozenset({"FullyBooted", "Shutdown"})  # events the client acts on itself

OnMessage = Callable[[dict[str, str], float], None]
OnEvents = Callable[[list[dict[str, str]], float], None]


class AmiProtocol(asyncio.BufferedProtocol):
    """One TCP (or TLS) connection: frames bytes into messages and hands them to the owner's hooks
    (guarded: a handler's exception never reaches the transport); reports its loss to ``on_lost``.

    A buffered protocol so that acd chooses the read size: asyncio's plain protocols read up to
    256 KiB at once when Asterisk is ahead, about 700 messages parsed and queued before the first
    is handled, which spills the CPU caches; reads of ``READ_SIZE`` keep a read's messages warm
    until the consumer has handled them (bench/bench_pipeline.py: 15-25% less CPU per event).
    As soon as ``backlog`` says that what was read waits anyway (the consumer did not keep up),
    reads take up to ``READ_AHEAD`` at once: the reader stays ahead of Asterisk, which cuts off a
    client that leaves its buffer full too long (manager.conf writetimeout).

    The hooks (see :class:`acd.ami.connection.AmiClient` for their contracts): ``on_message`` gets
    every event, ``on_events`` (optional) a whole read of events none of which answers the
    client's actions; ``on_response`` gets messages without ``Event``; ``on_system_event`` gets
    ``FullyBooted`` and ``Shutdown`` once they were handed on; list items of the client's own
    actions go to ``tracker`` too. ``handler_failed`` is told of an exception a handler raised,
    ``wire_anomalies`` of bytes that were not well-formed AMI.
    """

    def __init__(
        self,
        framer: Framer,
        banner: asyncio.Future[str],
        lost: asyncio.Future[str],
        *,
        clock: Callable[[], float],
        stats: AmiStats,
        tracker: ActionTracker,
        on_message: OnMessage,
        on_events: OnEvents | None,
        backlog: Callable[[], int] | None,
        on_response: Callable[[dict[str, str]], None],
        on_system_event: Callable[[str, dict[str, str], float], None],
        on_lost: Callable[[AmiProtocol, str], None],
        handler_failed: Callable[[BaseException, str], None],
        wire_anomalies: Callable[[list[FrameAnomaly], float], None],
    ):
        self._view = memoryview(bytearray(READ_AHEAD))
        self._small = self._view[:READ_SIZE]
        self._framer = framer
        self._banner = banner
        self._lost = lost
        self._clock = clock
        self._stats = stats
        self._tracker = tracker
        self._on_message = on_message
        self._on_events = on_events
        self._backlog = backlog
        self._on_response = on_response
        self._on_system_event = on_system_event
        self._report_lost = on_lost
        self._handler_failed = handler_failed
        self._wire_anomalies = wire_anomalies
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.drop_reason: str | None = None
        self.last_received = 0.0  # when bytes last arrived (on ``clock``): the Ping watchdog's sign of life

    @property
    def banner_seen(self) -> bool:
        """The AMI banner was read: a session began on this connection."""
        return self._banner.done()

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
        backlog = self._backlog
        if backlog is not None and backlog() > BEHIND:
            return self._view
        return self._small

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._view[:nbytes])  # the framer copies what it keeps

    def data_received(self, data: bytes | memoryview) -> None:
        now = self._clock()
        self.last_received = now
        framer = self._framer
        msgs = framer.feed(data)
        stats = self._stats
        stats.bytes += len(data)
        if framer.anomalies:
            self._wire_anomalies(framer.pop_anomalies(), now)
        if not self._banner.done() and framer.banner is not None:
            self._banner.set_result(framer.banner)
        if not msgs:
            return
        stats.messages += len(msgs)
        tracker = self._tracker
        on_events = self._on_events
        if on_events is not None and not tracker.listing:
            # The usual read under load: events only. They go on in one call (the checks are
            # C-level scans of their names); one the client acts on itself (FullyBooted,
            # Shutdown) ends its part of the read, and the client acts once it is handed on, as
            # for an event handed on alone.
            names = list(map(dict.get, msgs, _EVENT))
            if None not in names:
                if "FullyBooted" not in names and "Shutdown" not in names:
                    stats.events += len(msgs)
                    self._hand_on(on_events, msgs, now)
                    return
                start = 0
                for i in [i for i, name in enumerate(names) if name in _SYSTEM]:
                    stats.events += i + 1 - start
                    self._hand_on(on_events, msgs[start : i + 1], now)
                    self._on_system_event(names[i], msgs[i], now)  # type: ignore[arg-type]
                    start = i + 1
                    if tracker.listing:
                        break  # what follows may answer an action sent just now: one by one
                msgs = msgs[start:]
                if not tracker.listing:
                    if msgs:
                        stats.events += len(msgs)
                        self._hand_on(on_events, msgs, now)
                    return
        on_message = self._on_message
        for msg in msgs:
            event = msg.get("Event")
            if event is None:
                self._on_response(msg)
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
                self._handler_failed(exc, event)
            if event == "FullyBooted" or event == "Shutdown":
                self._on_system_event(event, msg, now)

    def _hand_on(self, on_events: OnEvents, msgs: list[dict[str, str]], now: float) -> None:
        try:
            on_events(msgs, now)
        except BaseException as exc:  # as below: never into the transport
            if isinstance(exc, (SystemExit, KeyboardInterrupt)):
                raise
            self._handler_failed(exc, "<events>")

    def eof_received(self) -> bool:
        self.drop_reason = self.drop_reason or "connection closed by Asterisk"
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        reason = self.drop_reason or (f"connection lost: {exc}" if exc else "connection closed by Asterisk")
        if self._framer.buffered:
            # A message cut by the disconnect is lost with it: say so, the core may be missing an event.
            detail = f"{self._framer.buffered} bytes of an unfinished message lost with the connection"
            self._wire_anomalies([FrameAnomaly("truncated", detail)], self._clock())
        self._report_lost(self, reason)
        if not self._lost.done():
            self._lost.set_result(reason)
