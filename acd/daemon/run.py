"""``acd run``: the daemon until a signal, and the exit code systemd reads.

SIGTERM or SIGINT stops gracefully (nothing the core has seen is lost: the queue drains through
the core, the writer flushes within its deadline); a second signal exits at once with code 1,
after writing what already waits for its fsync. A listener that cannot bind, or a database user
that may not take the leadership lock, is one line on stderr and code 2 (the operator's to fix,
not systemd's to retry); any other start failure, or a task that crashed, is code 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import sys
from collections.abc import Callable

import structlog

from acd.daemon.listeners import CannotListen
from acd.daemon.wiring import Daemon
from acd.ha import LockNotPermitted
from acd.settings import Settings

__all__ = ["run_daemon"]

log = structlog.get_logger("acd.daemon")


def _cannot_listen(exc: BaseException) -> str | None:
    """The one line for a listener that could not bind, or None for any other start failure."""
    if isinstance(exc, CannotListen):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
        return str(exc)  # asyncio's own words name the address
    return None


async def run_daemon(settings: Settings, *, ready: Callable[[Daemon], None] | None = None) -> int:
    """Run until SIGTERM/SIGINT; return the process exit code."""
    loop = asyncio.get_running_loop()
    daemon = Daemon(settings)
    signals = 0

    def on_signal(signum: int) -> None:
        nonlocal signals
        signals += 1
        if signals > 1:
            log.warning("forced_exit", signal=signal.Signals(signum).name)
            if daemon.writer is not None:  # what waits for its fsync is written first
                daemon.writer.flush_sync(2.0)
            os._exit(1)
        log.info("stopping", signal=signal.Signals(signum).name)
        daemon.request_stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await daemon.start()
    except Exception as exc:
        await daemon.stop()
        listen = _cannot_listen(exc)
        if listen is not None:
            print(f"acd: cannot listen: {listen}", file=sys.stderr, flush=True)
            return 2
        if isinstance(exc, LockNotPermitted):
            print(f"acd: database: {exc}", file=sys.stderr, flush=True)
            return 2
        log.error("start_failed", error=str(exc))
        return 1
    if ready is not None:
        ready(daemon)
    await daemon.wait()
    failed = daemon.failed
    with contextlib.suppress(Exception):
        await daemon.stop()
    return 1 if failed is not None else 0
