"""Wait for a condition, with a deadline: the only way tests wait on real time.

A fixed sleep is either too short on a loaded machine (a flake) or too long everywhere (a slow
suite). A deadline is only ever reached when something is wrong, so it can be generous.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["DEADLINE", "eventually", "until", "wait_until"]

T = TypeVar("T")

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
    fail: bool = True,
) -> bool:
    """Return True as soon as ``predicate()`` holds; after ``timeout`` seconds of wall time fail,
    or with ``fail=False`` return False (for a wait the test's own asserts judge afterwards)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            if not fail:
                return False
            raise _fail(what, timeout, describe)
        await asyncio.sleep(interval)
    return True


def wait_until(
    predicate: Callable[[], bool],
    timeout: float = DEADLINE,
    *,
    what: str = "the condition",
    describe: Callable[[], object] | None = None,
    interval: float = 0.05,
    fail: bool = True,
) -> bool:
    """The same for code outside an event loop (processes, sockets polled from the test)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            if not fail:
                return False
            raise _fail(what, timeout, describe)
        time.sleep(interval)
    return True


async def eventually(
    check: Callable[[], Awaitable[T]],
    timeout: float = DEADLINE,
    *,
    what: str = "the condition",
    interval: float = 0.5,
    retry_on: tuple[type[Exception], ...] = (OSError,),
) -> T:
    """Await ``check()`` until it returns something truthy, and return that; an exception in
    ``retry_on`` (a server not listening yet) counts as not yet. For checks that are I/O
    themselves (a Prometheus query, an HTTP request)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = await check()
            if value:
                return value
            last = value
        except retry_on as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g}s (last: {last!r})")
        await asyncio.sleep(interval)
