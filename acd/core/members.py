"""Queue members and agents: sessions, state, and the live picture, as functions over the registry.

Rules:
- An agent is its state interface; it may be a member of many queues. Busy/free comes from
  AgentCalled/AgentConnect/AgentComplete (the agent's ringing entries and calls in the
  registry), not from ``InCall``. Per queue the state is, by priority (``STATE_ORDER``): in_call,
  ringing, paused, unavailable (device invalid/unavailable), wrapup, available.
- Wrap-up is not on AMI: it runs for the completed call's queue's ``wrapup_seconds``.
- Every change of a member's derived state is one ``MemberStateChanged``; login, logout, pause
  and unpause are ``MemberSession`` effects (``reason="resync"`` when the snapshot told them).
"""

from __future__ import annotations

from acd.core import events as ev
from acd.core.config import is_personal_queue
from acd.core.effects import Effect, MemberSession, MemberState, MemberStateChanged
from acd.core.entities import Agent, Member
from acd.core.live import AgentLive, LiveSnapshot, QueueLive
from acd.core.registry import Registry

__all__ = [
    "STATE_ORDER",
    "agent_changed",
    "agent_state",
    "derive",
    "home_queue",
    "live",
    "member_event",
    "remove_member",
]

_UNAVAILABLE_STATUS = frozenset({4, 5})  # AST_DEVICE_INVALID, AST_DEVICE_UNAVAILABLE
STATE_ORDER: dict[MemberState, int] = {
    "in_call": 0,
    "ringing": 1,
    "paused": 2,
    "unavailable": 3,
    "wrapup": 4,
    "available": 5,
    "logged_out": 6,
}


def member_event(reg: Registry, e: ev.MemberEvent, now: float, out: list[Effect]) -> None:
    """QueueMemberAdded/Status/Pause/Removed, and the snapshot's QueueMember."""
    key = (e.queue, e.interface)
    member = reg.members.get(key)
    if e.kind == "QueueMemberRemoved":
        if member is not None:
            remove_member(reg, member, now, out, reason=None)
        return
    if member is None:
        member = reg.add_member(e.queue, e.interface, e.state_interface, e.name)
        member.paused, member.paused_reason, member.status = e.paused, e.paused_reason, e.status
        why = "resync" if e.kind == "QueueMember" else None
        out.append(MemberSession("login", e.queue, member.agent, member.name, why, now))
        if e.paused:
            out.append(
                MemberSession("pause", e.queue, member.agent, member.name, e.paused_reason or None, now)
            )
    else:
        if e.paused != member.paused:
            out.append(
                MemberSession(
                    "pause" if e.paused else "unpause",
                    e.queue,
                    member.agent,
                    member.name,
                    (e.paused_reason or None) if e.paused else None,
                    now,
                )
            )
        elif e.paused and e.paused_reason != member.paused_reason:
            out.append(
                MemberSession("pause", e.queue, member.agent, member.name, e.paused_reason or None, now)
            )
        member.paused, member.paused_reason, member.status = e.paused, e.paused_reason, e.status
        if e.name:
            member.name = e.name
    member_changed(reg, member, now, out)


def remove_member(reg: Registry, member: Member, now: float, out: list[Effect], reason: str | None) -> None:
    reg.remove_member(member)
    out.append(MemberSession("logout", member.queue, member.agent, member.name, reason, now))
    out.append(
        MemberStateChanged(member.queue, member.agent, member.name, "logged_out", member.state, None, now)
    )


def derive(member: Member, agent: Agent | None, now: float) -> MemberState:
    if agent is not None:
        if agent.calls:
            return "in_call"
        if agent.ringing:
            return "ringing"
    if member.paused:
        return "paused"
    if member.status in _UNAVAILABLE_STATUS:
        return "unavailable"
    if agent is not None and agent.wrapup_until > now:
        return "wrapup"
    return "available"


def member_changed(reg: Registry, member: Member, now: float, out: list[Effect]) -> None:
    state = derive(member, reg.agents.get(member.agent), now)
    if state != member.state:
        out.append(
            MemberStateChanged(
                member.queue,
                member.agent,
                member.name,
                state,
                member.state,
                member.paused_reason or None,
                now,
            )
        )
        member.state = state


def agent_changed(reg: Registry, agent: Agent, now: float, out: list[Effect]) -> None:
    """The agent's calls, rings or wrap-up changed: each membership's state follows."""
    for key in agent.members:
        member = reg.members.get(key)
        if member is not None:
            member_changed(reg, member, now, out)


def live(reg: Registry, now: float, in_sync: bool) -> LiveSnapshot:
    """What the call center looks like now (personal affinity queues folded away)."""
    waiting: dict[str, list[float]] = {}
    for entry in reg.entries.values():
        if entry.state == "waiting" and not is_personal_queue(entry.queue):
            waiting.setdefault(entry.queue, []).append(now - entry.joined_at)
    by_queue: dict[str, dict[MemberState, int]] = {}
    per_agent: dict[str, list[Member]] = {}
    for member in reg.members.values():
        if is_personal_queue(member.queue):
            continue
        state = derive(member, reg.agents.get(member.agent), now)
        counts = by_queue.setdefault(member.queue, {})
        counts[state] = counts.get(state, 0) + 1
        per_agent.setdefault(member.agent, []).append(member)
    queues = tuple(
        QueueLive(name, len(waiting.get(name, ())), max(waiting.get(name, [0.0])), by_queue.get(name, {}))
        for name in sorted(set(by_queue) | set(waiting))
    )
    agents = []
    for agent_id, members in sorted(per_agent.items()):
        agent = reg.agents.get(agent_id)
        states = [derive(m, agent, now) for m in members]
        best = min(states, key=STATE_ORDER.__getitem__)
        paused = next((m.paused_reason for m in members if m.paused), None)
        current = next(iter(agent.calls or agent.ringing), None) if agent else None
        agents.append(
            AgentLive(
                agent_id,
                members[0].name,
                best,
                tuple(sorted(m.queue for m in members)),
                paused or None,
                current,
            )
        )
    return LiveSnapshot(now, queues, tuple(agents), in_sync=in_sync)


def agent_state(reg: Registry, agent: str, now: float) -> tuple[MemberState, dict[str, MemberState]]:
    """The agent's overall state and per-queue states (for routing decisions)."""
    record = reg.agents.get(agent)
    if record is None:
        return "logged_out", {}
    per_queue = {}
    for key in record.members:
        member = reg.members.get(key)
        if member is not None:
            per_queue[member.queue] = derive(member, record, now)
    if not per_queue:
        return "logged_out", {}
    return min(per_queue.values(), key=STATE_ORDER.__getitem__), per_queue


def home_queue(reg: Registry, personal: str) -> str | None:
    """The shared queue of a personal queue's agent (the first, when they are in several)."""
    for (queue, _), member in reg.members.items():
        if queue == personal:
            agent = reg.agents.get(member.agent)
            shared = sorted(q for q, _ in agent.members if not is_personal_queue(q)) if agent else []
            return shared[0] if shared else None
    return None
