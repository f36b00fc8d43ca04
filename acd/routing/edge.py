"""The routing edge on the daemon's loop: effects in; snapshot refreshes, AMI actions, records out.

Everything here runs on the daemon's event loop (as an effect sink, from ``call_soon_threadsafe``
hand-offs of the FastAGI thread, and from its own 1 s ticker), so it may read the core. It:

- refreshes the :class:`RoutingIndex` after each effect that changes an agent or ends a call;
- settles each routed caller's one preferred attempt (:class:`AffinityTracker`) and emits the
  resulting :class:`AffinityDecided` to the daemon's sinks and to ``observe_affinity``;
- withdraws a caller from the personal queue on the preferred agent's first ring without answer
  (``QueueWithdrawCaller``; the core is told first, so the exit is a withdrawal, not an abandon);
- tells the fallback agent who had the call: ``UserEvent: AcdCallbackContext``;
- keeps personal queues in step with shared-queue logins and pauses (``mirror_actions``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from acd.core.affinity import AffinityDecision, AffinityTracker, MemberFacts, mirror_actions
from acd.core.config import is_personal_queue
from acd.core.effects import (
    AffinityDecided,
    CallFinished,
    Effect,
    MemberSession,
    MemberStateChanged,
    ResyncDone,
)
from acd.core.engine import Core
from acd.routing.fastagi import AgiRequest
from acd.routing.index import RoutingIndex

__all__ = ["RoutingEdge"]

log = structlog.get_logger("acd.routing")

SendAction = Callable[[dict[str, str]], Awaitable[object]]


class RoutingEdge:
    def __init__(
        self,
        *,
        core: Core,
        now: Callable[[], float],
        speed: float,
        index: RoutingIndex,
        send: SendAction,
        emit: Callable[[AffinityDecided], None],
        count: Callable[[str, str], None],
        allowed_pause_reasons: frozenset[str] = frozenset(),
        mirror: bool = True,
        mirror_agents: frozenset[str] = frozenset(),
        screenpop_url: str = "",
    ) -> None:
        self.core = core
        self.now = now
        self.speed = speed
        self.index = index
        self.tracker = AffinityTracker()
        self._send = send
        self._emit = emit
        self._count = count
        self.allowed = allowed_pause_reasons
        self.mirror = mirror
        self.mirror_agents = mirror_agents
        self.screenpop_url = screenpop_url
        self._mirror_sent: dict[str, tuple[tuple[tuple[str, str], ...], ...]] = {}
        self._decisions: dict[str, tuple[AffinityDecision, str]] = {}  # uniqueid -> (decision, channel)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self.actions_failed = 0

    # -- effects (the daemon's sink) -------------------------------------------------------------

    def observe(self, effect: Effect) -> None:
        now = self.now()
        self.index.set_clock(now, self.speed)
        if isinstance(effect, MemberStateChanged):
            self.index.update_agent(self.core, effect.agent, now)
            if effect.previous == "ringing" and effect.state != "in_call":
                self._check_no_answer(effect.agent)
        elif isinstance(effect, MemberSession):
            self.index.update_agent(self.core, effect.agent, now)
            if is_personal_queue(effect.queue):
                self._mirror_sent.pop(effect.agent, None)  # Asterisk moved: compare afresh
            else:
                self._mirror(effect.agent)
        elif isinstance(effect, CallFinished):
            self.index.note_call(effect.record)
        elif isinstance(effect, ResyncDone):
            self.index.refresh_all(self.core, now)
            self._mirror_sent.clear()
            for agent in list(self.core.agents):
                self._mirror(agent)
        for record in self.tracker.on_effect(effect, now):
            self._settled(record)

    # -- decisions from the FastAGI thread (via call_soon_threadsafe) --------------------------------

    def on_decision(self, request: AgiRequest, decision: AffinityDecision, account: str | None) -> None:
        uid = request.uniqueid
        if not uid:
            return
        if account:
            self.core.set_account(uid, account)
        self.tracker.decided(uid, request.channel, decision, self.now())
        self._decisions[uid] = (decision, request.channel)
        if decision.route == "queue" and decision.agent is not None and not decision.shadow:
            self._tell_fallback(uid, request.channel, decision, decision.reason)

    # -- time ------------------------------------------------------------------------------------

    def start(self) -> None:
        self._ticker = asyncio.get_running_loop().create_task(self._tick_loop(), name="routing-ticker")

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.tick()
            except Exception:  # a bug here must not stop pruning and settling for good
                log.exception("routing_tick_failed")

    def tick(self) -> None:
        now = self.now()
        self.index.set_clock(now, self.speed)
        self.index.prune(now)
        for record in self.tracker.tick(now):
            self._settled(record)

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        pending = list(self._tasks)
        if pending:
            await asyncio.wait(pending, timeout=2.0)
        for task in [self._ticker, *pending]:
            if task is not None and not task.done():
                task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(
                *(t for t in [self._ticker, *pending] if t is not None), return_exceptions=True
            )

    # -- inside ----------------------------------------------------------------------------------

    def _settled(self, record: AffinityDecided) -> None:
        decided = self._decisions.pop(record.uniqueid, None)
        try:
            self._emit(record)
        except Exception:
            log.exception("affinity_emit_failed")
        self._count(record.queue, record.reason)
        # One line per callback; ordinary calls (no_history, ineligible) only at debug level.
        (log.info if record.agent is not None else log.debug)(
            "affinity_decided",
            uniqueid=record.uniqueid,
            queue=record.queue,
            action=record.action,
            reason=record.reason,
            shadow=record.shadow,
            agent=record.agent,
        )
        followed_attempt = record.action != "queue" and record.reason.startswith("fallback_")
        if followed_attempt and not record.shadow and decided is not None:
            self._tell_fallback(record.uniqueid, decided[1], decided[0], record.reason)

    def _check_no_answer(self, agent: str) -> None:
        for uid, channel, personal in self.tracker.attempt_for_agent(agent):
            entry = self.core.by_uniqueid.get(uid)
            if entry is None or entry.queue != personal:
                continue
            unanswered = any(o.agent == agent and o.result == "no_answer" for o in entry.offers)
            if unanswered and self.tracker.ring_unanswered(uid):
                self.core.withdrawing(uid)
                self._spawn({"Action": "QueueWithdrawCaller", "Queue": personal, "Caller": channel})

    def _tell_fallback(self, uid: str, channel: str, d: AffinityDecision, reason: str) -> None:
        action = {
            "Action": "UserEvent",
            "UserEvent": "AcdCallbackContext",
            "Uniqueid": uid,
            "Queue": d.queue,
            "PrevAgent": d.agent or "",
            "PrevAgentName": d.agent_name or "",
            "CallbackOf": d.callback_of or "",
            "CutoffAt": f"{d.cutoff_at:.0f}" if d.cutoff_at is not None else "",
            "Reason": reason,
        }
        if channel:
            action["CallerChannel"] = channel
        if self.screenpop_url:
            action["ScreenPop"] = self.screenpop_url
        self._spawn(action)

    def _mirror(self, agent: str) -> None:
        if not self.mirror or (self.mirror_agents and agent not in self.mirror_agents):
            return
        record = self.core.agents.get(agent)
        facts = []
        if record is not None:
            for key in record.members:
                m = self.core.members.get(key)
                if m is not None:
                    facts.append(
                        MemberFacts(m.queue, m.interface, m.agent, m.name, m.paused, m.paused_reason)
                    )
        actions = mirror_actions(agent, facts, self.allowed)
        signature = tuple(tuple(sorted(a.items())) for a in actions)
        if not actions or self._mirror_sent.get(agent) == signature:
            return
        self._mirror_sent[agent] = signature
        for action in actions:
            self._spawn(action)

    def _spawn(self, action: dict[str, str]) -> None:
        task = asyncio.get_running_loop().create_task(self._run_action(action))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_action(self, action: dict[str, str]) -> None:
        try:
            await self._send(action)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Asterisk said no, or AMI is down: logged, never fatal
            if action.get("Action") == "QueueWithdrawCaller" and "No such caller" in str(exc):
                # The caller already left: Queue()'s `n` ended the one ring first, or they hung up.
                log.debug("withdraw_not_needed", queue=action.get("Queue"))
                return
            self.actions_failed += 1
            log.warning(
                "routing_action_failed",
                action=action.get("Action"),
                queue=action.get("Queue"),
                error=str(exc),
            )
