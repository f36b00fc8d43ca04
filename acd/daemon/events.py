"""One AMI event's path through the daemon, once the AMI client has framed it: into the core (or
held, or only counted, by the node's role), and every effect the core returns to every sink in
order (metrics, writer, live calls, routing); the markers and commands that share the consumer's
queue with the events; the ticker that drives the core's timers and marks the journal.

Why apart from the wiring (:mod:`acd.daemon.wiring`): this is what runs for every event, on the
consumer's path, and it must stay quick and never raise; the wiring opens and closes what it runs
on. Like :class:`acd.daemon.roles.RoleLoop`, :class:`EventPath` works on the daemon's own state
and holds none of its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from acd.ami.connection import (
    AuthFailed,
    ConnectionEvent,
    Disconnected,
    FullyBooted,
    LoggedIn,
)
from acd.consumer import Consumer
from acd.core.commands import Command, HistoryLearned
from acd.core.effects import Anomaly, CallFinished, Effect
from acd.daemon.ami_notices import log_notice, note_timestamps
from acd.daemon.journal_marks import JournalMarks
from acd.daemon.resyncs import ABORT, BEGIN, END
from acd.daemon.roles import RoleLoop
from acd.ha import Leadership
from acd.sdnotify import Notifier

__all__ = ["DISCONNECTED", "QUEUE_LOG_READ", "TICK_SECONDS", "DaemonStats", "EventPath"]

log = structlog.get_logger("acd.daemon")

DISCONNECTED = "disconnected"  # marker: the AMI session was lost (the core opens a gap)
QUEUE_LOG_READ = "queue-log-read"  # marker: queue_log has new lines for the gap being filled
TICK_SECONDS = 1.0

_NO_EFFECTS: list[Effect] = []


@dataclass
class DaemonStats:
    """What the daemon counts of its own work (read by the status line, ``/healthz``, the tests)."""

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


class EventPath(RoleLoop):
    """The per-event half of :class:`acd.daemon.wiring.Daemon` (attributes below are the daemon's)."""

    stats: DaemonStats
    marks: JournalMarks
    notifier: Notifier
    ami_booted_fallback: float
    _sinks: list[Callable[[Effect], None]]
    _skipped_seen: dict[str, int]
    _last_status: float
    _events_at_status: int

    def _on_state(self, notice: ConnectionEvent) -> None:
        """What the AMI client reports, acted on here and logged once (acd/daemon/ami_notices.py)."""
        log_notice(notice, self.settings.ami, self.ami_booted_fallback)
        if isinstance(notice, FullyBooted):
            self.metrics.set_ami_connected(True)
            self.leadership.poke()  # a standby whose Asterisk is up may lead now
            if self._leading:
                self.resyncs.start()
        elif isinstance(notice, LoggedIn):
            if self.ami.stats.reconnects:
                self.metrics.ami_reconnected()
        elif isinstance(notice, Disconnected):
            self.metrics.set_ami_connected(False)
            self.resyncs.cancel()  # its snapshot would straddle two connections
            if notice.was_logged_in and notice.reason != "closed":
                self.consumer.put(DISCONNECTED, notice.at)
        self._status(force=isinstance(notice, (FullyBooted, Disconnected, AuthFailed)))

    def _apply_event(self, headers: Mapping[str, str], now: float) -> list[Effect]:
        """A recording node's core takes the event; a standby whose leader records the same
        stream only counts it (for its health)."""
        if self._events == "record":
            return self.core.apply(headers, now)
        return _NO_EFFECTS

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
        if self.ami.connected:
            self.resyncs.start()

    def _note_timestamps(self, event: Mapping[str, str]) -> bool:
        return note_timestamps(event, self.metrics.set_ami_timestamps)

    def _queue_log_read(self) -> None:
        self.consumer.put(QUEUE_LOG_READ, time.time())

    def _marker(self, item: str, received: float) -> None:
        now = self.clock.now()
        if item == BEGIN:
            self.core.begin_resync(now)
        elif item == END:
            self._dispatch(self.core.end_resync(now))
        elif item == ABORT:
            self.core.abort_resync()
        elif item == DISCONNECTED:
            self._dispatch(self.core.disconnected(now))
        elif item == QUEUE_LOG_READ and self.queue_log is not None:
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
                self._undecided_too_long()
            if self.queue:
                self.consumer.wake()  # events held while the lock was unconfirmed
            self._count_skipped()
            self._status()

    def _mark_covered(self) -> None:
        """Mark the journal (acd/daemon/journal_marks.py) when acd has seen everything up to now:
        nothing queued, no AMI gap open or unfilled, no resync under way."""
        if self.writer is None or self.queue or self.core.gap_started is not None:
            return
        if self.core.gapfill is not None and self.core.gapfill.pending:
            return  # the last gap is not filled yet
        if self.core.resync is not None or not self.ami.connected:
            return
        self.marks.mark(self.writer, self.clock.now())

    def _first_mark(self) -> None:
        if self.writer is not None:
            self.marks.first(self.writer, self.queue)

    def _covered(self) -> float | None:
        return None if self.writer is None else self.marks.covered(self.writer)

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
