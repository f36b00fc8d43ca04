"""Callback routing: the lookup Asterisk asks (own threads) and the edge on the daemon's loop.

How a callback is routed (README, "Wire acd into Asterisk"): the generated ``acd-route``
dialplan asks ``GET /route`` with ``CURL()`` under a hard time bound; the lookup answers from
the core's published view (acd/routing/service.py) and hands the decision to the core as a
command on the event queue; the dialplan confirms the answer it used with
``UserEvent(AcdRouted)``, and only then does the core follow and record it.

:func:`start_routing` takes exactly what routing needs, nothing of the daemon: the settings,
the core's published view, the event clock, the command queue (``put`` from any thread, then
``wake``), the AMI sender and the metrics. The daemon adds ``handle.observe`` to its effect sinks
and awaits ``handle.close()`` on shutdown, before the writer is flushed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from acd.core.commands import Command
from acd.core.effects import Effect
from acd.core.routing_view import RoutingView
from acd.metrics.metrics import Metrics
from acd.routing.edge import RoutingEdge, SendAction
from acd.routing.lookup import LookupServer
from acd.routing.service import RoutingService, http_base_url
from acd.settings import Settings

__all__ = ["RoutingHandle", "start_routing"]


@dataclass
class RoutingHandle:
    server: LookupServer
    service: RoutingService
    edge: RoutingEdge

    @property
    def port(self) -> int:
        return self.server.port

    def observe(self, effect: Effect) -> None:
        """The daemon's effect sink."""
        self.edge.observe(effect)

    async def close(self) -> None:
        """Stop answering (new lookups are refused: the dialplan goes on at once), then let the
        actions in flight finish. Safe to call twice."""
        await asyncio.get_running_loop().run_in_executor(None, self.server.close)
        await self.edge.close()


async def start_routing(
    settings: Settings,
    *,
    view: Callable[[], RoutingView],
    now: Callable[[], float],
    put: Callable[[Command], None],
    wake: Callable[[], None],
    send_action: SendAction,
    metrics: Metrics,
    may_act: Callable[[], bool] | None = None,
) -> RoutingHandle:
    """Start the lookup server. Raises OSError when its port cannot be bound (the daemon then fails
    to start: an operator who wired the dialplan expects routing). ``may_act``: the leadership's
    fence, asked before each decision (a node that may not act answers 'shared queue')."""
    service = RoutingService(settings, view, now, gate=may_act)
    edge = RoutingEdge(
        view=view,
        send=send_action,
        enabled=settings.affinity.enabled,
        mirror=settings.affinity.mirror_members,
        allowed_pause_reasons=frozenset(settings.affinity.allowed_pause_reasons),
        base_url=http_base_url(settings),
    )
    server = LookupServer(
        settings.routing.host,
        settings.routing.port,
        service.answer,
        timeout=settings.routing.timeout_seconds,
        put=put,
        wake=wake,
        count=metrics.observe_lookup,
    )
    await asyncio.get_running_loop().run_in_executor(None, server.start)
    return RoutingHandle(server, service, edge)
