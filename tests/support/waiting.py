"""Wait for a condition, with a deadline: the only way tests wait on real time.

A fixed sleep is either too short on a loaded machine (a flake) or too long everywhere (a slow
suite). A deadline is only ever reached when something is wrong, so it can be generous.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["DEADLINE", "eventually", "until", "wait_until"]

T = TypeVar("T")

DEADLINE = 10.0  # seconds; reached only when the awaited thing is broken


class _Poll:
    """One wait's deadline and verdict: ``done()`` is True once the predicate holds, False (or an
    AssertionError, with ``fail``) once the deadline passed, None while it is worth looking again."""

    def __init__(
        self,
        predicate: Callable[[], bool],
        timeout: float = DEADLINE,
        *,
        what: str = "the condition",
        describe: Callable[[], object] | None = None,
        fail: bool = True,
    ) -> None:
        self.predicate = predicate
        self.timeout, self.what, self.describe, self.fail = timeout, what, describe, fail
        self.deadline = time.monotonic() + timeout

    def done(self) -> bool | None:
        if self.predicate():
            return True
        if time.monotonic() <= self.deadline:
            return None
        if not self.fail:
            return False
        detail = f": {self.describe()}" if self.describe is not None else ""
        raise AssertionError(f"{self.what} did not happen within {self.timeout:g}s{detail}")


async def until(
    predicate: Callable[[], bool], timeout: float = DEADLINE, *, interval: float = 0.005, **how: Any
) -> bool:
    """Return True as soon as ``predicate()`` holds; after ``timeout`` seconds of wall time fail
    (``what`` and ``describe`` say what did not happen), or with ``fail=False`` return False (for
    a wait the test's own asserts judge afterwards)."""
    poll = _Poll(predicate, timeout, **how)
    while (verdict := poll.done()) is None:
        await asyncio.sleep(interval)
    return verdict


def wait_until(
    predicate: Callable[[], bool], timeout: float = DEADLINE, *, interval: float = 0.05, **how: Any
) -> bool:
    """The same for code outside an event loop (processes, sockets polled from the test)."""
    poll = _Poll(predicate, timeout, **how)
    while (verdict := poll.done()) is None:
        time.sleep(interval)
    return verdict


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
