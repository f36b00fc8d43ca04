"""The daemon's part in leadership: which node records its Asterisk's events, and what a node
does when its role changes.

Leadership (acd/ha/): with PostgreSQL, the nodes of one server (``ACD_SERVER_ID``) agree through a
session advisory lock which one leads. Only the leader answers routing lookups (a standby's
listener is closed, so the dialplan's first attempt is refused at once), sends AMI actions and
writes fenced rows (decisions, credit); each action first asks the fence (``may_act``: leader, not
stalled, heartbeat confirmed within the step-down bound).

What a node does with the events it reads is a separate question (``_events``), answered so that
nothing accepted is lost:

- ``hold``: the node does not know yet whether it or another node records this stream (it has
  just started, or just won the lock and is building its core): events wait in the queue, in
  order, and go into the core once it is known. A node that cannot learn it (its database is away)
  records after ``UNDECIDED_LIMIT`` rather than hold without bound;
- ``record``: events go into the core and its records to the writer and the journal. The leader
  records; so does a leader that lost its database session (a PostgreSQL restart, a partition, a
  read-only database): it stops acting at once, but keeps its core and journal, because records are
  facts keyed by (server, uniqueid, entry) and merged, so a late or repeated write is harmless while
  a dropped one is lost. If it wins the lock again it leads with the same core;
- ``count``: another node leads (a lock attempt on a working session found the lock held): it
  records the same Asterisk's stream, so this node only counts events for its health and writes
  what its journal still holds. On taking over it builds a fresh core from the database's history
  and resyncs; the time since the previous leader's covered mark is a gap (reason ``takeover``)
  that Asterisk's queue_log fills, and the calls the previous leader committed are not recorded
  again.

A standby on the other host of an active/passive pair has no events while its Asterisk is down;
when Asterisk moves to it, the old leader's AMI is gone, the old leader releases the lock after
``ACD_HA__AMI_LOST_SECONDS`` and the queue_log fills what came before the takeover. With SQLite a
node always leads alone and always records.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import structlog

from acd import __version__
from acd.ami.connection import AmiClient
from acd.clock import EventClock
from acd.consumer import Consumer
from acd.core.callcenter import Core
from acd.core.caller_history import PastCall
from acd.core.commands import HistoryLearned
from acd.core.config import CoreConfig
from acd.daemon.resyncs import Resyncs
from acd.ha import Change, Leadership, SoleNode
from acd.metrics.ha import HaState
from acd.metrics.metrics import Metrics
from acd.routing import RoutingHandle
from acd.settings import Settings

__all__ = ["DATABASE_AWAY", "UNDECIDED_LIMIT", "RoleLoop"]

log = structlog.get_logger("acd.daemon")

# A node that cannot learn within this long whether another node records its Asterisk's events
# (the database is away at start) records them itself: merged facts, never an unbounded queue.
UNDECIDED_LIMIT = 10.0
# Step-downs that say the node lost its database, not that another node leads.
DATABASE_AWAY = frozenset({"heartbeat_late", "connection_lost"})


class RoleLoop:
    """The role handling of :class:`acd.daemon.wiring.Daemon`, over the daemon's own state (the
    attributes below are the daemon's; this class holds no state of its own)."""

    settings: Settings
    clock: EventClock
    ami: AmiClient
    core: Core
    consumer: Consumer
    metrics: Metrics
    resyncs: Resyncs
    leadership: Leadership | SoleNode
    fenced: dict[str, int]
    history_lag: float | None
    database: Any
    writer: Any
    queue_log: Any
    routing: RoutingHandle | None
    _leading: bool
    _events: str
    _undecided_since: float | None
    _role_generation: int
    _stopping: bool
    _tasks: list[asyncio.Task[Any]]
    queue: Any  # the consumer's queue

    if TYPE_CHECKING:

        def _status(self, *, force: bool = False) -> None: ...
        def _covered(self) -> float | None: ...
        def _first_mark(self) -> None: ...
        async def _stop_routing(self) -> None: ...
        async def _routing_handle(self, *, required: bool = True) -> RoutingHandle | None: ...

    def _undecided_too_long(self) -> None:
        """Called by the ticker while events are held undecided: past ``UNDECIDED_LIMIT`` the
        node records them (merged with the leader's, if one records)."""
        if self._undecided_since is None:
            return
        waited = time.monotonic() - self._undecided_since
        if waited > UNDECIDED_LIMIT:
            log.warning(
                "ha_role_unknown",
                waited=round(waited, 1),
                effect="recording the events seen (merged with the leader's, if one records)",
            )
            self._set_events("record", "undecided")

    def _hold_events(self) -> bool:
        """Events wait while the node does not know whether it records them, and while a leader
        may not act yet (back from a stall, lock not confirmed): until the next heartbeat confirms
        the lock or the node steps down, so what they cause is done, not refused."""
        return self._events == "hold" or (self._leading and not self.leadership.may_act())

    def _set_events(self, mode: str, why: str, *, undecided: bool = False) -> None:
        """``undecided``: a hold that lasts only until ``UNDECIDED_LIMIT`` (the start's; the hold
        while a new leader builds its core ends when the core is there)."""
        self._undecided_since = time.monotonic() if undecided else None
        if mode == self._events:
            return
        log.info("ha_events", mode=mode, was=self._events, reason=why, waiting=len(self.queue))
        self._events = mode
        self.consumer.wake()

    def _leadership(self) -> Leadership:
        from acd.ha import LeaseConnection, LeaseTiming, node_info

        ha = self.settings.ha
        timing = LeaseTiming(heartbeat=ha.heartbeat_seconds, step_down_after=ha.step_down_seconds)
        conn = LeaseConnection(
            self.settings.database.url,
            node_info(self.settings.server_id, ha.node_name(), __version__),
            session_timeout=ha.session_timeout_seconds,
            step_down=ha.step_down_seconds,
            op_timeout=ha.heartbeat_seconds,
        )
        return Leadership(
            conn,
            timing,
            ami_ok=lambda: self.ami.booted,
            ami_lost_after=ha.ami_lost_seconds,
            covered=self._covered,
            history_lag=lambda: self.history_lag,
            on_change=self._role_changed,
        )

    def _ha_state(self) -> HaState:
        lead = self.leadership
        fenced = dict(self.fenced)
        if self.writer is not None:
            fenced["decision"] = self.writer.fenced
        return HaState(
            node=self.settings.ha.node_name(),
            leader=self._leading,
            heartbeat_age=lead.heartbeat_age() if self._leading else None,
            takeovers=lead.takeovers,
            stalls=lead.stalls,
            failures=getattr(lead, "failures", 0),
            kpi_exporter=self._leading and lead.kpi_held,
            stepdowns=lead.stepdowns(),
            fenced=fenced,
        )

    def _history_feed(self, sender: str) -> Any:
        from acd.ha.postgres import asyncpg_params
        from acd.store.history_feed import HistoryFeed

        return HistoryFeed(
            asyncpg_params(self.settings.database.url),
            sender,
            deliver=self._learned,
            catch_up=self._catch_up,
        )

    def _learned(self, server: str, sent: float, calls: tuple[PastCall, ...]) -> None:
        """A notification from another process: into the core, in order with the events."""
        if server == self.settings.server_id:
            calls = tuple(replace(c, server="") for c in calls)  # this server's other node
        self.consumer.put(HistoryLearned(calls, sent), time.time())

    async def _catch_up(self, since: float) -> None:
        """After the listening connection dropped: learn again what the database holds."""
        from acd.store.history import load_past_calls

        if self._events != "record":
            return  # a standby loads the history when it takes over
        calls = await load_past_calls(
            self.database, self.settings.server_id, self.clock.now(), self.core.config.history_horizon
        )
        self.consumer.put(HistoryLearned(tuple(calls), time.time()), time.time())

    def _exports_center(self) -> bool:
        """The center's KPIs come from one daemon: the leader holding the "kpi" lock (with
        SQLite, the one daemon there is: ``SoleNode`` always holds it)."""
        return self._leading and bool(self.leadership.kpi_held)

    def _write_token(self) -> int | None:
        """The fencing token the writer's fenced rows carry (None: this node does not lead)."""
        return self.leadership.token if self._leading else None

    def _role_changed(self, change: Change) -> None:
        """Called by the leadership task, on the loop: a step-down takes effect before anything
        else runs (no event applied, no lookup answered); the rest follows in a task."""
        self._role_generation += 1
        generation = self._role_generation
        self.metrics.set_role(change.role)
        if self._stopping:
            self._leading = change.role == "leader" and self._leading
            return
        if change.role == "standby":
            self._leading = False
            self.resyncs.cancel()
            if self.routing is not None:
                self.routing.server.close_listener()  # refused from now on: the dialplan moves on
            if change.reason in DATABASE_AWAY and not change.stalled and self._events != "count":
                # Not deposed, cut off: nobody may know better who records, so this node goes on
                # recording (or holding, while its core is being built); only acting stops. A
                # leader back from a stall longer than its session has been replaced (the standby
                # took the lock when PostgreSQL ended that session): its core is stale and stops.
                self._transition(self._stop_routing(), "fenced")
            else:
                self._set_events("count", change.reason)
                self._transition(self._become_standby(generation), "standby")
        else:
            keep = self._events == "record"  # this core saw every event: it goes on
            if not keep:
                self._set_events("hold", change.reason)  # until the fresh core is in place
            self._transition(self._become_leader(change, generation, keep=keep), "leader")
        self.consumer.wake()
        self._status(force=True)

    def _transition(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"become-{name}")
        self._tasks.append(task)
        task.add_done_callback(self._transition_done)

    def _transition_done(self, task: asyncio.Task[Any]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("ha_transition_failed", task=task.get_name(), error=repr(task.exception()))

    async def _become_standby(self, generation: int) -> None:
        await self._stop_routing()
        if generation != self._role_generation:
            return
        if self.queue_log is not None:
            await self.queue_log.close()
            self.queue_log = None
        # What this core held is the next leader's to see (it adopts the calls in progress).
        self.core = Core(CoreConfig.from_settings(self.settings))

    async def _become_leader(self, change: Change, generation: int, *, keep: bool) -> None:
        """Lead: with the core that recorded every event so far (``keep``), or with a fresh one
        whose gap starts where the records stop, the held events then going into it."""
        if not keep:
            takeover = change.takeover
            covered = takeover.covered_until if takeover is not None else None
            starts = [t for t in (covered, self.writer.journal.last_seen) if t is not None]
            reason = "takeover" if takeover is not None and takeover.previous is not None else "startup"
            try:
                core, feed = await self._fresh_core(max(starts) if starts else None, reason)
            except Exception as exc:  # no history from the database: lead without it, say so
                log.error("ha_history_unavailable", error=str(exc))
                core, feed = Core(CoreConfig.from_settings(self.settings)), None
            if self._events == "hold":
                # This core records from here on, whether or not the lock is still ours (a
                # session lost meanwhile leaves the node recording, as any cut-off leader).
                old, self.queue_log = self.queue_log, feed
                if old is not None:
                    await old.close()
                self.core = core
                self._first_mark()
                self._set_events("record", "core ready")
            else:  # another node leads by now, or stopping recorded into the core there was
                if feed is not None:
                    await feed.close()
                if self._events == "count":
                    return
        if generation != self._role_generation:
            return
        self._leading = True
        await self._stop_routing()
        routing = await self._routing_handle(required=False)
        if generation != self._role_generation:  # stepped down while the listener opened
            if routing is not None:
                await routing.close()
            return
        self.routing = routing
        # A kept core that saw every event is in step with Asterisk: a snapshot taken under
        # traffic could only disagree with it by a race. One that missed something resyncs.
        behind = not keep or not self.core.synced or self.core.gap_started is not None
        if behind and self.ami.booted:
            self.resyncs.start()
        self.consumer.wake()

    async def _fresh_core(self, gap_started: float | None, reason: str) -> tuple[Core, Any]:
        """A core seeded with the caller history in the database, its gap starting where the
        records stop (this node's journal, or the previous leader's covered mark)."""
        from acd.store.history import known_call_ids, load_past_calls

        core = Core(CoreConfig.from_settings(self.settings))
        past = await load_past_calls(
            self.database, self.settings.server_id, self.clock.now(), core.config.history_horizon
        )
        core.load_history(past)
        core.gap_started = gap_started
        core.gap_reason = reason
        feed = None
        if self.settings.queue_log.path:
            from acd.queuelog.feed import QueueLogFeed

            feed = QueueLogFeed(self.settings.queue_log, core, None)
            if gap_started is not None and core.gapfill is not None and reason == "takeover":
                # What the previous leader committed after its mark is not recorded again.
                since = gap_started - self.settings.queue_log.lookback_seconds
                core.gapfill.remember(await known_call_ids(self.database, self.settings.server_id, since))
        return core, feed
