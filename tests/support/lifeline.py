"""What the test session starts ends with the session, however the session ends.

- SIGTERM (a CI job's timeout, ``kill PID``) ends the run as Ctrl-C does (:func:`interrupt_on_sigterm`,
  installed by tests/conftest.py): pytest's KeyboardInterrupt path tears down every fixture and
  every test's ``finally``, so the servers they started are stopped. Without it the default
  action kills pytest on the spot, and PostgreSQL, Prometheus and daemons run on.
- SIGKILL (and the kernel's OOM killer) leave no teardown at all:
  - a server started as pytest's own child takes a parent-death signal (:func:`die_with_parent`:
    Prometheus);
  - a server that detaches from pytest (PostgreSQL: ``pg_ctl`` starts the postmaster in the
    background, as the ``postgres`` user, so it is nobody's child and a parent-death signal would
    not survive the change of user anyway) is stopped by a watchdog (:func:`stop_when_gone`): a
    small process that waits for end-of-file on a pipe only the session holds, which comes however
    the session ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType

__all__ = ["die_with_parent", "interrupt_on_sigterm", "reinstate_sigterm", "stop_when_gone"]

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def interrupt_on_sigterm() -> Callable[[], None]:
    """SIGTERM raises KeyboardInterrupt in the main thread (pytest then tears everything down and
    exits 2, as on Ctrl-C; a second one interrupts the teardown as a second Ctrl-C does, and the
    watchdogs finish it). Returns what puts the previous handler back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, _interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)

    return restore


def reinstate_sigterm() -> None:
    """After a test: a daemon run in-process handles SIGTERM on its event loop, and the loop leaves
    its own handler (a no-op once the loop is gone) or the default action behind; ours again."""
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is not _interrupt
    ):
        signal.signal(signal.SIGTERM, _interrupt)


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get ``sig`` when pytest dies, SIGKILL included. Linux
    sends it when the *thread* that started the child ends, so only the main thread (which lives
    as long as pytest) gets one; elsewhere None (no preexec_fn)."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:  # pytest died before the line above: the signal will never come
            os.kill(os.getpid(), sig)

    return preexec


# The watchdog: signals from the terminal or the CI job are the session's to handle, so it
# ignores them; end-of-file on stdin means every holder of the pipe's other end (pytest) is gone.
_WATCHDOG = """
import os, shutil, signal, subprocess, sys
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
sys.stdin.buffer.read()
marker, folder, command = sys.argv[1], sys.argv[2], sys.argv[3:]
if os.path.exists(marker):
    subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120)
if folder:
    shutil.rmtree(folder, ignore_errors=True)
"""


@contextlib.contextmanager
def stop_when_gone(command: Sequence[str], *, marker: Path, folder: Path | None = None) -> Iterator[None]:
    """While the block runs, a watchdog waits for this process to end; if it ends without leaving
    the block (SIGKILL, OOM), the watchdog runs ``command`` when ``marker`` still exists (a server's
    PID file: it is still up) and removes ``folder``. Leaving the block normally ends the watchdog
    (the block's own cleanup ran; the command runs only if the marker is still there)."""
    watchdog = subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(marker), str(folder or ""), *command],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,  # never holds the session's output open
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C or a kill of pytest's process group is not for it
    )
    try:
        yield
    finally:
        assert watchdog.stdin is not None
        watchdog.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            watchdog.wait(timeout=150)
