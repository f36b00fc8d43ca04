"""Wait for a condition, with a deadline: the only way tests wait on real time.

A fixed sleep is either too short on a loaded machine (a flake) or too long everywhere (a slow
suite). A deadline is only ever reached when something is wrong, so it can be generous.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["DEADLINE", "until", "wait_until"]

DEADLINE = 10.0  # seconds; reached only when the awaited thing is broken


def _fail(what: str, timeout: float, describe: Callable[[], object] | None) -> AssertionError:
    detail = f": {describe()}" if describe is not None else ""
    return AssertionError(f"{what} did not happen within {timeout:g}s{detail}")


async def until(
    predicate: Callable[[], bool],
    timeout: float = DEADLINE,
    *,
    what: str = "the condition",
    describe: Callable[[], object] | None = None,
    interval: float = 0.005,
) -> None:
    """Return as soon as ``predicate()`` holds; fail after ``timeout`` seconds of wall time."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise _fail(what, timeout, describe)
        await asyncio.sleep(interval)


def wait_until(
    predicate: Callable[[], bool],
    timeout: float = DEADLINE,
    *,
    what: str = "the condition",
    describe: Callable[[], object] | None = None,
    interval: float = 0.05,
) -> None:
    """The same for code outside an event loop (processes, sockets polled from the test)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise _fail(what, timeout, describe)
        time.sleep(interval)
