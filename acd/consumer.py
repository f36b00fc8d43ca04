"""The one consumer: everything the AMI reader queued goes through the core here, in arrival order.

The reader's ``on_message`` only appends to :attr:`Consumer.queue` (it runs inside the socket read
and must never block); this task takes bounded batches, stamps each event with the event clock,
applies it to the core and hands the effects on. Anything that is not an AMI message travels in
the same queue, so it keeps its place among the events, and is handed to ``on_marker``: the
resync's begin/end, a disconnect, the routing edge's commands (put from its own thread with
:meth:`Consumer.put_from_thread`).

What it exposes is what an operator needs to see whether acd keeps up, at the cost of a few
operations per batch, never per event:
- ``queue`` depth and the age of its oldest item (read at scrape time);
- the lag from receipt to handling, sampled once per batch as the wait of the batch's oldest event
  (``lag_observer``), so a stall between two scrapes still shows;
- the lag from Asterisk's ``Timestamp`` to handling, from the last event of each batch when it
  carries one (with ``timestampevents=yes`` every event does; meaningful when Asterisk's clock is
  the wall clock, i.e. at speed 1);
- progress (:meth:`progressing`), which the systemd watchdog asks before each ping: a loop that
  still runs while this task is stuck must not keep acd alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from itertools import repeat
from typing import Any

from acd.core.effects import Effect

__all__ = ["Consumer"]

# One turn of the loop takes at most BATCH items and stops after BUDGET seconds (looked at every
# CHUNK items): under a burst the reader, the timers and HTTP get the loop every few ms, and a
# 20 ms timer is not held up by a turn of ours (bench/bench_burst.py measures how late it fires).
BATCH = 2000
BUDGET = 0.004
CHUNK = 32


class Consumer:
    """``put`` from the reader, ``await run()`` as the daemon's consumer task."""

    def __init__(
        self,
        apply: Callable[[Mapping[str, str], float], list[Effect]],
        stamp: Callable[[Mapping[str, str], float], float],
        dispatch: Callable[[list[Effect]], None],
        *,
        count_event: Callable[[str, int], None],
        on_marker: Callable[[Any, float], None],
        on_error: Callable[[Mapping[str, str], Exception], None],
        handled: frozenset[str] | None = None,
        watch: Mapping[str, Callable[[Mapping[str, str]], None]] | None = None,
        probe: Callable[[Mapping[str, str]], bool] | None = None,
        after_batch: Callable[[], None] | None = None,
        hold: Callable[[], bool] | None = None,
        wall: Callable[[], float] = time.time,
        batch: int = BATCH,
        budget: float = BUDGET,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        """``count_event(name, n)``: ``n`` events of that name were taken (once per name and turn).
        ``handled``: the events the core has a handler for; the others are counted and not
        applied (as when the reader skips them unparsed). None: every event is applied.
        ``watch``: event name -> a hook called before the core sees it (Reload: resync).
        ``probe``: called with each event until it returns True (learning about the peer once).
        ``after_batch``: called after each batch (the queue_log reader looks for new lines).
        ``budget``: seconds of ``timer`` after which a batch ends early (tests inject the timer).
        ``hold``: asked before each batch; True leaves the queue as it is until :meth:`wake` (a
        leader back from a stall applies nothing before its lock is confirmed)."""
        self.queue: deque[tuple[Any, float]] = deque()
        self._wake = asyncio.Event()
        self._apply = apply
        self._stamp = stamp
        self._dispatch = dispatch
        self._count_event = count_event
        self._on_marker = on_marker
        self._on_error = on_error
        self._handled = handled
        self._watch = dict(watch or {})
        self._probe = probe
        self._after_batch = after_batch
        self._hold = hold
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wall = wall
        self._batch = batch
        self._budget = budget
        self._timer = timer
        self.events = 0  # AMI messages applied to the core
        self.taken = 0  # items taken off the queue (events and markers)
        self.max_depth = 0
        self.lag_observer: Callable[[float], None] | None = None
        self.asterisk_lag: float | None = None  # seconds, from the last Timestamp handled
        self._taken_at_ask = -1

    def put(self, item: Any, received: float) -> None:
        """Append one item (an AMI message or a marker) read at ``received`` (wall clock)."""
        self.queue.append((item, received))
        if len(self.queue) == 1:
            self._wake.set()

    def put_many(self, items: list[Any], received: float) -> None:
        """Append the events of one read, all read at ``received``."""
        queue = self.queue
        empty = not queue
        queue.extend(zip(items, repeat(received)))
        if empty:
            self._wake.set()

    def wake(self) -> None:
        """Make the task look at the queue (the drain at shutdown)."""
        self._wake.set()

    def put_from_thread(self, item: Any, received: float) -> None:
        """Append from another thread; call :meth:`wake_from_thread` after."""
        self.queue.append((item, received))  # deque.append is atomic

    def wake_from_thread(self) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing: the drain takes the queue
                loop.call_soon_threadsafe(self._wake.set)

    def oldest_wait(self) -> float:
        """Seconds the item at the head of the queue has waited (0 when the queue is empty)."""
        queue = self.queue
        return max(0.0, self._wall() - queue[0][1]) if queue else 0.0

    def progressing(self) -> bool:
        """True when the queue is empty or items were taken since the previous call: the watchdog
        asks before each ping."""
        moved = self.taken != self._taken_at_ask
        self._taken_at_ask = self.taken
        return moved or not self.queue

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        queue = self.queue
        apply, stamp, dispatch = self._apply, self._stamp, self._dispatch
        count_event, on_marker, wall, handled = self._count_event, self._on_marker, self._wall, self._handled
        watch, timer, budget, hold = self._watch, self._timer, self._budget, self._hold
        # Events counted per turn, by name, then handed to count_event once per name.
        counts: dict[str | None, int] = {}
        counts_get = counts.get
        # The events a turn looks at beyond counting them (None: all).
        looked_at = None if handled is None else handled | watch.keys()
        while True:
            if not queue or (hold is not None and hold()):
                self._wake.clear()
                await self._wake.wait()
                continue
            depth = len(queue)
            if depth > self.max_depth:
                self.max_depth = depth
            observer = self.lag_observer
            if observer is not None:
                observer(wall() - queue[0][1])
            last: Mapping[str, str] | None = None
            probe = self._probe
            n = min(depth, self._batch)
            end = timer() + budget
            taken = markers = 0
            while taken < n:
                chunk = min(n - taken, CHUNK)
                taken += chunk
                for _ in range(chunk):
                    item, received = queue.popleft()
                    if item.__class__ is not dict:
                        on_marker(item, received)
                        markers += 1
                        continue
                    name = item.get("Event")
                    counts[name] = counts_get(name, 0) + 1
                    if probe is None and looked_at is not None and name not in looked_at:
                        continue  # the usual fate of an event the core has no handler for
                    if watch:
                        hook = watch.get(name)  # type: ignore[arg-type]
                        if hook is not None:
                            hook(item)
                    if probe is not None and probe(item):
                        probe = self._probe = None
                    if handled is not None and name not in handled:
                        continue
                    try:
                        effects = apply(item, stamp(item, received))
                    except Exception as exc:  # a core bug must not stop the daemon; the event is counted
                        self._on_error(item, exc)
                        continue
                    if effects:
                        dispatch(effects)
                    last = item
                if timer() >= end:
                    break  # the loop's other work (reads, timers, HTTP) gets its turn
            self.taken += taken
            self.events += taken - markers
            counts.pop(None, None)
            for name, k in counts.items():
                count_event(name, k)  # type: ignore[arg-type]
            counts.clear()
            if last is not None:
                self._asterisk_lag(last)
            if self._after_batch is not None:
                self._after_batch()
            await asyncio.sleep(0)

    def _asterisk_lag(self, headers: Mapping[str, str]) -> None:
        raw = headers.get("Timestamp")
        if raw is None:
            return
        try:
            self.asterisk_lag = self._wall() - float(raw)
        except ValueError:
            return
