"""The long-running daemon: AMI in, the core in the middle, storage/metrics/HTTP around it.

Shape:
- the AMI client's ``on_message`` only enqueues (it runs inside the socket read and must never
  block or raise: a slow reader is disconnected by Asterisk's ``writetimeout``);
- ONE consumer task (acd/consumer.py) applies events to the core in arrival order and hands each
  effect to the writer (``submit`` only appends), the metrics (``observe`` only counts) and the
  log; the systemd watchdog is fed only while it makes progress;
- a ticker drives the core's timers with the event clock;
- on every FullyBooted the resync (QueueStatus + CoreShowChannels) is fed to the core between
  markers, so the core reconciles and records the gap; a resync that fails (its reads time out
  twice, Asterisk refuses) is tried again with back-off on the same connection;
- SIGTERM/SIGINT: stop AMI, drain the queue through the core, flush the writer within the
  deadline, stop HTTP, dispose the engine, exit 0. A second signal exits at once (code 1).
  A task that crashes takes the process down with code 1 so systemd restarts it.

READY is sent to systemd once the database and the listeners are open, not when AMI is up: an
Asterisk that is down at boot must not make systemd give up on acd.

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
import errno
import gc
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from aiohttp import web

from acd import __version__
from acd.ami.actions import AmiNotConnected
from acd.ami.backoff import Backoff
from acd.ami.connection import (
    AmiClient,
    AuthFailed,
    Connected,
    ConnectFailed,
    ConnectionEvent,
    Disconnected,
    FullyBooted,
    LoggedIn,
)
from acd.ami.resync import resync
from acd.clock import EventClock
from acd.consumer import Consumer
from acd.core.callcenter import Core
from acd.core.caller_history import PastCall
from acd.core.commands import Command, HistoryLearned
from acd.core.config import CoreConfig
from acd.core.effects import Anomaly, CallFinished, Effect
from acd.core.events import PARSERS
from acd.ha import Change, Leadership, LockNotPermitted, SoleNode
from acd.ha.coverage import Coverage
from acd.metrics.durability import DurabilityCollector
from acd.metrics.ha import HaState
from acd.metrics.http import metrics_route
from acd.metrics.metrics import Metrics
from acd.metrics.pipeline import PipelineMetrics
from acd.routing import RoutingHandle, start_routing
from acd.sdnotify import Notifier, watchdog_loop
from acd.settings import Settings, shown_url

__all__ = ["CannotListen", "Daemon", "run_daemon"]

log = structlog.get_logger("acd.daemon")

_BEGIN = "resync-begin"
_END = "resync-end"
_ABORT = "resync-abort"
_DISCONNECTED = "disconnected"
_QUEUE_LOG = "queue-log-read"
TICK_SECONDS = 1.0
BOOTED_FALLBACK = 10.0  # seconds after the login without FullyBooted before resyncing anyway
_HTTP_WHAT = "HTTP API and /metrics"
_HTTP_HINT = "ACD_HTTP__PORT chooses another port"
KPI_SECONDS = 60.0  # window KPIs (24 h / 7 d / 30 d) are recomputed from the database this often
CORE_EVENTS = frozenset(PARSERS)
# A failed resync is tried again on the same connection after this back-off (seconds), not only
# at the next reconnect: a PBX that answered QueueStatus slowly once is usually fine a moment later.
RESYNC_RETRY_MIN = 1.0
RESYNC_RETRY_MAX = 60.0
# A node that cannot learn within this long whether another node records its Asterisk's events
# (the database is away at start) records them itself: merged facts, never an unbounded queue.
UNDECIDED_LIMIT = 10.0


class CannotListen(Exception):
    """A port acd must listen on is taken or not allowed: the command says so in one line, exit 2."""


class NotLeading(Exception):
    """An AMI action refused by the fence: this node does not lead (or has not confirmed it yet)."""


_NO_EFFECTS: list[Effect] = []
# Step-downs that say the node lost its database, not that another node leads.
DATABASE_AWAY = frozenset({"heartbeat_late", "connection_lost"})


@dataclass
class DaemonStats:
    consumer: Consumer
    effects: int = 0
    handler_errors: int = 0
    resyncs: int = 0  # resync attempts, whatever became of them
    resync_failures: int = 0
    skipped: int = 0  # events the reader framed and counted without parsing (no handler reads them)
    calls_finished: int = 0  # call records handed to the writer
    started: float = field(default_factory=time.time)

    @property
    def events(self) -> int:
        """AMI events read: handled by the core, or counted and skipped."""
        return self.consumer.events + self.skipped

    @property
    def max_queue(self) -> int:
        return self.consumer.max_depth


class Daemon:
    """Wire the edges to the core. ``start()`` opens everything, ``stop()`` closes it in order."""

    def __init__(
        self,
        settings: Settings,
        *,
        notifier: Notifier | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``sleep`` is what the AMI client, the resync retries and the watchdog wait with: tests
        pass a simulated clock's."""
        self.settings = settings
        self.clock = EventClock(settings.speed)
        self.core = Core(CoreConfig.from_settings(settings))
        self.metrics = Metrics(settings, live=lambda: self.core.live(self.clock.now()), version=__version__)
        self.notifier = notifier or Notifier()
        self._sleep = sleep
        self._timestamps_known = False
        # Leadership: a sole node until start() finds PostgreSQL (then acd/ha decides).
        self.leadership: Leadership | SoleNode = SoleNode()
        self._leading = True
        self._events = "record"  # hold / record / count: what the consumer does with events
        self._undecided_since: float | None = None  # monotonic, while ``_events`` is "hold"
        self._role_generation = 0
        self._coverage = Coverage()
        self.fenced: dict[str, int] = {}
        self.history_feed: Any = None  # PostgreSQL: what other processes record (acd.store.history_feed)
        self.history_lag: float | None = None  # seconds, the last learned call's
        self.consumer = Consumer(
            self._apply_event,
            self.clock.stamp,
            self._dispatch,
            count_event=self.metrics.health.count_event,
            on_marker=self._not_an_event,
            on_error=self._core_failed,
            handled=CORE_EVENTS,
            watch={"Reload": self._reloaded},
            probe=self._note_timestamps,
            after_batch=self._after_batch,
            hold=self._hold_events,
        )
        self.queue = self.consumer.queue  # read by health, drain and tests
        self.stats = DaemonStats(self.consumer)
        # booted_fallback: a manager user without read class "system" never sees FullyBooted; resync
        # anyway after this long rather than never.
        self.ami_booted_fallback = BOOTED_FALLBACK
        # keep_events: the core's events only; the rest (VarSet, Newexten...) are counted, not parsed.
        self.ami = AmiClient(
            settings.ami,
            on_message=self.consumer.put,
            on_events=self.consumer.put_many,
            backlog=self.consumer.queue.__len__,
            on_state=self._on_state,
            sleep=sleep,
            booted_fallback=BOOTED_FALLBACK,
            keep_events=CORE_EVENTS,
        )
        # Asterisk's Timestamp is comparable with this machine's clock only at speed 1.
        PipelineMetrics(
            self.metrics.registry,
            self.consumer,
            lambda: self.ami.stats,
            lambda: self.stats.resync_failures,
            asterisk_clock=settings.speed == 1.0,
        )
        self._skipped_seen: dict[str, int] = {}
        self.database: Any = None
        self.writer: Any = None
        self.kpis: Any = None  # window KPIs from the database, refreshed in the background
        self.center_kpis: Any = None  # the center's (every server's), while this node exports them
        self.routing: RoutingHandle | None = None  # callback routing: the lookup Asterisk asks
        self.queue_log: Any = None  # Asterisk's queue_log, read after every gap (acd.queuelog.feed)
        self.runner: web.AppRunner | None = None
        self.http_port: int | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._sinks: list[Callable[[Effect], None]] = [self.metrics.observe]
        self._stopping = False
        self._started = False
        self._failed: BaseException | None = None
        self._crashed = asyncio.Event()  # set by a signal or a crashed task: time to stop
        self._resync_task: asyncio.Task[None] | None = None
        self._last_status = 0.0
        self._events_at_status = 0
        self.metrics.attach_ha(self._ha_state)

    def add_sink(self, sink: Callable[[Effect], None]) -> None:
        """Also hand every effect to ``sink`` (after the metrics; it must be quick and not raise:
        it runs on the consumer's path). ``acd demo`` counts what happens this way."""
        self._sinks.append(sink)

    # -- AMI edge callbacks (run inside the socket read: enqueue only) -------------------------------

    # -- commands from edges (any thread): on the same queue, in order with the events ------------

    def put_command(self, command: Command) -> None:
        self.consumer.put_from_thread(command, time.time())

    def wake(self) -> None:
        """Wake the consumer from another thread (after ``put_command``)."""
        self.consumer.wake_from_thread()

    def _on_state(self, notice: ConnectionEvent) -> None:
        """What the AMI client reports, acted on and logged here, once each."""
        ami = self.settings.ami
        if isinstance(notice, FullyBooted):
            self.metrics.set_ami_connected(True)
            if notice.synthetic:
                log.warning(
                    "ami_fully_booted_missing",
                    waited=self.ami_booted_fallback,
                    effect="resyncing without it",
                    fix="give the manager user read class system",
                )
            self.leadership.poke()  # a standby whose Asterisk is up may lead now
            if self._leading and (self._resync_task is None or self._resync_task.done()):
                self._resync_task = asyncio.get_running_loop().create_task(self._resync())
        elif isinstance(notice, Connected):
            log.info("ami_connected", ami=f"{ami.host}:{ami.port}", banner=notice.banner)
        elif isinstance(notice, LoggedIn):
            log.info("ami_logged_in", user=ami.username)
            if self.ami.stats.reconnects:
                self.metrics.ami_reconnected()
        elif isinstance(notice, Disconnected):
            self.metrics.set_ami_connected(False)
            if self._resync_task is not None:
                self._resync_task.cancel()  # its snapshot would straddle two connections
            if notice.was_logged_in and notice.reason != "closed":
                self.consumer.put(_DISCONNECTED, notice.at)
            if notice.reason == "closed":  # our own clean stop
                log.info("ami_disconnected", reason=notice.reason)
            elif notice.was_logged_in:
                log.warning("ami_disconnected", reason=notice.reason)
            else:  # no session began: ConnectFailed or AuthFailed says why, once
                log.debug("ami_disconnected", reason=notice.reason)
        elif isinstance(notice, AuthFailed):
            log.error(
                "ami_login_refused",
                user=ami.username,
                ami=f"{ami.host}:{ami.port}",
                message=notice.message,
                retry_in=round(notice.retry_in, 1),
            )
        elif isinstance(notice, ConnectFailed):
            log.warning(
                "ami_unreachable",
                ami=f"{ami.host}:{ami.port}",
                error=notice.error,
                attempt=notice.attempt,
                retry_in=round(notice.retry_in, 2),
            )
        self._status(force=isinstance(notice, (FullyBooted, Disconnected, AuthFailed)))

    async def _resync(self) -> None:
        """Resync until one completes; the connection's end (cancel, AmiNotConnected) stops it."""
        backoff = Backoff(RESYNC_RETRY_MIN, RESYNC_RETRY_MAX)
        while not await self._resync_once():
            delay = backoff.next_delay()
            log.warning("resync_retry", retry_in=round(delay, 2), failures=self.stats.resync_failures)
            await self._sleep(delay)

    async def _resync_once(self) -> bool:
        """One resync between markers; True when done or when retrying is pointless."""
        self.consumer.put(_BEGIN, time.time())
        done = _ABORT
        try:
            result = await resync(self.ami)
            done = _END
            log.info(
                "resync_done",
                queues=result.queues,
                members=result.members,
                callers=result.callers,
                channels=result.channel_count,
            )
            return True
        except asyncio.CancelledError:
            log.info("resync_abandoned", reason="connection lost or stopping")
            raise
        except AmiNotConnected:  # the connection is gone: its next FullyBooted resyncs
            log.info("resync_abandoned", reason="connection lost")
            return True
        except Exception as exc:  # timed out twice, or Asterisk refused: tried again after a pause
            self.stats.resync_failures += 1
            log.warning("resync_failed", error=str(exc))
            return False
        finally:
            # A partial snapshot must never reconcile: members missing from it would be logged out.
            self.consumer.put(done, time.time())
            self.stats.resyncs += 1

    # -- the one consumer (acd/consumer.py) calls back here ----------------------------------------

    def _apply_event(self, headers: Mapping[str, str], now: float) -> list[Effect]:
        """A recording node's core takes the event; a standby whose leader records the same
        stream only counts it (for its health)."""
        if self._events == "record":
            return self.core.apply(headers, now)
        return _NO_EFFECTS

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

    def _after_batch(self) -> None:
        if self.queue_log is not None:
            self.queue_log.poll(self._queue_log_read)

    def _not_an_event(self, item: Any, received: float) -> None:
        if self._events != "record":
            return  # a standby's core records nothing: its markers and commands mean nothing
        if isinstance(item, str):
            self._marker(item, received)
        else:
            self._command(item)

    def _core_failed(self, headers: Mapping[str, str], exc: Exception) -> None:
        """A core bug must not stop the daemon: the event is counted and logged, the next goes on."""
        self.stats.handler_errors += 1
        self.metrics.handler_error("core")
        log.error("core_failed", event=headers.get("Event"), exc_info=exc)

    def _command(self, command: Command) -> None:
        if isinstance(command, HistoryLearned):
            self.history_lag = max(0.0, time.time() - command.sent)
            self.metrics.history_lag.observe(self.history_lag)
        try:
            effects = self.core.command(command, self.clock.now())
        except Exception:
            self.stats.handler_errors += 1
            self.metrics.handler_error("core")
            log.exception("core_command_failed", command=type(command).__name__)
            return
        if effects:
            self._dispatch(effects)

    def _reloaded(self, event: Mapping[str, str]) -> None:
        """Asterisk reloaded (queues may have come or gone): read QueueStatus again."""
        module = event.get("Module", "").lower()
        if module and module != "all" and "queue" not in module:
            return
        if not self._leading:
            return
        if self.ami.connected and (self._resync_task is None or self._resync_task.done()):
            self._resync_task = asyncio.get_running_loop().create_task(self._resync())

    def _note_timestamps(self, event: Mapping[str, str]) -> bool:
        """The first broadcast event tells whether Asterisk stamps events (timestampevents);
        True once it has (the consumer stops asking)."""
        if "Privilege" not in event or event.get("Event") == "FullyBooted":
            return False  # the login's FullyBooted is written to the session, never with a Timestamp
        self._timestamps_known = True
        on = "Timestamp" in event
        self.metrics.set_ami_timestamps(on)
        if not on:
            log.warning(
                "ami_timestamps_off",
                effect="events are timed when read: a stall in acd shifts waits and talk times",
                fix="timestampevents = yes in manager.conf [general], then: manager reload",
            )
        return True

    def _queue_log_read(self) -> None:
        self.consumer.put(_QUEUE_LOG, time.time())

    def _marker(self, item: str, received: float) -> None:
        now = self.clock.now()
        if item == _BEGIN:
            self.core.begin_resync(now)
        elif item == _END:
            self._dispatch(self.core.end_resync(now))
        elif item == _ABORT:
            self.core.abort_resync()
        elif item == _DISCONNECTED:
            self._dispatch(self.core.disconnected(now))
        elif item == _QUEUE_LOG and self.queue_log is not None:
            self._dispatch(self.queue_log.apply(now))

    def _dispatch(self, effects: list[Effect]) -> None:
        self.stats.effects += len(effects)
        for effect in effects:
            if isinstance(effect, CallFinished):
                self.stats.calls_finished += 1
            for sink in self._sinks:
                try:
                    sink(effect)
                except Exception:
                    self.stats.handler_errors += 1
                    self.metrics.handler_error(getattr(sink, "__qualname__", "sink"))
                    log.exception("effect_sink_failed", effect=type(effect).__name__)
            if isinstance(effect, Anomaly):
                log.debug("anomaly", kind=effect.kind, amievent=effect.event, detail=effect.detail)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            if self._events == "record" and not self._hold_events():
                # (Held events are older than the clock: timers must not run ahead of them.)
                self._dispatch(self.core.tick(self.clock.now()))
                self._mark_covered()
            elif self._undecided_since is not None and self.queue:
                waited = time.monotonic() - self._undecided_since
                if waited > UNDECIDED_LIMIT:
                    log.warning(
                        "ha_role_unknown",
                        waited=round(waited, 1),
                        effect="recording the events seen (merged with the leader's, if one records)",
                    )
                    self._set_events("record", "undecided")
            if self.queue:
                self.consumer.wake()  # events held while the lock was unconfirmed
            self._count_skipped()
            self._status()

    def _mark_covered(self) -> None:
        """Tell the journal how far in event time acd has seen everything (nothing queued, no AMI
        gap open): once those records are durable, a restart fills only what came after."""
        if self.writer is None or self.queue or self.core.gap_started is not None:
            return
        if self.core.gapfill is not None and self.core.gapfill.pending:
            return  # the last gap is not filled yet
        if self.core.resync is not None or not self.ami.connected:
            return
        now = self.clock.now()
        self.writer.journal.mark(now)
        self._coverage.mark(self.writer.journal.last_seq, now)

    def _first_mark(self) -> None:
        """A journal that never marked (a first start) marks where this run's events begin, just
        before the oldest waiting event: a run killed before its first ordinary mark (events held
        while the lock was decided, a backlog under load) still tells its successor where to start
        reading queue_log; without it the successor's gap has no start and recovers nothing."""
        if self.writer is None or self.writer.journal.last_seen is not None:
            return
        for item, _received in self.queue:
            if item.__class__ is dict and item.get("Timestamp"):
                try:
                    at = float(item["Timestamp"]) - 1.0
                except ValueError:
                    return
                self.writer.journal.mark(at)
                self._coverage.mark(self.writer.journal.last_seq, at)
            return

    def _covered(self) -> float | None:
        """Event time up to which the database has every record of this server (the heartbeat
        writes it for the next leader)."""
        if self.writer is None:
            return None
        stats = self.writer.journal.stats()
        return self._coverage.advance(self.writer.journal.acked, dropped=stats.dropped > 0)

    def _count_skipped(self) -> None:
        """Events the reader framed but did not parse still count in acd_ami_events_total."""
        seen = self._skipped_seen
        for name, total in self.ami.skipped_events.items():
            delta = total - seen.get(name, 0)
            if delta:
                self.metrics.count_event(name, delta)
                self.stats.skipped += delta
                seen[name] = total

    def _status(self, *, force: bool = False) -> None:
        now = time.monotonic()
        elapsed = now - self._last_status
        if elapsed < 5.0 and self._last_status and not force:
            return
        rate = (
            (self.stats.events - self._events_at_status) / elapsed
            if self._last_status and elapsed > 0
            else 0.0
        )
        self._last_status, self._events_at_status = now, self.stats.events
        ami = "AMI connected" if self.ami.connected else "AMI reconnecting"
        if isinstance(self.leadership, Leadership):
            ami = f"{'leader' if self._leading else 'standby'}; {ami}"
        backlog = self.writer.stats().backlog if self.writer is not None else 0
        journal = self.writer.journal.state if self.writer is not None else "ok"
        risk = "" if journal == "ok" else f"; JOURNAL CANNOT WRITE ({journal})"
        self.notifier.status(f"{ami}; {rate:.0f} events/s; write backlog {backlog}{risk}")

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        from acd.metrics.sql import attach_center_kpis, attach_sql_kpis
        from acd.store.migrate import prepare_database
        from acd.store.purge import run_retention
        from acd.store.writer import open_writer

        self._check_ports()
        self.database = await prepare_database(self.settings)
        self.writer = await open_writer(self.settings, self.database)
        if self.database.dialect.name == "postgresql":
            self.leadership = self._leadership()
            await self.leadership.start()  # LockNotPermitted: one line, exit 2 (run_daemon)
            self._leading = False  # until the lock is ours (once AMI is up)
            self._set_events("hold", "starting", undecided=True)  # until a lock attempt says who records
            self.writer.fence = self._write_token
            self.writer.sender = self.leadership.conn.info.instance
            self.history_feed = self._history_feed(self.writer.sender)
        # The caller history outlives the process: a restart between a cut-off and its callback
        # changes nothing. (On PostgreSQL this core records only if the role stays unknown.)
        self.core, self.queue_log = await self._fresh_core(self.writer.journal.last_seen, "startup")
        self._sinks.append(self.writer.submit)
        self.writer.on_write = self.metrics.observe_db_write
        self.metrics.attach_db_backlog(lambda: self.writer.stats().backlog)
        self.metrics.registry.register(DurabilityCollector(self.writer.stats))
        self._spawn(self.writer.run(), "writer")
        self.kpis = attach_sql_kpis(self.metrics, self.database, clock=self.clock.now, interval=KPI_SECONDS)
        self.kpis.start()
        if self.database.dialect.name == "sqlite":
            # One server is the whole center: its KPIs are the center's, computed once.
            self.metrics.attach_center_kpis(self.kpis, self._exports_center)
        else:
            self.center_kpis = attach_center_kpis(
                self.metrics, self.database, clock=self.clock.now, active=self._exports_center,
                interval=KPI_SECONDS,
            )  # fmt: skip
            self.center_kpis.start()
        if self.settings.database.retention_days:
            self._spawn(run_retention(self.database, self.settings, clock=self.clock.now), "retention")
        await self._start_http()
        if self._leading:
            self.routing = await self._routing_handle()
        self._sinks.append(self._routing_observe)
        self._spawn(self.consumer.run(), "consumer")
        if isinstance(self.leadership, Leadership):
            self._spawn(self.leadership.run(), "leadership")
        if self.history_feed is not None:
            self._spawn(self.history_feed.run(), "history-feed")
        self._spawn(self._tick(), "ticker")
        interval = self.notifier.watchdog_interval()
        if interval:
            # Fed only while the consumer makes progress: a loop that runs while the consumer is
            # stuck must not keep acd alive.
            self._spawn(
                watchdog_loop(self.notifier, interval, healthy=self.consumer.progressing, sleep=self._sleep),
                "watchdog",
            )
        await self.ami.start()
        # What start-up built lives for the whole run: keep it out of every later collection, so
        # the collector's pauses on the event loop stay short.
        gc.collect()
        gc.freeze()
        self._started = True
        self.notifier.ready("listening; AMI connecting")
        log.info(
            "started",
            http=f"{self.settings.http.host}:{self.http_port}",
            ami=f"{self.settings.ami.host}:{self.settings.ami.port}",
            database=shown_url(self.settings.database.url),
        )

    # -- leadership (acd/ha) ------------------------------------------------------------------------

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
            if self._resync_task is not None:
                self._resync_task.cancel()
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
        if behind and self.ami.booted and (self._resync_task is None or self._resync_task.done()):
            self._resync_task = asyncio.get_running_loop().create_task(self._resync())
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

    async def _routing_handle(self, *, required: bool = True) -> RoutingHandle | None:
        try:
            return await start_routing(
                self.settings,
                view=lambda: self.core.view.current,
                now=self.clock.now,
                put=self.put_command,
                wake=self.wake,
                send_action=self._send_action,
                metrics=self.metrics,
                may_act=self.leadership.may_act,
            )
        except OSError as exc:
            if required:
                raise
            log.error("routing_listen_failed", port=self.settings.routing.port, error=str(exc))
            return None

    async def _stop_routing(self) -> None:
        routing, self.routing = self.routing, None
        if routing is not None:
            await routing.close()

    def _routing_observe(self, effect: Effect) -> None:
        routing = self.routing
        if routing is not None:
            routing.observe(effect)

    async def _send_action(self, action: dict[str, str]) -> object:
        """Every AMI action acd sends on its own account passes the fence first."""
        if not self.leadership.may_act():
            self.fenced["ami_action"] = self.fenced.get("ami_action", 0) + 1
            raise NotLeading(f"{action.get('Action')}: this node does not lead now; not sent")
        return await self.ami.send_action(action)

    def _check_ports(self) -> None:
        """A taken HTTP or lookup port is found before anything starts (the binds come later)."""
        from acd.ports import bind_problem

        http = self.settings.http
        why = bind_problem(http.host, http.port)
        if why is not None:
            raise CannotListen(f"{_HTTP_WHAT} on {http.host}:{http.port}: {why}; {_HTTP_HINT}")
        routing = self.settings.routing
        why = bind_problem(routing.host, routing.port)
        if why is not None:
            raise CannotListen(
                f"routing lookup on {routing.host}:{routing.port}: {why}; ACD_ROUTING__PORT chooses another "
                "port (and regenerate the dialplan with acd asterisk-config)"
            )

    async def _stored(self, timeout: float) -> bool:
        """Whether the database holds every record accepted so far (waiting up to ``timeout``)."""
        return self.writer is None or bool(await self.writer.caught_up(timeout))

    async def _start_http(self) -> None:
        from acd.api.app import app_runner, build_app
        from acd.api.livecalls import LiveCalls

        live_calls = LiveCalls()
        self._sinks.append(live_calls.observe)
        app = build_app(
            self.settings,
            self.database,
            lambda: self.core.live(self.clock.now()),
            live_calls=live_calls,
            extra_routes=[metrics_route(self.metrics), web.get("/healthz", self._health)],
            clock=self.clock.now,
            on_outcome=self.metrics.observe,
            accepting=lambda: self.writer is None or self.writer.journal.healthy,
            stored=self._stored,
        )
        self.runner = app_runner(app, self.settings.http)
        await self.runner.setup()
        http = self.settings.http
        site = web.TCPSite(self.runner, http.host, http.port)
        try:
            await site.start()
        except OSError as exc:
            why = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise CannotListen(f"{_HTTP_WHAT} on {http.host}:{http.port}: {why}; {_HTTP_HINT}") from None
        # The port actually bound (the configured one, or the kernel's pick for port 0).
        addresses = self.runner.addresses
        self.http_port = int(addresses[0][1]) if addresses else http.port

    async def _health(self, request: web.Request) -> web.Response:
        body = {
            "ami_connected": self.ami.connected,
            "role": "leader" if self._leading else "standby",
            "events": self.stats.events,
            "queue": len(self.queue),
            "calls_in_progress": len(self.core.registry.entries),
            "write_backlog": self.writer.stats().backlog if self.writer is not None else None,
            "journal": self.writer.journal.state if self.writer is not None else None,
            # A stretch acd did not see and has not yet filled from queue_log (AMI down, or the
            # resync's read still under way): rows for calls in it may still come.
            "gap_pending": not self.core.synced
            or (self.core.gapfill is not None and self.core.gapfill.pending),
        }
        return web.json_response(body, status=200)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or self._stopping:
            return
        exc = task.exception()
        self._failed = exc or RuntimeError(f"task {task.get_name()} ended")
        log.error("task_crashed", task=task.get_name(), error=repr(exc))
        self._crashed.set()

    def request_stop(self) -> None:
        self._crashed.set()

    async def wait(self) -> None:
        """Until a signal asks to stop or a task crashes (``failed`` then says why)."""
        await self._crashed.wait()

    @property
    def failed(self) -> BaseException | None:
        return self._failed

    async def stop(self) -> None:
        """Graceful stop: nothing the core has seen is lost."""
        if self._stopping:
            return
        self._stopping = True
        self.notifier.stopping("draining")
        if self._events == "hold":  # never decided: what was read is recorded, not dropped
            self._set_events("record", "stopping")
        await self.ami.close()
        if self._resync_task is not None:
            self._resync_task.cancel()
        consumer = next((t for t in self._tasks if t.get_name() == "consumer"), None)
        for task in self._tasks:
            # The leader keeps heartbeating while its writer flushes: what it flushes is written
            # under its token; then it releases the lock cleanly.
            if task is not consumer and task.get_name() not in ("writer", "leadership"):
                task.cancel()
        # Drain what was read through the core, so its effects reach the writer.
        deadline = time.monotonic() + 5.0
        while self.queue and time.monotonic() < deadline:
            self.consumer.wake()
            await asyncio.sleep(0.01)
        if consumer is not None:
            consumer.cancel()
        await self._stop_routing()
        if self.queue_log is not None:
            await self.queue_log.close()
        if self.writer is not None:
            await self.writer.close(self.settings.database.flush_deadline)
        if isinstance(self.leadership, Leadership):
            await self.leadership.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.runner is not None:
            await self.runner.cleanup()
        if self.kpis is not None:
            await self.kpis.stop()
        if self.center_kpis is not None:
            await self.center_kpis.stop()
        if self.history_feed is not None:
            await self.history_feed.close()
        if self.database is not None:
            await self.database.dispose()
        if self._started:  # after a failed start the caller reports why, in one line
            log.info("stopped", events=self.stats.events, calls=self.stats.calls_finished)


def _cannot_listen(exc: BaseException) -> str | None:
    """The one line for a listener that could not bind, or None for any other start failure."""
    if isinstance(exc, CannotListen):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
        return str(exc)  # asyncio's own words name the address
    return None


async def run_daemon(settings: Settings, *, ready: Callable[[Daemon], None] | None = None) -> int:
    """Run until SIGTERM/SIGINT; return the process exit code."""
    loop = asyncio.get_running_loop()
    daemon = Daemon(settings)
    signals = 0

    def on_signal(signum: int) -> None:
        nonlocal signals
        signals += 1
        if signals > 1:
            log.warning("forced_exit", signal=signal.Signals(signum).name)
            if daemon.writer is not None:  # what waits for its fsync is written first
                daemon.writer.flush_sync(2.0)
            os._exit(1)
        log.info("stopping", signal=signal.Signals(signum).name)
        daemon.request_stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await daemon.start()
    except Exception as exc:
        await daemon.stop()
        listen = _cannot_listen(exc)
        if listen is not None:
            print(f"acd: cannot listen: {listen}", file=sys.stderr, flush=True)
            return 2
        if isinstance(exc, LockNotPermitted):
            print(f"acd: database: {exc}", file=sys.stderr, flush=True)
            return 2
        log.error("start_failed", error=str(exc))
        return 1
    if ready is not None:
        ready(daemon)
    await daemon.wait()
    failed = daemon.failed
    with contextlib.suppress(Exception):
        await daemon.stop()
    return 1 if failed is not None else 0
