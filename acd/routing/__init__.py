"""Callback routing: the FastAGI server (own thread) and the loop-side edge, started by the daemon.

The daemon calls :func:`start_routing` once its core, clock, metrics and AMI client exist (before
AMI connects, so no effect is missed) and ``await handle.close()`` on shutdown before the writer
is flushed (so the last routing records are written). See acd/routing/edge.py for what runs on
the loop and acd/routing/fastagi.py for why the answers come from a thread of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from acd.core.affinity import AffinityDecision, personal_queue_name
from acd.core.effects import AffinityDecided
from acd.core.linking import PastCall
from acd.routing.edge import RoutingEdge
from acd.routing.fastagi import AgiRequest, FastAgiServer
from acd.routing.index import RoutingIndex
from acd.routing.service import RoutingService, fallback_variables

if TYPE_CHECKING:
    from acd.daemon import Daemon

__all__ = ["SWITCH_INTERVAL", "RoutingHandle", "start_routing"]

# The FastAGI thread shares the GIL with the daemon's loop. Python hands the GIL over every 5 ms
# by default, so a loop busy in Python code would delay each step of a FastAGI dialogue by up to
# 5 ms: p99 ~450 ms, some answers past the 500 ms deadline, in bench/bench_fastagi.py; at 1 ms,
# p99 ~85 ms. start_routing lowers it (never raises it) and close() puts it back.
SWITCH_INTERVAL = 0.001

log = structlog.get_logger("acd.routing")


@dataclass
class RoutingHandle:
    server: FastAgiServer
    edge: RoutingEdge
    index: RoutingIndex
    service: RoutingService
    switch_interval_before: float | None = None

    @property
    def port(self) -> int:
        return self.server.port

    def seed(self, calls: Iterable[PastCall]) -> None:
        """More past calls (``start_routing`` already loads the database's when the daemon has one)."""
        self.index.seed(calls)

    async def close(self) -> None:
        """Stop answering (new FastAGI connections are refused: the dialplan falls through), then
        settle what can be settled. Safe to call twice."""
        await asyncio.get_running_loop().run_in_executor(None, self.server.close)
        await self.edge.close()
        if self.switch_interval_before is not None:
            sys.setswitchinterval(self.switch_interval_before)
            self.switch_interval_before = None


def _horizon(daemon: Daemon) -> float:
    s = daemon.settings
    windows = [s.queue_defaults.callback_window_seconds]
    windows += [s.queue(name).callback_window_seconds for name in s.queues]
    if s.affinity.sticky:
        windows.append(s.affinity.sticky_window_seconds)
    return max(windows)


async def _seed_from_store(daemon: Daemon, index: RoutingIndex, now: float) -> None:
    """Last answered calls from the database: a restart between a cut-off and its callback changes
    nothing. A database that cannot be read leaves routing up, with the history it sees from now."""
    if daemon.engine is None:
        return
    from acd.store.history import load_past_calls

    try:
        calls = await load_past_calls(daemon.engine, daemon.settings.server_id, now, index.horizon)
    except Exception as exc:
        log.warning("routing_history_unavailable", error=str(exc))
        return
    index.seed(calls)
    log.info("routing_history_loaded", calls=len(calls))


async def start_routing(daemon: Daemon) -> RoutingHandle:
    """Start the FastAGI server and plug the routing edge into the daemon's effect sinks.

    Raises OSError when the FastAGI port cannot be bound (the daemon should fail to start: an
    operator who wired the dialplan expects routing). Idempotent: a daemon whose ``routing``
    attribute already holds a handle gets that handle back.
    """
    existing = getattr(daemon, "routing", None)
    if isinstance(existing, RoutingHandle):
        return existing
    loop = asyncio.get_running_loop()
    settings = daemon.settings
    core = daemon.core
    index = RoutingIndex(_horizon(daemon))
    sinks: list[Callable[[Any], None]] = daemon._sinks

    def emit(record: AffinityDecided) -> None:
        for sink in list(sinks):
            if sink == edge.observe:
                continue
            try:
                sink(record)
            except Exception:  # one failing consumer must not keep the record from the others
                log.exception("affinity_sink_failed", sink=getattr(sink, "__qualname__", "sink"))

    def handoff(request: AgiRequest, decision: AffinityDecision, account: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closing: the call goes on unrecorded
            loop.call_soon_threadsafe(edge.on_decision, request, decision, account)

    service = RoutingService(settings, index, handoff)
    edge = RoutingEdge(
        core=core,
        now=daemon.clock.now,
        speed=settings.speed,
        index=index,
        send=daemon.ami.send_action,
        emit=emit,
        count=daemon.metrics.observe_affinity,
        allowed_pause_reasons=frozenset(settings.affinity.allowed_pause_reasons),
        mirror=settings.affinity.mirror_members,
        mirror_agents=frozenset(a for a in settings.affinity.agents if personal_queue_name(a)),
        screenpop_url=f"{service.base_url}/api/v1/agents/{{agent}}/now",
    )
    # Attach before the first await: effects the consumer applies meanwhile must reach the index.
    now = daemon.clock.now()
    index.set_clock(now, settings.speed)
    index.refresh_all(core, now)
    sinks.append(edge.observe)
    await _seed_from_store(daemon, index, now)
    server = FastAgiServer(
        settings.fastagi.host,
        settings.fastagi.port,
        settings.fastagi.deadline_ms,
        service.answer,
        fallback_variables,
        delivered=service.delivered,
    )
    try:
        await loop.run_in_executor(None, server.start)
    except BaseException:
        sinks.remove(edge.observe)
        raise
    edge.start()
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, SWITCH_INTERVAL))
    return RoutingHandle(server, edge, index, service, before)
