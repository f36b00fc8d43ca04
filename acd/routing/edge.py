"""The routing edge on the daemon's loop: the core's effects in, AMI actions and log lines out.

An effect sink, so it runs on the loop after the core has published its view. It decides
nothing: the core says what happened (``AffinityDecided``, ``WithdrawRequested``); this edge
carries it to Asterisk:

- ``WithdrawRequested`` -> ``QueueWithdrawCaller`` (the preferred agent's one ring went unanswered);
- an ``AffinityDecided`` whose caller went on without the agent who had the call ->
  ``UserEvent: AcdCallbackContext`` for the fallback agent (who had the call, and the pop link);
- personal-queue membership follows the shared queues (``QueueAdd``/``QueueRemove``/
  ``QueuePause`` from :func:`acd.core.affinity.mirror_actions`), only into the ``acd-agent-*``
  queues Asterisk listed in its last ``QueueStatus`` (the core reads one at every (re)connect and
  after a ``Reload``); a center without personal queues gets no action at all, and, when
  affinity is on, one warning naming the logged-in agents without one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import structlog

from acd.core.affinity import mirror_actions, personal_queue_name
from acd.core.config import is_personal_queue
from acd.core.effects import AffinityDecided, Effect, MemberSession, ResyncDone, WithdrawRequested
from acd.core.routing_view import RoutingView

__all__ = ["RoutingEdge", "SendAction"]

log = structlog.get_logger("acd.routing")

SendAction = Callable[[dict[str, str]], Awaitable[object]]
MISSING_SHOWN = 10  # agents named in the one "no personal queue" warning


class RoutingEdge:
    def __init__(
        self,
        *,
        view: Callable[[], RoutingView],
        send: SendAction,
        enabled: bool = True,
        mirror: bool = True,
        allowed_pause_reasons: frozenset[str] = frozenset(),
        base_url: str = "",
    ) -> None:
        self.view = view
        self._send = send
        self.enabled = enabled
        self.mirror = mirror
        self.allowed = allowed_pause_reasons
        self.base_url = base_url
        self._mirror_sent: dict[str, tuple[tuple[tuple[str, str], ...], ...]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.missing_warned = False
        self.actions_failed = 0

    # -- effects (the daemon's sink) -------------------------------------------------------------

    def observe(self, effect: Effect) -> None:
        if isinstance(effect, WithdrawRequested):
            self._spawn({"Action": "QueueWithdrawCaller", "Queue": effect.queue, "Caller": effect.channel})
        elif isinstance(effect, AffinityDecided):
            self._decided(effect)
        elif isinstance(effect, MemberSession):
            if is_personal_queue(effect.queue):
                self._mirror_sent.pop(effect.agent, None)  # Asterisk moved: compare afresh
            else:
                self._mirror(effect.agent)
                if effect.kind == "login":
                    self._warn_missing_personal_queues()
        elif isinstance(effect, ResyncDone):
            self._mirror_sent.clear()
            for agent in list(self.view().agents):
                self._mirror(agent)
            self._warn_missing_personal_queues()

    async def close(self) -> None:
        pending = list(self._tasks)
        if pending:
            await asyncio.wait(pending, timeout=2.0)
        for task in pending:
            if not task.done():
                task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*pending, return_exceptions=True)

    # -- inside ----------------------------------------------------------------------------------

    def _decided(self, record: AffinityDecided) -> None:
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
        if record.shadow or record.agent is None or not record.call_ids:
            return
        straight_to_queue = record.action == "queue"
        after_attempt = record.action != "queue" and record.reason.startswith("fallback_")
        if straight_to_queue or after_attempt:
            self._tell_fallback(record)

    def _tell_fallback(self, record: AffinityDecided) -> None:
        action = {
            "Action": "UserEvent",
            "UserEvent": "AcdCallbackContext",
            "Uniqueid": record.uniqueid,
            "Queue": record.queue,
            "PrevAgent": record.agent or "",
            "PrevAgentName": record.agent_name or "",
            "CallbackOf": record.callback_of or "",
            "CutoffAt": f"{record.cutoff_at:.0f}" if record.cutoff_at is not None else "",
            "Reason": record.reason,
        }
        if record.channel:
            action["CallerChannel"] = record.channel
        if self.base_url:
            action["ScreenPop"] = f"{self.base_url}/pop/{quote(record.uniqueid, safe='')}"
        self._spawn(action)

    def _mirror(self, agent: str) -> None:
        if not (self.mirror and self.enabled):
            return
        view = self.view()
        personal = personal_queue_name(agent)
        if not view.queues_known or personal not in view.queues:
            return  # no such queue in Asterisk: nothing to keep in step (and no warning per action)
        found = view.agents.get(agent)
        actions = mirror_actions(agent, found.members if found is not None else (), self.allowed)
        signature = tuple(tuple(sorted(a.items())) for a in actions)
        if not actions or self._mirror_sent.get(agent) == signature:
            return
        self._mirror_sent[agent] = signature
        for action in actions:
            self._spawn(action)

    def _warn_missing_personal_queues(self) -> None:
        """Once per run: affinity is on, but logged-in agents have no personal queue in Asterisk."""
        if self.missing_warned or not self.enabled:
            return
        view = self.view()
        if not view.queues_known:
            return
        missing = sorted(
            agent
            for agent, seen in view.agents.items()
            if any(not is_personal_queue(m.queue) for m in seen.members)
            and personal_queue_name(agent) not in view.queues
        )
        if not missing:
            return
        self.missing_warned = True
        log.warning(
            "personal_queue_missing",
            agents=missing[:MISSING_SHOWN],
            more=max(0, len(missing) - MISSING_SHOWN),
            effect="their callbacks go to the shared queue",
            fix="add their acd-agent-* queues (acd asterisk-config) or set ACD_AFFINITY__ENABLED=false",
        )

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
