"""Simulated time for code that takes a ``clock`` and an async ``sleep`` (the AMI client, the
systemd watchdog).

Time stands still until the test moves it with :meth:`FakeClock.advance`; every ``sleep`` whose
end falls within the step wakes in order, at its own instant, and the loop runs the woken code
before the clock moves on. So "four Pings in 0.8 s at an interval of 0.2 s" is an exact count,
however loaded the machine is.
"""

from __future__ import annotations

import asyncio
import heapq

__all__ = ["FakeClock"]


class FakeClock:
    """``clock()`` / ``clock.time()`` read it; ``await clock.sleep(s)`` waits in it."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def __call__(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, self._seq, wake))
        self._seq += 1
        await wake

    @property
    def sleeping(self) -> int:
        """Sleeps still waiting (cancelled ones excluded)."""
        return sum(1 for _, _, wake in self._sleepers if not wake.done())

    def next_wake(self) -> float | None:
        """When the earliest pending sleep ends, or None."""
        self._drop_cancelled()
        return self._sleepers[0][0] if self._sleepers else None

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking each sleep at its own instant."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        target = self.now + seconds
        while True:
            self._drop_cancelled()
            if not self._sleepers or self._sleepers[0][0] > target:
                break
            at, _, wake = heapq.heappop(self._sleepers)
            self.now = max(self.now, at)
            wake.set_result(None)
            await settle()
        self.now = target
        await settle()

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)


async def settle(rounds: int = 50) -> None:
    """Let the loop run what is ready (woken tasks, loopback I/O already in the kernel)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
