"""A read-only picture of the call center now, for /metrics and the HTTP API.

The core builds it on demand (``Core.live(now)``); the metrics collector calls that at scrape time
instead of mirroring state in gauges, so an agent who logs off leaves no stale series behind.
Personal affinity queues (``acd-agent-*``) are folded into the shared queues by the core.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from acd.core.effects import MemberState

__all__ = ["AgentLive", "LiveSnapshot", "QueueLive"]


@dataclass(frozen=True, slots=True)
class QueueLive:
    name: str
    waiting: int
    longest_wait_seconds: float
    agents_by_state: dict[MemberState, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AgentLive:
    agent: str  # state interface
    name: str
    # across all queues, the first of in_call, ringing, paused, unavailable, wrapup, available
    # (acd.core.members.STATE_ORDER)
    state: MemberState
    queues: tuple[str, ...]
    paused_reason: str | None = None
    current_call: str | None = None  # call id while ringing/in a call


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    at: float
    queues: tuple[QueueLive, ...]
    agents: tuple[AgentLive, ...]
    # The model matches Asterisk: resynced since the last AMI gap or restart. While False the live
    # numbers (who waits, for how long, agents' states) are not known and must not be shown.
    in_sync: bool = True
