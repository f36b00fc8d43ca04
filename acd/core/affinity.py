"""Callback affinity: where a caller who asks acd should go, and what finally happened. Pure.

No I/O and no clock: the routing edge passes the time, the live agent view and the caller's last
answered call; this module answers with a decision record, and later turns the core's effects
into the final reason of that one preferred attempt.

Decision rules (first match wins; the table in tests/test_affinity_policy.py is the reference):

1. Global switch off, no queue named, or no caller key (anonymous/withheld): ``queue`` /
   ``ineligible``.
2. No answered call for the key, or the last one neither a cut-off within the queue's callback
   window nor (sticky mode only) an answered call within the sticky window: ``queue`` /
   ``no_history``.
3. Affinity off for the queue: ``queue`` / ``ineligible``.
3a. The call was cut off on another server and its rep has no interface on this one (the reps
   mapping, :mod:`acd.core.reps`): ``queue`` / ``fallback_other_server``, at once.
4. The original agent is logged out, not a member of the queue, not in their personal queue,
   paused there, paused in the queue (unless the reason is allow-listed) or their device is
   unavailable: ``queue`` / ``fallback_unavailable``, at once: a callback never waits for an
   agent who cannot take it.
5. The agent is free (or paused with an allow-listed reason): ``offer_now`` / ``original_agent``;
   the personal queue rings them once for the ring timeout (the wait is 2 s longer, so that one
   ring ends as a ring without answer rather than being cut by the wait).
6. The agent is busy, ringing or in wrap-up: ``wait_for_agent`` / ``original_agent`` with the
   bounded wait ``min(affinity_wait_seconds, service-level threshold)``; a bound of 0 gives
   ``queue`` / ``fallback_busy_timeout`` at once.

Shadow mode decides the same way but the caller is told ``queue`` (``route``); the record says
``shadow``. ``original_agent`` on an offer or a wait is provisional: :class:`AffinityTracker`
settles it from what Asterisk then does (answered by the agent, the personal queue's timeout,
a ring without answer, the agent leaving the personal queue, the caller hanging up).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from acd.core.caller_history import PastCall
from acd.core.config import PERSONAL_QUEUE_PREFIX, is_personal_queue
from acd.core.effects import (
    AffinityDecided,
    CallFinished,
    CallStarted,
    Effect,
    MemberState,
    MemberStateChanged,
)
from acd.core.fast_init import fast_init

__all__ = [
    "REASONS",
    "AffinityDecision",
    "AffinityPolicy",
    "AffinityTracker",
    "AgentView",
    "CallbackRequest",
    "MemberFacts",
    "decide",
    "mirror_actions",
    "personal_queue_name",
]

Action = Literal["offer_now", "wait_for_agent", "queue"]
REASONS = (
    "original_agent",
    "fallback_busy_timeout",
    "fallback_unavailable",
    "fallback_no_answer",
    "fallback_other_server",
    "no_history",
    "ineligible",
)
OFFER_MARGIN_SECONDS = 2.0  # an offer's wait outlasts its one ring, so the ring ends as a no-answer
_BUSY: frozenset[MemberState] = frozenset({"in_call", "ringing", "wrapup"})
_FREE: frozenset[MemberState] = frozenset({"available", "ringing"})  # ringing: rung, so not busy
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def personal_queue_name(agent: str) -> str | None:
    """``PJSIP/1001`` and ``Local/1001@agents`` -> ``acd-agent-1001``; None when nothing is left.

    The id is the part after the technology (``/`` or ``:``) and before any ``@context``, with
    characters a queue name should not carry dropped. ``acd asterisk-config`` and the daemon use
    this same function, so the generated queues and the routing always agree.
    """
    tail = re.split(r"[/:]", agent.strip())[-1]
    ident = _UNSAFE.sub("", tail.split("@", 1)[0])
    return PERSONAL_QUEUE_PREFIX + ident if ident else None


@dataclass(frozen=True, slots=True)
class AffinityPolicy:
    """The settings one decision needs (built per queue by the routing edge)."""

    enabled: bool = True
    queue_enabled: bool = True
    shadow: bool = False
    wait_seconds: float = 30.0
    service_level_seconds: float = 20.0
    callback_window_seconds: float = 3600.0
    ring_timeout_seconds: float = 15.0
    allowed_pause_reasons: frozenset[str] = frozenset()
    sticky: bool = False
    sticky_window_seconds: float = 86400.0

    @property
    def wait_bound(self) -> float:
        """Never longer than the queue's service-level threshold: a callback must not cost SL."""
        return max(0.0, min(self.wait_seconds, self.service_level_seconds))


@fast_init
@dataclass(frozen=True, slots=True)
class MemberFacts:
    queue: str
    interface: str
    agent: str  # state interface
    name: str
    paused: bool
    paused_reason: str


@fast_init
@dataclass(frozen=True, slots=True)
class AgentView:
    """One agent as acd sees them now: overall state, state per queue, pause reasons per queue."""

    agent: str
    name: str
    overall: MemberState
    queues: Mapping[str, MemberState] = field(default_factory=dict)
    paused_reasons: Mapping[str, str] = field(default_factory=dict)
    members: tuple[MemberFacts, ...] = ()  # every membership, for mirroring into the personal queue


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    queue: str
    caller_key: str | None
    account: str | None = None


@dataclass(frozen=True, slots=True)
class AffinityDecision:
    action: Action  # what affinity wants
    reason: str
    shadow: bool
    queue: str
    caller_key: str | None
    agent: str | None = None
    agent_name: str | None = None
    personal_queue: str | None = None
    callback_of: str | None = None
    cutoff_at: float | None = None
    sticky: bool = False
    wait_seconds: float = 0.0
    detail: str = ""

    @property
    def route(self) -> Action:
        """What the caller is told: shadow mode never changes a call."""
        return "queue" if self.shadow else self.action

    @property
    def is_callback(self) -> bool:
        return self.callback_of is not None


def decide(
    request: CallbackRequest,
    past: PastCall | None,
    agent: AgentView | None,
    policy: AffinityPolicy,
    now: float,
    *,
    elsewhere: str | None = None,
) -> AffinityDecision:
    """The routing decision for one new call (rules in the module docstring); ``elsewhere``: the
    server the past call's rep works on, when they cannot be reached from this one."""
    base = AffinityDecision("queue", "ineligible", policy.shadow, request.queue, request.caller_key)
    if not policy.enabled:
        return replace(base, detail="affinity_off")
    if not request.queue:
        return replace(base, detail="no_queue")  # the dialplan did not say which queue
    if request.caller_key is None:
        return replace(base, detail="anonymous")
    if past is None or not past.agent:
        return replace(base, reason="no_history", detail="no_answered_call")
    age = now - past.ended_at
    if past.cut_off and age <= policy.callback_window_seconds:
        sticky = False
    elif policy.sticky and age <= policy.sticky_window_seconds:
        sticky = True
    else:
        detail = "window_expired" if past.cut_off else "not_cut_off"
        return replace(base, reason="no_history", detail=detail)
    personal = personal_queue_name(past.agent) if elsewhere is None else None
    found = replace(
        base,
        agent=past.agent,
        agent_name=past.agent_name or (agent.name if agent else None),
        personal_queue=personal,
        callback_of=past.id,
        cutoff_at=None if sticky else past.ended_at,
        sticky=sticky,
    )
    if not policy.queue_enabled:
        return replace(found, detail="queue_disabled")
    if elsewhere is not None:
        return replace(found, reason="fallback_other_server", detail=f"server:{elsewhere}")
    unavailable = replace(found, reason="fallback_unavailable")
    if personal is None:
        return replace(unavailable, detail="no_personal_queue")
    if agent is None or agent.overall == "logged_out":
        return replace(unavailable, detail="logged_out")
    state = agent.queues.get(request.queue)
    if state is None or state == "logged_out":
        return replace(unavailable, detail="not_a_member")
    personal_state = agent.queues.get(personal)
    if personal_state is None:
        return replace(unavailable, detail="not_in_personal_queue")
    if personal_state == "paused":
        return replace(unavailable, detail="paused_for_callbacks")
    if state == "unavailable":
        return replace(unavailable, detail="device_unavailable")
    if state == "paused":
        reason = agent.paused_reasons.get(request.queue, "")
        if reason not in policy.allowed_pause_reasons:
            return replace(unavailable, detail=f"paused:{reason}" if reason else "paused")
        state = "available"
    if state == "available":
        return replace(
            found,
            action="offer_now",
            reason="original_agent",
            wait_seconds=policy.ring_timeout_seconds + OFFER_MARGIN_SECONDS,
            detail="agent_free",
        )
    if state in _BUSY:
        bound = policy.wait_bound
        if bound <= 0:
            return replace(found, reason="fallback_busy_timeout", detail=f"{state}:no_wait")
        return replace(
            found, action="wait_for_agent", reason="original_agent", wait_seconds=bound, detail=state
        )
    return replace(unavailable, detail=str(state))


# ---------------------------------------------------------------------------------------------------
# Outcome: one preferred attempt per call, settled from the core's effects.


@dataclass(slots=True)
class _Attempt:
    uniqueid: str
    channel: str
    decision: AffinityDecision
    decided_at: float
    linkedid: str | None = None
    call_ids: list[str] = field(default_factory=list)
    entered_personal: bool = False
    no_answer: bool = False
    withdrawn: bool = False


class AffinityTracker:
    """Open attempts by caller channel Uniqueid; each ends in exactly one :class:`AffinityDecided`.

    - ``queue`` (and shadow offers): final as decided, emitted when the caller's first queue
      entry starts (so the record can name the call), or after ``stale_seconds``.
    - shadow ``wait_for_agent``: what would have happened: ``original_agent`` if the agent frees
      up within the wait, else ``fallback_busy_timeout`` when the wait would have run out
      (detail ``would_have``), so shadow counts estimate what affinity would do.
    - ``offer_now``/``wait_for_agent``: the personal-queue entry's record settles it: answered by
      the agent -> ``original_agent``; a ring without answer (seen in the offers, or reported by
      :meth:`ring_unanswered`) -> ``fallback_no_answer``; exit by timeout ->
      ``fallback_busy_timeout``; exit because the queue emptied (the agent paused or logged out
      while the caller waited; seen as an exit before the wait ran out) ->
      ``fallback_unavailable``; caller hung up -> ``abandoned``. A caller who reaches the shared
      queue without a personal entry (JOINEMPTY) -> ``fallback_unavailable``.
    """

    def __init__(self, stale_seconds: float = 600.0) -> None:
        self.stale_seconds = stale_seconds
        self.open: dict[str, _Attempt] = {}

    def decided(self, uniqueid: str, channel: str, decision: AffinityDecision, now: float) -> None:
        self.open[uniqueid] = _Attempt(uniqueid, channel, decision, now)

    def attempt_for_agent(self, agent: str) -> list[tuple[str, str, str]]:
        """(uniqueid, channel, personal queue) of live attempts waiting in ``agent``'s personal queue."""
        return [
            (a.uniqueid, a.channel, a.decision.personal_queue or "")
            for a in self.open.values()
            if a.entered_personal and a.decision.agent == agent and a.decision.route != "queue"
        ]

    def ring_unanswered(self, uniqueid: str) -> bool:
        """The preferred agent's ring went unanswered: True once, when the caller should leave now."""
        attempt = self.open.get(uniqueid)
        if attempt is None or attempt.decision.route == "queue" or attempt.withdrawn:
            return False
        attempt.no_answer = True
        attempt.withdrawn = True
        return True

    def on_effect(self, effect: Effect, now: float) -> list[AffinityDecided]:
        if isinstance(effect, CallStarted):
            return self._started(effect, now)
        if isinstance(effect, CallFinished):
            return self._finished(effect, now)
        if isinstance(effect, MemberStateChanged) and effect.state in _FREE:
            return self._agent_free(effect.agent, now)
        return []

    def tick(self, now: float) -> list[AffinityDecided]:
        out = []
        for uid, attempt in list(self.open.items()):
            if self._shadow_wait(attempt) and now > attempt.decided_at + attempt.decision.wait_seconds:
                out.append(self._close(attempt, "fallback_busy_timeout", now, "would_have"))
            elif now - attempt.decided_at > self.stale_seconds:
                out.append(self._close(self.open[uid], attempt.decision.reason, now, "unresolved"))
        return out

    @staticmethod
    def _shadow_wait(attempt: _Attempt) -> bool:
        return attempt.decision.shadow and attempt.decision.action == "wait_for_agent"

    def _agent_free(self, agent: str, now: float) -> list[AffinityDecided]:
        """Shadow mode: the agent a callback would have waited for is free within the wait."""
        out = []
        for attempt in list(self.open.values()):
            d = attempt.decision
            if self._shadow_wait(attempt) and d.agent == agent and now <= attempt.decided_at + d.wait_seconds:
                out.append(self._close(attempt, "original_agent", now, "would_have"))
        return out

    def _started(self, e: CallStarted, now: float) -> list[AffinityDecided]:
        attempt = self.open.get(e.uniqueid)
        if attempt is None:
            return []
        attempt.linkedid = e.linkedid or attempt.linkedid
        attempt.call_ids.append(e.id)
        decision = attempt.decision
        if self._shadow_wait(attempt):
            return []  # settled when the agent frees up, or when the wait would have run out
        if decision.route == "queue":
            return [self._close(attempt, decision.reason, now)]
        if decision.personal_queue is not None and e.queue == decision.personal_queue:
            attempt.entered_personal = True
            return []
        if not is_personal_queue(e.queue) and not attempt.entered_personal:
            return [self._close(attempt, "fallback_unavailable", now, "no_personal_entry")]
        return []

    def _finished(self, e: CallFinished, now: float) -> list[AffinityDecided]:
        rec = e.record
        attempt = self.open.get(rec.uniqueid)
        if attempt is None or rec.queue != attempt.decision.personal_queue:
            return []
        if rec.id not in attempt.call_ids:
            attempt.call_ids.append(rec.id)
        agent = attempt.decision.agent
        no_answer = attempt.no_answer or any(o.agent == agent and o.result == "no_answer" for o in rec.offers)
        if rec.outcome == "answered" and rec.agent == agent:
            return [self._close(attempt, "original_agent", now)]
        if rec.outcome == "abandoned":
            return [self._close(attempt, "abandoned", now)]
        if no_answer:
            return [self._close(attempt, "fallback_no_answer", now)]
        if rec.exit_reason == "empty":
            return [self._close(attempt, "fallback_unavailable", now, "left_empty")]
        waited = rec.wait_seconds if rec.wait_seconds is not None else attempt.decision.wait_seconds
        if rec.exit_reason == "timeout" and waited < attempt.decision.wait_seconds - 1.0:
            # AMI does not say why a caller left (queue_log does: EXITEMPTY); before the wait ran
            # out, with no ring unanswered, the personal queue emptied: the agent paused or left.
            return [self._close(attempt, "fallback_unavailable", now, "left_early")]
        return [self._close(attempt, "fallback_busy_timeout", now, rec.exit_reason or rec.outcome)]

    def _close(self, attempt: _Attempt, reason: str, now: float, note: str = "") -> AffinityDecided:
        self.open.pop(attempt.uniqueid, None)
        d = attempt.decision
        detail = d.detail + (f";{note}" if note else "")
        return AffinityDecided(
            uniqueid=attempt.uniqueid,
            linkedid=attempt.linkedid,
            call_ids=tuple(attempt.call_ids),
            queue=d.queue,
            action=d.action,
            reason=reason,
            shadow=d.shadow,
            agent=d.agent,
            agent_name=d.agent_name,
            callback_of=d.callback_of,
            detail=detail,
            decided_at=attempt.decided_at,
            at=now,
            channel=attempt.channel,
            cutoff_at=d.cutoff_at,
        )


# ---------------------------------------------------------------------------------------------------
# Personal-queue membership follows the shared queues.


def mirror_actions(
    agent: str, memberships: Sequence[MemberFacts], allowed_pause_reasons: frozenset[str]
) -> list[dict[str, str]]:
    """AMI actions that bring ``agent``'s personal queue in step with their shared queues.

    Member of the personal queue while a member of at least one shared queue; paused there when
    paused in every shared queue for a reason that is not allow-listed (with the first such
    reason), unpaused otherwise. An allow-listed pause leaves the personal queue unpaused, so a
    callback still reaches the agent while shared-queue calls do not.
    """
    personal = personal_queue_name(agent)
    if personal is None:
        return []
    shared = [m for m in memberships if not is_personal_queue(m.queue)]
    mine = next((m for m in memberships if m.queue == personal), None)
    if not shared:
        if mine is None:
            return []
        return [{"Action": "QueueRemove", "Queue": personal, "Interface": mine.interface}]
    blocking = [m for m in shared if m.paused and m.paused_reason not in allowed_pause_reasons]
    want_paused = len(blocking) == len(shared)
    reason = blocking[0].paused_reason if want_paused else ""
    if mine is None:
        first = shared[0]
        action = {
            "Action": "QueueAdd",
            "Queue": personal,
            "Interface": first.interface,
            "MemberName": first.name,
            "Penalty": "0",
            "Paused": "true" if want_paused else "false",
        }
        if first.agent != first.interface:
            action["StateInterface"] = first.agent
        if want_paused and reason:
            action["Reason"] = reason
        return [action]
    if mine.paused == want_paused and (not want_paused or mine.paused_reason == reason):
        return []
    action = {
        "Action": "QueuePause",
        "Queue": personal,
        "Interface": mine.interface,
        "Paused": "true" if want_paused else "false",
    }
    if want_paused and reason:
        action["Reason"] = reason
    return [action]
