"""The routing service: one FastAGI request -> one decision -> the channel variables. Thread side.

Runs in the FastAGI worker threads. It reads only the :class:`RoutingIndex` snapshot and the
settings, calls the pure :func:`acd.core.affinity.decide`, and hands the decision to the loop
through ``handoff`` (``loop.call_soon_threadsafe``: an enqueue that never blocks).

Variables set, in order (``ACD_ROUTE`` last: the dialplan branches on it, so a dialogue cut short
before it leaves the caller on the plain shared-queue path):
``ACD_REASON``; for a caller with a previous agent ``ACD_PREV_AGENT``, ``ACD_PREV_AGENT_NAME``,
``ACD_CALLBACK_OF``, ``ACD_CUTOFF_AT`` (cut-off time, epoch seconds; empty for sticky),
``ACD_SCREENPOP_URL`` (the HTTP screen pop; ``{agent}`` is the answering agent),
``ACD_CALL_URL`` (this call), ``ACD_CALLBACK_URL`` (the earlier call, with its outcomes and
notes, for whoever answers); when routed to the agent ``ACD_AGENT_QUEUE``, ``ACD_WAIT`` (whole seconds),
``ACD_QUEUE_OPTS`` (``n``: one ring when the agent is free), ``ACD_PRIO``; then ``ACD_ROUTE``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from urllib.parse import quote

from acd.core.affinity import AffinityDecision, AffinityPolicy, CallbackRequest, decide
from acd.core.linking import caller_key
from acd.routing.fastagi import AgiRequest, Reply, Variables
from acd.routing.index import RoutingIndex
from acd.settings import Settings

__all__ = ["Handoff", "RoutingService", "fallback_variables"]

Handoff = Callable[[AgiRequest, AffinityDecision, str | None], None]


def fallback_variables(request: AgiRequest | None, why: str) -> Reply:
    """No preference: the shared queue, as plain Asterisk would do."""
    return Reply((("ACD_REASON", why), ("ACD_ROUTE", "queue")))


class RoutingService:
    def __init__(self, settings: Settings, index: RoutingIndex, handoff: Handoff | None = None) -> None:
        self.settings = settings
        self.index = index
        self.handoff = handoff
        self._policies: dict[str, AffinityPolicy] = {}
        base = settings.affinity.screenpop_base_url.rstrip("/")
        if not base:
            host = settings.http.host
            host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            base = f"http://{host}:{settings.http.port}"
        self.base_url = base

    def policy(self, queue: str) -> AffinityPolicy:
        found = self._policies.get(queue)
        if found is None:
            a = self.settings.affinity
            q = self.settings.queue(queue)
            found = AffinityPolicy(
                enabled=a.enabled,
                queue_enabled=q.affinity,
                shadow=a.shadow,
                wait_seconds=q.affinity_wait_seconds,
                service_level_seconds=q.service_level_seconds,
                callback_window_seconds=q.callback_window_seconds,
                ring_timeout_seconds=a.ring_timeout_seconds,
                allowed_pause_reasons=frozenset(a.allowed_pause_reasons),
                sticky=a.sticky,
                sticky_window_seconds=a.sticky_window_seconds,
            )
            self._policies[queue] = found
        return found

    def decide(self, request: AgiRequest) -> AffinityDecision:
        queue = request.params.get("queue") or (request.args[0] if request.args else "")
        account = decision_account(request)
        key = caller_key(request.callerid, account)
        past = self.index.answers.get(key) if key else None
        agent = self.index.agents.get(past.agent) if past else None
        return decide(CallbackRequest(queue, key, account), past, agent, self.policy(queue), self.index.now())

    def answer(self, request: AgiRequest) -> Reply:
        """The FastAGI answer: the decision's variables, the decision itself as the note."""
        if request.script not in ("route", ""):
            return fallback_variables(request, f"unknown_script:{request.script}")
        decision = self.decide(request)
        return Reply(self.variables(request, decision), decision)

    def delivered(self, request: AgiRequest, reply: Reply) -> None:
        """Set on the channel in time: hand the decision to the loop to be tracked and recorded.
        With the global switch off acd does not route at all: nothing to record."""
        if (
            self.handoff is not None
            and self.settings.affinity.enabled
            and isinstance(reply.note, AffinityDecision)
        ):
            self.handoff(request, reply.note, decision_account(request))

    def variables(self, request: AgiRequest, d: AffinityDecision) -> Variables:
        out: list[tuple[str, str]] = [("ACD_REASON", d.reason)]
        if d.agent is not None:
            out += [
                ("ACD_PREV_AGENT", d.agent),
                ("ACD_PREV_AGENT_NAME", d.agent_name or ""),
                ("ACD_CALLBACK_OF", d.callback_of or ""),
                ("ACD_CUTOFF_AT", f"{d.cutoff_at:.0f}" if d.cutoff_at is not None else ""),
                ("ACD_SCREENPOP_URL", f"{self.base_url}/api/v1/agents/{{agent}}/now"),
                ("ACD_CALL_URL", f"{self.base_url}/api/v1/calls/{quote(request.uniqueid, safe='')}"),
                ("ACD_CALLBACK_URL", f"{self.base_url}/api/v1/calls/{quote(d.callback_of or '', safe='')}"),
            ]
        if d.route != "queue" and d.personal_queue is not None:
            out += [
                ("ACD_AGENT_QUEUE", d.personal_queue),
                ("ACD_WAIT", str(max(1, math.ceil(d.wait_seconds)))),
                ("ACD_QUEUE_OPTS", "n" if d.route == "offer_now" else ""),
                ("ACD_PRIO", str(self.settings.affinity.priority)),
                ("ACD_ROUTE", "agent"),
            ]
        else:
            out.append(("ACD_ROUTE", "queue"))
        return out


def decision_account(request: AgiRequest) -> str | None:
    account = request.params.get("account") or (request.args[1] if len(request.args) > 1 else "")
    return account.strip() or None
