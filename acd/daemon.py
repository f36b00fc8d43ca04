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
from dataclasses import dataclass, field
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
from acd.core.commands import Command
from acd.core.config import CoreConfig
from acd.core.effects import Anomaly, CallFinished, Effect
from acd.core.events import PARSERS
from acd.metrics.durability import DurabilityCollector
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


class CannotListen(Exception):
    """A port acd must listen on is taken or not allowed: the command says so in one line, exit 2."""


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
        self.consumer = Consumer(
            self.core.apply,
            self.clock.stamp,
            self._dispatch,
            count_event=self.metrics.health.count_event,
            on_marker=self._not_an_event,
            on_error=self._core_failed,
            handled=CORE_EVENTS,
            watch={"Reload": self._reloaded},
            probe=self._note_timestamps,
            after_batch=self._after_batch,
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
        self.engine: Any = None
        self.writer: Any = None
        self.kpis: Any = None  # window KPIs from the database, refreshed in the background
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
            if self._resync_task is None or self._resync_task.done():
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

    def _after_batch(self) -> None:
        if self.queue_log is not None:
            self.queue_log.poll(self._queue_log_read)

    def _not_an_event(self, item: Any, received: float) -> None:
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
            self._dispatch(self.core.tick(self.clock.now()))
            self._count_skipped()
            self._mark_covered()
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
        self.writer.journal.mark(self.clock.now())

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
        backlog = self.writer.stats().backlog if self.writer is not None else 0
        journal = self.writer.journal.state if self.writer is not None else "ok"
        risk = "" if journal == "ok" else f"; JOURNAL CANNOT WRITE ({journal})"
        self.notifier.status(f"{ami}; {rate:.0f} events/s; write backlog {backlog}{risk}")

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        from acd.metrics.sql import attach_sql_kpis
        from acd.store.history import load_past_calls
        from acd.store.migrate import prepare_database
        from acd.store.purge import run_retention
        from acd.store.writer import open_writer

        self._check_ports()
        self.engine = await prepare_database(self.settings)
        # The caller history outlives the process: a restart between a cut-off and its callback
        # changes nothing.
        past = await load_past_calls(
            self.engine, self.settings.server_id, self.clock.now(), self.core.config.history_horizon
        )
        self.core.load_history(past)
        self.writer = await open_writer(self.settings, self.engine)
        if self.settings.queue_log.path:
            from acd.queuelog.feed import QueueLogFeed

            self.queue_log = QueueLogFeed(self.settings.queue_log, self.core, self.writer.journal.last_seen)
        self._sinks.append(self.writer.submit)
        self.writer.on_write = self.metrics.observe_db_write
        self.metrics.attach_db_backlog(lambda: self.writer.stats().backlog)
        self.metrics.registry.register(DurabilityCollector(self.writer.stats))
        self._spawn(self.writer.run(), "writer")
        self.kpis = attach_sql_kpis(self.metrics, self.engine, clock=self.clock.now, interval=KPI_SECONDS)
        self.kpis.start()
        if self.settings.database.retention_days:
            self._spawn(run_retention(self.engine, self.settings, clock=self.clock.now), "retention")
        await self._start_http()
        self.routing = await start_routing(
            self.settings,
            view=lambda: self.core.view.current,
            now=self.clock.now,
            put=self.put_command,
            wake=self.wake,
            send_action=self.ami.send_action,
            metrics=self.metrics,
        )
        self._sinks.append(self.routing.observe)
        self._spawn(self.consumer.run(), "consumer")
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
            self.engine,
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
        await self.ami.close()
        if self._resync_task is not None:
            self._resync_task.cancel()
        consumer = next((t for t in self._tasks if t.get_name() == "consumer"), None)
        for task in self._tasks:
            if task is not consumer and task.get_name() != "writer":
                task.cancel()
        # Drain what was read through the core, so its effects reach the writer.
        deadline = time.monotonic() + 5.0
        while self.queue and time.monotonic() < deadline:
            self.consumer.wake()
            await asyncio.sleep(0.01)
        if consumer is not None:
            consumer.cancel()
        if self.routing is not None:
            await self.routing.close()
        if self.queue_log is not None:
            await self.queue_log.close()
        if self.writer is not None:
            await self.writer.close(self.settings.database.flush_deadline)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.runner is not None:
            await self.runner.cleanup()
        if self.kpis is not None:
            await self.kpis.stop()
        if self.engine is not None:
            await self.engine.dispose()
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
        log.error("start_failed", error=str(exc))
        return 1
    if ready is not None:
        ready(daemon)
    await daemon.wait()
    failed = daemon.failed
    with contextlib.suppress(Exception):
        await daemon.stop()
    return 1 if failed is not None else 0
