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

The rest of the daemon, by job: acd/daemon/events.py (one event's path: the core, the markers, the
sinks, the ticker), acd/daemon/roles.py (which node records, and role changes),
acd/daemon/resyncs.py (the resync of each connection), acd/daemon/ami_notices.py (what is logged
of the AMI connection), acd/daemon/listeners.py (the ports), acd/daemon/run.py (signals and exit
codes).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from acd import __version__
from acd.ami.connection import AmiClient
from acd.clock import EventClock
from acd.consumer import Consumer
from acd.core.callcenter import Core
from acd.core.commands import Command
from acd.core.config import CoreConfig
from acd.core.effects import Effect
from acd.core.events import PARSERS
from acd.daemon.events import DaemonStats, EventPath
from acd.daemon.journal_marks import JournalMarks
from acd.daemon.listeners import check_ports, serve_http
from acd.daemon.resyncs import Resyncs
from acd.ha import Leadership, SoleNode
from acd.metrics.durability import DurabilityCollector
from acd.metrics.http import metrics_route
from acd.metrics.metrics import Metrics
from acd.metrics.pipeline import PipelineMetrics
from acd.routing import RoutingHandle, start_routing
from acd.sdnotify import Notifier, watchdog_loop
from acd.settings import Settings, shown_url

__all__ = ["CORE_EVENTS", "Daemon", "NotLeading"]

log = structlog.get_logger("acd.daemon")

BOOTED_FALLBACK = 10.0  # seconds after the login without FullyBooted before resyncing anyway
KPI_SECONDS = 60.0  # window KPIs (24 h / 7 d / 30 d) are recomputed from the database this often
CORE_EVENTS = frozenset(PARSERS)


class NotLeading(Exception):
    """An AMI action refused by the fence: this node does not lead (or has not confirmed it yet)."""


class Daemon(EventPath):
    """Wire the edges to the core. ``start()`` opens everything, ``stop()`` closes it in order.

    What happens to each event and effect is in :class:`acd.daemon.events.EventPath`; what a node
    does when its role in an HA pair changes is in :class:`acd.daemon.roles.RoleLoop`."""

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
        # Leadership: a sole node until start() finds PostgreSQL (then acd/ha decides).
        self.leadership: Leadership | SoleNode = SoleNode()
        self._leading = True
        self._events = "record"  # hold / record / count: what the consumer does with events
        self._undecided_since: float | None = None  # monotonic, while ``_events`` is "hold"
        self._role_generation = 0
        self.marks = JournalMarks()
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
        self.resyncs = Resyncs(self.ami, self.consumer.put, self.stats, sleep)
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
        self._last_status = 0.0
        self._events_at_status = 0
        self.metrics.attach_ha(self._ha_state)

    def add_sink(self, sink: Callable[[Effect], None]) -> None:
        """Also hand every effect to ``sink`` (after the metrics; it must be quick and not raise:
        it runs on the consumer's path). ``acd demo`` counts what happens this way."""
        self._sinks.append(sink)

    def put_command(self, command: Command) -> None:
        self.consumer.put_from_thread(command, time.time())

    def wake(self) -> None:
        """Wake the consumer from another thread (after ``put_command``)."""
        self.consumer.wake_from_thread()

    async def start(self) -> None:
        from acd.metrics.sql import attach_center_kpis, attach_sql_kpis
        from acd.store.migrate import prepare_database
        from acd.store.purge import run_retention
        from acd.store.writer import open_writer

        check_ports(self.settings)
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

    async def _stored(self, timeout: float) -> bool:
        """Whether the database holds every record accepted so far (waiting up to ``timeout``)."""
        return self.writer is None or bool(await self.writer.caught_up(timeout))

    async def _start_http(self) -> None:
        from acd.api.app import build_app
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
        self.runner, self.http_port = await serve_http(app, self.settings.http)

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
        self.resyncs.cancel()
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
