"""The routing service: one lookup -> one decision -> the answer. Runs in the lookup's threads.

It reads only the core's published :class:`~acd.core.routing_view.RoutingView`, the settings and
the event clock, calls the pure :func:`acd.core.affinity.decide`, and returns the answer with the
:class:`~acd.core.commands.LookupAnswered` command the core needs once the dialplan confirms it.

Answer keys and the channel variables the generated dialplan sets from them are listed in
:data:`acd.routing.answer.FIELDS`: ``reason``, ``id`` (the decision, confirmed by the dialplan),
``pop`` (acd's screen pop for this call: ``/pop/{call}`` on acd's HTTP address); for a caller with
a previous agent ``prev``, ``prev_name``, ``callback_of``, ``cutoff_at`` (epoch seconds; empty for
sticky), ``call_url`` (this call in the HTTP API), ``callback_url`` (the earlier call, its outcomes
and notes); when routed to that agent ``agent_queue``, ``wait`` (whole seconds), ``opts`` (``n``:
one ring when the agent is free), ``prio``; and ``route`` (``agent`` or ``queue``).

Every bad input gets a shared-queue answer that records nothing: a request acd cannot read, a
queue Asterisk does not have, more lookups per second than ``max_lookups_per_second`` (a flood).
So does a lookup that reaches a node that may not act (``gate``: an HA node between losing its
lock and closing its listener, or back from a stall and not yet confirmed).
"""

from __future__ import annotations

import itertools
import math
import secrets
import threading
import time
from collections.abc import Callable
from urllib.parse import quote

from acd.core.affinity import AffinityDecision, AffinityPolicy, CallbackRequest, decide
from acd.core.caller_history import caller_key
from acd.core.commands import LookupAnswered
from acd.core.routing_view import RoutingView
from acd.routing.answer import PING_BODY, LookupRequest, encode, shared_queue
from acd.routing.lookup import Reply
from acd.settings import Settings

__all__ = ["RateLimit", "RoutingService", "http_base_url"]


def http_base_url(settings: Settings) -> str:
    """acd's HTTP address as an agent's browser or phone reaches it (screen pops, API links)."""
    base = settings.affinity.screenpop_base_url.rstrip("/")
    if base:
        return base
    host = settings.http.host
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.http.port}"


class RateLimit:
    """A token bucket: ``rate`` lookups per second, bursts of ``burst``. Thread-safe."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._tokens = burst
        self._at = clock()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True


class RoutingService:
    def __init__(
        self,
        settings: Settings,
        view: Callable[[], RoutingView],
        now: Callable[[], float],
        *,
        limit: RateLimit | None = None,
        gate: Callable[[], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.gate = gate
        self.view = view
        self.now = now
        rate = settings.routing.max_lookups_per_second
        self.limit = limit or RateLimit(rate, max(10.0, rate / 5))
        self._policies: dict[str, AffinityPolicy] = {}
        self.reps = settings.reps()
        self.base_url = http_base_url(settings)
        # Decision ids: a random prefix per run and a counter. Unique, and made without a system
        # call (each one would hand the GIL to a busy loop and cost a switch interval).
        self._id_prefix = secrets.token_hex(4)
        self._ids = itertools.count(1)

    def policy(self, queue: str) -> AffinityPolicy:
        """The queue's policy (queues without their own settings share the defaults' one, so a
        lookup naming any queue cannot grow this cache)."""
        key = queue if queue in self.settings.queues else ""
        found = self._policies.get(key)
        if found is None:
            a = self.settings.affinity
            q = self.settings.queue(key) if key else self.settings.queue_defaults
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
            self._policies[key] = found
        return found

    def decide(self, request: LookupRequest, view: RoutingView) -> AffinityDecision:
        key = caller_key(request.caller, request.account or None)
        past = view.answers.get(key) if key else None
        elsewhere = None
        if past is not None:
            past, elsewhere = self.reps.localize(past, self.settings.server_id)
        agent = view.agents.get(past.agent) if past is not None and past.agent and not elsewhere else None
        return decide(
            CallbackRequest(request.queue, key, request.account or None),
            past,
            agent,
            self.policy(request.queue),
            self.now(),
            elsewhere=elsewhere,
        )

    def answer(self, request: LookupRequest) -> Reply:
        if request.path == "/ping":
            return Reply(PING_BODY, "ping")
        if request.problem is not None:
            return Reply(shared_queue("bad_request"), "bad_request")
        if request.path != "/route":
            return Reply(shared_queue("bad_request"), "bad_request")
        if not self.limit.allow():
            return Reply(shared_queue("overload"), "overload")
        if self.gate is not None and not self.gate():
            return Reply(shared_queue("not_leading"), "not_leading")
        view = self.view()
        if view.queues_known and request.queue not in view.queues:
            return Reply(shared_queue("unknown_queue"), "unknown_queue")
        decision = self.decide(request, view)
        decision_id = f"{self._id_prefix}{next(self._ids):x}"
        body = encode(self.pairs(request, decision, decision_id))
        command = LookupAnswered(
            decision_id,
            request.uniqueid,
            request.account or None,
            decision if self.settings.affinity.enabled else None,
        )
        return Reply(body, "agent" if decision.route != "queue" else "queue", command)

    def pairs(self, request: LookupRequest, d: AffinityDecision, decision_id: str) -> list[tuple[str, str]]:
        base = self.base_url
        call = quote(request.uniqueid, safe="")
        out: list[tuple[str, str]] = [("reason", d.reason), ("id", decision_id)]
        if call:
            out.append(("pop", f"{base}/pop/{call}"))
        if d.agent is not None:
            out += [
                ("prev", d.agent),
                ("prev_name", d.agent_name or ""),
                ("callback_of", d.callback_of or ""),
                ("cutoff_at", f"{d.cutoff_at:.0f}" if d.cutoff_at is not None else ""),
                ("call_url", f"{base}/api/v1/calls/{call}" if call else ""),
                ("callback_url", f"{base}/api/v1/calls/{quote(d.callback_of or '', safe='')}"),
            ]
        if d.route != "queue" and d.personal_queue is not None:
            out += [
                ("agent_queue", d.personal_queue),
                ("wait", str(max(1, math.ceil(d.wait_seconds)))),
                ("opts", "n" if d.route == "offer_now" else ""),
                ("prio", str(self.settings.affinity.priority)),
                ("route", "agent"),
            ]
        else:
            out.append(("route", "queue"))
        return out
