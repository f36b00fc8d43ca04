"""What the live pages push: one cached picture of the call center for every open page, and a
wake-up per agent when the core reports something about them.

The core builds its snapshot on demand (``Core.live``); with a few hundred desks and wallboards
open, each computing it would cost the event loop more than the core itself, so the snapshot is
built at most once per ``min_interval`` and shared. Desk streams sleep until an effect names their
agent (a member state change, a finished call, an outcome) and then read the shared snapshot,
refreshed if it predates the effect. ``close`` ends every stream, so the daemon's HTTP shutdown
never waits on an open page.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from acd.core.effects import CallFinished, Effect, MemberSession, MemberStateChanged, OutcomeReported
from acd.core.live import AgentLive, LiveSnapshot

__all__ = ["LiveFeed"]


class LiveFeed:
    def __init__(
        self,
        live_provider: Callable[[], LiveSnapshot | None],
        *,
        min_interval: float = 0.2,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._provider = live_provider
        self._min_interval = min_interval
        self._monotonic = monotonic
        self._snapshot: LiveSnapshot | None = None
        self._agents: dict[str, AgentLive] = {}
        self._built_at = float("-inf")
        self._changed_at = 0.0
        self._waiters: dict[str, asyncio.Event] = {}
        self._versions: dict[str, int] = {}
        self._finished: dict[str, tuple[str, float]] = {}  # agent -> (entry id, ended at) of their last call
        self.closed = asyncio.Event()
        self.lost_since: float | None = None  # event time the snapshot first said "AMI down"

    # -- fed by the daemon with every effect (no I/O) ---------------------------------------------

    def observe(self, effect: Effect | object) -> None:
        agents: tuple[str | None, ...]
        if isinstance(effect, MemberStateChanged | MemberSession):
            agents = (effect.agent,)
        elif isinstance(effect, CallFinished):
            record = effect.record
            agents = (record.agent, *(offer.agent for offer in record.offers))
            if record.agent:
                self._finished[record.agent] = (record.id, record.ended_at)
        elif isinstance(effect, OutcomeReported):
            agents = (effect.agent,)
        else:
            return
        self._changed_at = self._monotonic()
        for agent in agents:
            if not agent:
                continue
            self._versions[agent] = self._versions.get(agent, 0) + 1
            waiter = self._waiters.pop(agent, None)
            if waiter is not None:
                waiter.set()

    # -- read by the pages ------------------------------------------------------------------------

    def snapshot(self) -> LiveSnapshot | None:
        now = self._monotonic()
        stale = now - self._built_at >= self._min_interval or self._changed_at >= self._built_at
        if self._snapshot is None or stale:
            self._snapshot = self._provider()
            self._built_at = now
            self._agents = {a.agent: a for a in self._snapshot.agents} if self._snapshot else {}
            if self._snapshot is not None:
                if self.connected():
                    self.lost_since = None
                elif self.lost_since is None:
                    self.lost_since = self._snapshot.at
        return self._snapshot

    def connected(self) -> bool:
        """Whether the core's picture is in step with Asterisk (resynced since the last gap), so
        live numbers can be shown."""
        return self._snapshot is not None and self._snapshot.in_sync

    def agent(self, agent: str) -> AgentLive | None:
        self.snapshot()
        return self._agents.get(agent)

    def last_finished(self, agent: str) -> tuple[str, float] | None:
        """The entry id and end of the agent's last answered call this process saw end."""
        return self._finished.get(agent)

    def version(self, agent: str) -> int:
        """How many effects have named ``agent`` so far (a stream waits for it to move)."""
        return self._versions.get(agent, 0)

    async def wait_agent(self, agent: str, seen: int, timeout: float) -> bool:
        """Sleep until an effect names ``agent`` after version ``seen``, the timeout passes or the
        feed closes; True when the feed is still open."""
        if self._versions.get(agent, 0) == seen and not self.closed.is_set():
            waiter = self._waiters.get(agent)
            if waiter is None:
                waiter = self._waiters[agent] = asyncio.Event()
            closed = asyncio.ensure_future(self.closed.wait())
            woken = asyncio.ensure_future(waiter.wait())
            try:
                await asyncio.wait((closed, woken), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                closed.cancel()
                woken.cancel()
        return not self.closed.is_set()

    async def pause(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the feed closes first; True when still open."""
        try:
            await asyncio.wait_for(self.closed.wait(), seconds)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        self.closed.set()
