"""The routing snapshot: what the FastAGI thread may read, written only on the daemon's loop.

Thread safety by construction: every value stored is immutable (``AgentView``, ``PastAnswer``,
a tuple for the clock), and the FastAGI thread only does point lookups (``dict.get``) and reads
one attribute, which are atomic in CPython. The loop replaces values; it never mutates one in
place, and it swaps a whole new dict when it prunes. So the reader sees either the old or the new
value of an agent, never half of one, and never waits for the loop.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from acd.core.affinity import AgentView, PastAnswer
from acd.core.effects import CallRecord
from acd.core.engine import Core
from acd.core.linking import PastCall

__all__ = ["RoutingIndex", "agent_view"]


def agent_view(core: Core, agent: str, now: float) -> AgentView | None:
    """The agent as the core sees them now (on the loop only: it reads the core)."""
    record = core.agents.get(agent)
    if record is None:
        return None
    overall, per_queue = core.agent_state(agent, now)
    reasons = {}
    for key in record.members:
        member = core.members.get(key)
        if member is not None and member.paused:
            reasons[member.queue] = member.paused_reason
    return AgentView(agent, record.name, overall, per_queue, reasons)


class RoutingIndex:
    """Agents by state interface and each caller key's last answered call, plus the event clock."""

    def __init__(self, horizon: float, wall: float | None = None) -> None:
        self.horizon = horizon
        self.agents: dict[str, AgentView] = {}
        self.answers: dict[str, PastAnswer] = {}
        now = time.time() if wall is None else wall
        self.clock: tuple[float, float, float] = (now, now, 1.0)  # event time, wall time, speed

    # -- reader side (any thread) -----------------------------------------------------------------

    def now(self) -> float:
        """Event time now, from the anchor the loop last published (wall clock in between)."""
        event, wall, speed = self.clock
        return event + (time.time() - wall) * speed

    # -- writer side (the daemon's loop) ----------------------------------------------------------

    def set_clock(self, event_now: float, speed: float) -> None:
        self.clock = (event_now, time.time(), speed)

    def update_agent(self, core: Core, agent: str, now: float) -> None:
        view = agent_view(core, agent, now)
        if view is None:
            self.agents.pop(agent, None)
        else:
            self.agents[agent] = view

    def refresh_all(self, core: Core, now: float) -> None:
        fresh = {}
        for agent in list(core.agents):
            view = agent_view(core, agent, now)
            if view is not None:
                fresh[agent] = view
        self.agents = fresh

    def note_call(self, record: CallRecord) -> None:
        """An answered call becomes its caller key's last answer (cut off or not)."""
        if record.outcome != "answered" or not record.caller_key or not record.agent:
            return
        self.answers[record.caller_key] = PastAnswer(
            record.id,
            record.agent,
            record.agent_name,
            record.ended_at,
            record.cut_off,
            record.queue,
            record.linkedid,
        )

    def seed(self, calls: Iterable[PastCall]) -> None:
        """Calls from storage, oldest first (the same list the core's history is seeded with)."""
        for call in calls:
            if call.answered and call.agent:
                self.answers[call.key] = PastAnswer(
                    call.id,
                    call.agent,
                    call.agent_name,
                    call.ended_at,
                    call.cut_off,
                    call.queue,
                    call.linkedid,
                )

    def prune(self, now: float) -> None:
        limit = now - self.horizon
        if any(a.ended_at < limit for a in self.answers.values()):
            self.answers = {k: a for k, a in self.answers.items() if a.ended_at >= limit}
