"""The lookup server: Asterisk's ``CURL()`` asks, acd answers from threads a busy loop cannot delay.

Why threads of their own, with blocking sockets: the answer must not wait for the daemon's event
loop (a burst of events, a slow database call, a bug), so it never touches the loop; it reads the
core's published :class:`~acd.core.routing_view.RoutingView` through ``answer``. What it still
shares with the loop is Python's GIL: each time a thread comes back from a system call while
another thread runs Python code, it may wait up to the switch interval (5 ms) for the GIL. A
blocking worker needs four such returns per lookup (accept, recv, send, close), against one per
``select`` wake-up, read and write in an event loop, so the bound holds without lowering Python's
switch interval for the whole process (bench/bench_lookup.py measures it). Socket timeouts are the
kernel's (``SO_RCVTIMEO``/``SO_SNDTIMEO``), which cost no extra system call.

The time bound itself is Asterisk's: the dialplan sets ``CURLOPT(httptimeout)``, so a caller waits
at most that long whatever acd does, frozen included. Here: ``workers`` threads each accept one
connection, read one request (at most :data:`~acd.routing.answer.MAX_REQUEST_BYTES`, within the
bound), answer, close. Nothing is logged per request (the query carries caller numbers); bad
requests are counted and logged at most once per ``LOG_EVERY`` seconds.

Before the answer is sent, its command (if any) is handed to ``put``; after it is sent, ``wake``
tells the loop (waking it costs a system call, so not before the caller has the answer).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from acd.core.commands import Command
from acd.routing.answer import MAX_REQUEST_BYTES, LookupRequest, http_response, parse_request

__all__ = ["LogLimiter", "LookupServer", "Reply"]

log = structlog.get_logger("acd.routing.lookup")

LOG_EVERY = 10.0
WORKERS = 8


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer: the body, a result label for the counters, and what the core must hear of it."""

    body: str
    result: str
    command: Command | None = None


class LogLimiter:
    """At most one log line per ``every`` seconds per kind; the lines in between are counted."""

    def __init__(self, every: float = LOG_EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def __call__(self, kind: str, **fields: object) -> None:
        now = self.clock()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.every:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return
            self._last[kind] = now
            suppressed = self._suppressed.pop(kind, 0)
        log.warning(kind, suppressed=suppressed, **fields)


Counter = Callable[[str, float], None]  # (result, seconds) -> None


class LookupServer:
    def __init__(
        self,
        host: str,
        port: int,
        answer: Callable[[LookupRequest], Reply],
        *,
        timeout: float,
        put: Callable[[Command], None] | None = None,
        wake: Callable[[], None] | None = None,
        count: Counter | None = None,
        workers: int = WORKERS,
        limit_log: LogLimiter | None = None,
        announce: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.answer = answer
        self.timeout = timeout
        self.put = put
        self.wake = wake
        self.count = count
        self.workers = workers
        self.limit_log = limit_log or LogLimiter()
        self.announce = announce
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.served = 0

    def start(self) -> None:
        """Bind and start answering. Raises OSError when the port cannot be bound."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            listener.listen(512)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self.port = listener.getsockname()[1]
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"acd-lookup-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.announce:
            log.info("lookup_listening", host=self.host, port=self.port, bound_seconds=self.timeout)

    def close_listener(self) -> None:
        """Stop accepting now, without waiting for the threads (a new lookup is refused: the
        dialplan goes on at once). Idempotent; safe on the event loop."""
        self._stop.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the threads blocked in accept()
            listener.close()

    def close(self) -> None:
        """Stop accepting, then wait for the threads. Idempotent."""
        self.close_listener()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._threads.clear()

    # -- worker threads ---------------------------------------------------------------------------

    def _work(self) -> None:
        listener = self._listener
        if listener is None:
            return
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                if self._stop.is_set():
                    return
                time.sleep(0.01)  # out of descriptors or a transient error: do not spin
                continue
            started = time.perf_counter()
            try:
                self._serve(conn, started)
            except Exception as exc:  # a bug answers nothing; the caller's bound still holds
                self.limit_log("lookup_failed", error=repr(exc)[:200])
            finally:
                conn.close()

    def _serve(self, conn: socket.socket, started: float) -> None:
        seconds = max(0.001, self.timeout)
        timeval = struct.pack("ll", int(seconds), int((seconds % 1) * 1_000_000))
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
        data = b""
        try:
            while b"\r\n\r\n" not in data and b"\n\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
                if len(data) > MAX_REQUEST_BYTES:
                    break
        except OSError:  # the kernel's receive timeout (EAGAIN) or a reset
            pass
        if not data:
            self._counted("empty", started)
            return
        if len(data) > MAX_REQUEST_BYTES:
            request = LookupRequest("", problem="request too large")
        else:
            request = parse_request(data)
        reply = self.answer(request)
        if request.problem is not None:
            self.limit_log("lookup_bad_request", problem=request.problem, path=request.path[:40])
        if reply.command is not None and self.put is not None:
            self.put(reply.command)
        try:
            conn.sendall(http_response(reply.body, head_only=data.startswith(b"HEAD ")))
        except OSError:
            self._counted("unsent", started)
            return
        self.served += 1
        self._counted(reply.result, started)
        if reply.command is not None and self.wake is not None:
            self.wake()

    def _counted(self, result: str, started: float) -> None:
        if self.count is not None:
            self.count(result, time.perf_counter() - started)
