"""The routing view: the core's state as the routing lookup reads it, from its own thread.

Why a published view: the lookup answers Asterisk from a thread a busy event loop cannot delay, so
it must never read the core's live, mutable model. The core publishes a new :class:`RoutingView`
whenever something an answer depends on changes (an agent's state or memberships, a caller key's
last answered call, the queues Asterisk has); the lookup reads ``publisher.current`` once per
request and decides from that one consistent snapshot, without a lock, never seeing half an update.

The maps are persistent (``immutables.Map``, a hash array mapped trie): a change costs O(log n) and
shares everything else, so publishing after every event stays cheap with tens of thousands of
caller keys. There is one caller history, the core's (``acd.core.caller_history.History``); the view's
``answers`` is its published face, fed by the same calls at the same moments.

Interface (the core is the only writer; any thread may read ``current``):

- ``remember(call)``: a finished call entered the history (and the history loaded at start);
  an answered call with an agent becomes its key's last answer.
- ``prune(now)``: the history aged (answers older than the horizon go).
- ``follow(registry, effects, now)``: after each batch of effects, the agents they touch are
  re-read from the core's registry; ``ResyncDone`` re-reads them all.
- ``set_queues(names)``: the queues a ``QueueStatus`` snapshot listed (personal ``acd-agent-*``
  queues among them), so the routing edge mirrors memberships only into queues that exist.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from immutables import Map, MapMutation

from acd.core.affinity import AgentView, MemberFacts
from acd.core.caller_history import PastCall
from acd.core.config import is_personal_queue
from acd.core.effects import Effect, MemberSession, MemberStateChanged, ResyncDone
from acd.core.fast_init import fast_init
from acd.core.members import agent_state
from acd.core.registry import Registry

__all__ = ["RoutingView", "ViewPublisher", "agent_view"]


@fast_init
@dataclass(frozen=True, slots=True)
class RoutingView:
    """One consistent snapshot. ``queues_known`` is False until a QueueStatus snapshot was read."""

    agents: Map[str, AgentView] = field(default_factory=Map)
    answers: Map[str, PastCall] = field(default_factory=Map)  # caller key -> last answered call
    queues: frozenset[str] = frozenset()
    queues_known: bool = False

    @property
    def personal_queues(self) -> frozenset[str]:
        return frozenset(q for q in self.queues if is_personal_queue(q))


class ViewPublisher:
    """Keeps ``current`` in step with the core. Runs on the core's thread only."""

    __slots__ = ("_order", "current", "horizon")

    def __init__(self, horizon: float) -> None:
        self.horizon = horizon
        self.current = RoutingView()
        self._order: deque[PastCall] = deque()  # remembered answers, oldest first (for pruning)

    def remember(self, call: PastCall) -> None:
        if not call.answered or not call.agent:
            return
        self._order.append(call)
        view = self.current
        self.current = RoutingView(
            view.agents, view.answers.set(call.key, call), view.queues, view.queues_known
        )

    def learn(self, call: PastCall) -> None:
        """A call recorded elsewhere: the caller's last answered call unless a later one is known
        (the same call learned again replaces itself)."""
        if not call.answered or not call.agent:
            return
        known = self.current.answers.get(call.key)
        if known is not None and known.id != call.id and known.ended_at > call.ended_at:
            return
        self.remember(call)

    def remember_all(self, calls: Iterable[PastCall]) -> None:
        with_agent = [c for c in calls if c.answered and c.agent]
        if not with_agent:
            return
        self._order.extend(with_agent)
        answers = self.current.answers.mutate()
        for call in with_agent:
            answers[call.key] = call
        self.current = replace(self.current, answers=answers.finish())

    def prune(self, now: float) -> None:
        limit = now - self.horizon
        order = self._order
        if not order or order[0].ended_at >= limit:
            return
        answers = self.current.answers.mutate()
        while order and order[0].ended_at < limit:
            old = order.popleft()
            if answers.get(old.key) is old:
                del answers[old.key]
        self.current = replace(self.current, answers=answers.finish())

    def set_queues(self, names: Iterable[str]) -> None:
        self.current = replace(self.current, queues=frozenset(n for n in names if n), queues_known=True)

    def follow(self, reg: Registry, effects: Iterable[Effect], now: float) -> None:
        touched: set[str] = set()
        for effect in effects:
            if isinstance(effect, (MemberStateChanged, MemberSession)):
                touched.add(effect.agent)
            elif isinstance(effect, ResyncDone):
                self._refresh_all(reg, now)
                touched.clear()
        if touched:
            agents = self.current.agents.mutate()
            for agent in touched:
                view = agent_view(reg, agent, now)
                if view is None:
                    agents.pop(agent, None)
                else:
                    agents[agent] = view
            now_view = self.current  # built directly: replace() costs several times as much, per event
            self.current = RoutingView(
                agents.finish(), now_view.answers, now_view.queues, now_view.queues_known
            )

    def _refresh_all(self, reg: Registry, now: float) -> None:
        building: MapMutation[str, AgentView] = Map[str, AgentView]().mutate()
        for agent in list(reg.agents):
            view = agent_view(reg, agent, now)
            if view is not None:
                building[agent] = view
        self.current = replace(self.current, agents=building.finish())


def agent_view(reg: Registry, agent: str, now: float) -> AgentView | None:
    """The agent as the core sees them at ``now``; None once they are in no queue."""
    record = reg.agents.get(agent)
    if record is None:
        return None
    overall, per_queue = agent_state(reg, agent, now)
    reasons: dict[str, str] = {}
    members = []
    for key in sorted(record.members):
        member = reg.members.get(key)
        if member is None:
            continue
        members.append(
            MemberFacts(
                member.queue, member.interface, member.agent, member.name, member.paused, member.paused_reason
            )
        )
        if member.paused:
            reasons[member.queue] = member.paused_reason
    return AgentView(agent, record.name, overall, Map(per_queue), Map(reasons), tuple(members))
