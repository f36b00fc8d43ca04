"""systemd readiness, status and watchdog notifications (``sd_notify``), without a dependency.

The protocol is one datagram of ``KEY=value`` lines to the AF_UNIX socket named in
``$NOTIFY_SOCKET`` (a path, or an abstract socket when it starts with ``@``). Without systemd the
variable is unset and every call is a cheap no-op, so the daemon runs the same under a terminal,
in tests and in containers.

Why the watchdog ping is sent from the event loop (:func:`watchdog_loop`) rather than a thread: a
thread keeps pinging while the loop is stuck in a blocking call, and systemd would never restart
a daemon that no longer reads AMI. From the loop, a blocked loop stops pinging
and ``WatchdogSec`` ends it.

A notification never raises: losing a status line is better than losing the daemon.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Mapping

import structlog

__all__ = ["Notifier", "watchdog_loop"]

_log = structlog.get_logger("acd.sdnotify")


class Notifier:
    """Sends ``sd_notify`` messages to systemd, or nothing when not started by systemd.

    ``environ`` defaults to ``os.environ``; tests pass their own. The socket is opened once and
    kept (the daemon pings every few seconds for days).
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._env = env
        address = env.get("NOTIFY_SOCKET", "")
        self._address: str | None = None
        self._sock: socket.socket | None = None
        self.sent = 0  # datagrams delivered, for tests and debugging
        if address:
            if address.startswith("@"):
                address = "\0" + address[1:]
            elif not address.startswith("/"):
                _log.warning(
                    "notify_socket_ignored", address=address, why="neither a path nor an abstract socket"
                )
                return
            self._address = address

    @property
    def enabled(self) -> bool:
        """True when started by systemd with a notification socket."""
        return self._address is not None

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=value`` lines in one datagram; False when not sent (no systemd, or an error)."""
        if self._address is None:
            return False
        payload = "\n".join(assignments).encode("utf-8", "replace")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto(payload, self._address)
        except OSError as err:
            # systemd gone (shutdown) or its queue full: drop the notification, keep running.
            _log.debug("sd_notify_failed", error=str(err))
            return False
        self.sent += 1
        return True

    def ready(self, status: str | None = None) -> bool:
        """READY=1: the database and listeners are open (AMI may still be connecting)."""
        if status is None:
            return self.notify("READY=1")
        return self.notify("READY=1", "STATUS=" + _one_line(status))

    def status(self, text: str) -> bool:
        """STATUS=: the line ``systemctl status`` shows (AMI state, events/s, write backlog)."""
        return self.notify("STATUS=" + _one_line(text))

    def watchdog(self) -> bool:
        """WATCHDOG=1: the process is alive; send it from the event loop (see watchdog_loop)."""
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        """STOPPING=1: shutdown has begun (draining); systemd stops expecting watchdog pings."""
        if status is None:
            return self.notify("STOPPING=1")
        return self.notify("STOPPING=1", "STATUS=" + _one_line(status))

    def extend_timeout(self, seconds: float) -> bool:
        """EXTEND_TIMEOUT_USEC=: ask for more time for a start or stop that is still progressing."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={max(1, round(seconds * 1_000_000))}")

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings: half of ``WatchdogSec``, as sd_watchdog_enabled(3) advises.

        None when systemd expects no pings: no ``WATCHDOG_USEC``, a ``WATCHDOG_PID`` naming another
        process, or values that are not positive integers.
        """
        usec = self._env.get("WATCHDOG_USEC", "")
        pid = self._env.get("WATCHDOG_PID", "")
        if not usec:
            return None
        if pid:
            try:
                if int(pid) != os.getpid():
                    return None
            except ValueError:
                return None
        try:
            value = int(usec)
        except ValueError:
            return None
        if value <= 0:
            return None
        return value / 2_000_000

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _one_line(text: str) -> str:
    """A STATUS value must not start a new ``KEY=`` line."""
    return " ".join(text.split())


async def watchdog_loop(
    notifier: Notifier,
    interval: float,
    healthy: Callable[[], bool] | None = None,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Send WATCHDOG=1 every ``interval`` seconds from the running event loop, until cancelled.

    ``healthy`` (optional) is asked before each ping; returning False withholds it, so a daemon
    can let systemd restart it when, say, its event consumer has stalled although the loop runs.
    ``sleep`` is injectable so tests count pings in simulated time.
    """
    if interval <= 0:
        raise ValueError(f"watchdog interval must be positive, got {interval}")
    while True:
        if healthy is None or healthy():
            notifier.watchdog()
        await sleep(interval)
