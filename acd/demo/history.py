"""The demo's earlier days: traffic recorded before the live run, dated in the past.

Why it exists: repeat contacts, FCR and the 24 h / 7 d / 30 d windows are judged over calls whose
windows have closed. A center that starts now has none, so every such figure would read "pending"
for a day and "no data" for a month. The demo records ``days`` days of earlier traffic first.

How, so the figures are acd's own and not a second implementation of them: the simulator runs the
same center (the same reps, queues.conf and dialplan) in this process on a manual clock starting
``days`` days ago, as fast as the code runs. Its callers go through ``acd-route``; their
``CURL()`` is answered in-process by acd's own routing service, reading the core's routing view,
with the decision handed to the core as the lookup server hands it over. Its AMI events go through
acd's framing and core, and the core's effects through the daemon's writer (journal, then the
store), exactly as live traffic would. The reps' outcomes come back the way a phone's wrap-up
code does (``UserEvent: CallOutcome``, orders included), written by the same personas as the live
reps (acd/demo/personas.py). Everything is dated by the events' own timestamps, so each record
lands on its day, and the daemon that starts afterwards loads the caller history from the
database as it does at any start: customers who called last week are last week's callers, not
today's.

Its shape keeps the cost to seconds: the older days are quiet (``calls_per_day``: every rep has
calls within any week, enough for every window and rep to have decided figures), the last
``busy_hours`` before the start run at the live rate with the live team (today's figures, and a
center busy enough for callbacks to fall back and sales to change hands). In the last minutes no
new callers come, so calls finish; in the very last ones no callbacks either: the customers who
still mean to call back are handed to the live simulator (``calling_back``), and call in the live
run's first minutes. The past is seeded (the same for every run unless ``--seed`` says
otherwise): whatever it shows, it always shows.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from acd.ami.codec import Framer
from acd.capture.reading import ReplayClock
from acd.core.affinity import personal_queue_name
from acd.core.callcenter import Core
from acd.core.config import CoreConfig, is_personal_queue
from acd.core.effects import CallFinished, Effect
from acd.core.events import PARSERS
from acd.demo.center import (
    CALLBACK_DELAY_SECONDS,
    CALLBACK_SHARE,
    CUTOFF_SHARE,
    INBOUND_CONTEXT,
    QUEUES,
    Center,
)
from acd.demo.personas import CallSeen, Decision, EarlyRelease, Previous, decide
from acd.routing.answer import parse_request
from acd.routing.service import RoutingService
from acd.settings import Settings
from acd.sim import hangups, members
from acd.sim.clock import Scheduler

if TYPE_CHECKING:
    from acd.store.writer import Writer

__all__ = ["HistoryResult", "seed_history"]

CALLS_PER_DAY = 12
BUSY_HOURS = 1.0
LULL_SECONDS = 300.0  # no new callers in the last minutes: the calls in progress end
RUNOFF_SECONDS = 240.0  # and no callbacks in the last ones: they are the live run's first callers
SEED = 1  # the demo center's past: a month that shows every case (a disputed sale among them)
STEP_SECONDS = 60.0  # the core's timers run once per simulated minute
WRAPUP_SECONDS = 20.0  # a rep posts the outcome this long after the call
READ = ("system", "call", "agent", "user")  # what acd's manager user reads


@dataclass(frozen=True, slots=True)
class HistoryResult:
    days: int
    calls: int  # queue entries recorded
    outcomes: int
    seconds: float  # wall time it took
    skipped: str | None = None  # why nothing was recorded
    # Customers cut off near the end who have not called back yet: (seconds after the end of
    # the history they mean to, number). The live simulator places them (SimConfig.callers).
    calling_back: list[tuple[float, str]] = field(default_factory=list)


async def seed_history(
    center: Center,
    settings: Settings,
    files: dict[str, Path],
    *,
    days: int,
    now: float,
    seed: int | None = None,
    calls_per_day: float = CALLS_PER_DAY,
    busy_hours: float = BUSY_HOURS,
    progress: Callable[[float], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> HistoryResult:
    """Record ``days`` days of traffic ending at ``now`` into the database of ``settings``.
    Nothing is recorded into a database that already holds calls (an earlier demo's, or real
    ones): history is only ever the past of an empty center."""
    from acd.sim import SimConfig, Simulator
    from acd.store.migrate import prepare_database
    from acd.store.writer import open_writer

    started = time.monotonic()
    engine = await prepare_database(settings)
    try:
        existing = await _calls_stored(engine)
        if existing:
            return HistoryResult(
                days,
                0,
                0,
                time.monotonic() - started,
                skipped=f"the database already holds {existing:,} calls",
            )
        writer = await open_writer(settings, engine)
        begin = now - days * 86400.0
        busy_from = now - busy_hours * 3600.0
        seed = SEED if seed is None else seed
        sim = Simulator(
            SimConfig(
                port=0,
                speed=0,
                seed=seed,
                start_epoch=begin,
                manager_conf=files["manager.conf"],
                queues_conf=files["queues.conf"],
                dialplan=files["extensions.conf"],
                dialplan_context=INBOUND_CONTEXT,
                queues=list(QUEUES),
                agents=len(center.reps),
                rate_per_min=calls_per_day / 1440.0,
                slow_agent_share=0.0,
                callback_delay_mean=CALLBACK_DELAY_SECONDS,
                cutoff_share=CUTOFF_SHARE,
                callback_share=CALLBACK_SHARE,
                timestampevents=True,
            )
        )
        recorder = _Recorder(
            center,
            settings,
            writer.submit,
            random.Random(seed),
            sim.sched,
            partial(hangups.hangup_channel, sim.pbx),
        )
        sim.add_reader(READ, recorder.feed)
        sim.http = recorder.lookup
        await sim.start()
        # What acd's routing edge does at each login (QueueAdd to the rep's personal queue), done
        # on the simulator directly: there is no AMI session in between here.
        for rep in center.reps:
            personal = personal_queue_name(rep.interface)
            if personal is not None:
                members.add_member(sim.pbx, personal, rep.interface, rep.name)
        # The day's turns: busy from ``busy_from``; no new callers for the last minutes (calls
        # finish); at the run-off, callers who still mean to call back wait for the live run.
        turns = [
            (busy_from, lambda: sim.traffic.set_rate(center.rate)),
            (now - LULL_SECONDS, lambda: sim.traffic.set_rate(0.0)),
            (now - RUNOFF_SECONDS, lambda: setattr(sim.traffic, "stopped", True)),
        ]
        try:
            t = begin
            steps = 0
            if progress is not None:
                progress(0.0)
            while t < now and not (stop is not None and stop()):
                while turns and sim.sched.now >= turns[0][0]:
                    turns.pop(0)[1]()
                # From one simulator timer to the next; while calls are up, the core's own timers
                # (wrap-ups, routing settles) run at least once a simulated minute.
                due = sim.sched.next_time()
                t = min(due if due is not None else now, now, turns[0][0] if turns else now)
                if sim.pbx.calls or recorder.core.registry.entries:
                    t = min(t, sim.sched.now + STEP_SECONDS)
                await sim.advance(max(t - sim.sched.now, 0.0))
                recorder.tick(t)
                steps += 1
                if steps % 200 == 0 and progress is not None:
                    progress(0.5 * (t - begin) / (now - begin))
            callers = sim.traffic.calling_back
        finally:
            await sim.stop()
        # Written once the month is simulated, not while: the simulator runs flat out on the event
        # loop, and a write sharing it with the simulator would take many times as long (past the
        # writer's timeout on a busy machine, and a warning on a clean start).
        task = asyncio.create_task(writer.run(), name="acd-demo-history-writer")
        await _written(writer, progress, stop)
        await writer.close()
        await task
        return HistoryResult(
            days,
            recorder.calls,
            recorder.outcomes,
            time.monotonic() - started,
            calling_back=[(max(when - now, 0.0), number) for when, number in callers],
        )
    finally:
        await engine.dispose()


async def _written(
    writer: Writer, progress: Callable[[float], None] | None, stop: Callable[[], bool] | None
) -> None:
    """Until the database has every record (the second half of ``progress``), or a stop: what is
    left then waits in the journal, where the daemon's writer finds it."""
    total = max(writer.journal.depth, 1)
    while writer.journal.depth and not (stop is not None and stop()):
        if progress is not None:
            progress(0.5 + 0.5 * (1.0 - writer.journal.depth / total))
        await asyncio.sleep(0.1)
    if progress is not None:
        progress(1.0)


async def _calls_stored(engine: object) -> int:
    from sqlalchemy import func, select

    from acd.store.schema.base import table_of
    from acd.store.schema.records import Call

    calls = table_of(Call)
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        return int((await conn.execute(select(func.count()).select_from(calls))).scalar_one())


class _Recorder:
    """AMI bytes in, the core in the middle, effects to the writer; outcomes scheduled back in."""

    def __init__(
        self,
        center: Center,
        settings: Settings,
        submit: Callable[[Effect], None],
        rng: random.Random,
        sched: Scheduler,
        hang_up: Callable[[str, int | None], bool],
    ) -> None:
        self.core = Core(CoreConfig.from_settings(settings))
        self.framer = Framer(expect_banner=False, keep=frozenset(PARSERS))
        self.clock = ReplayClock()
        self.submit = submit
        self.rng = rng
        self.sched = sched
        self.personas = {r.interface: r.persona for r in center.reps}
        # The early-release rep's phone, as live (AMI's Hangup does the same in the simulator).
        self.hang_up = hang_up
        early = {r.interface for r in center.reps if r.persona == "early_release"}
        self.early_release = EarlyRelease(early, random.Random(rng.random()))
        self.posted: dict[str, Previous] = {}  # linkedid -> what its rep posted (for callbacks)
        self.linkedid_of: dict[str, str] = {}  # entry id -> linkedid
        self.calls = 0
        self.outcomes = 0
        self.routing = RoutingService(settings, lambda: self.core.view.current, lambda: self.sched.now)
        self.lookup_at = f"127.0.0.1:{settings.routing.port}"

    def lookup(self, where: str, target: str) -> bytes | None:
        """The dialplan's ``CURL()`` of acd's routing lookup, answered by acd's routing service
        here; its decision goes to the core as the lookup server would hand it over."""
        if where != self.lookup_at:
            return None
        request = parse_request(f"GET {target} HTTP/1.1\r\nHost: {where}\r\n\r\n".encode())
        reply = self.routing.answer(request)
        if reply.command is not None:
            self._effects(self.core.command(reply.command, self.sched.now))
        return reply.body.encode()

    def feed(self, data: bytes) -> None:
        apply, clock = self.core.apply, self.clock
        for headers in self.framer.feed(data):
            if "Event" in headers:
                self._effects(apply(headers, clock(headers)))
                if (early := self.early_release.hang_up(headers)) is not None:
                    self.sched.after(early[1], self._release, early[0])

    def tick(self, now: float) -> None:
        self._effects(self.core.tick(now))

    def _release(self, channel: str) -> None:
        self.hang_up(channel, 16)  # the call may have ended meanwhile: nothing to do then

    def _effects(self, effects: list[Effect]) -> None:
        for effect in effects:
            self.submit(effect)
            if isinstance(effect, CallFinished):
                self.calls += 1
                self._finished(effect)

    def _finished(self, effect: CallFinished) -> None:
        rec = effect.record
        self.linkedid_of[rec.id] = rec.linkedid
        if rec.outcome != "answered" or rec.agent is None or is_personal_queue(rec.queue):
            return
        previous = None
        if rec.callback_of is not None:
            previous = self.posted.get(self.linkedid_of.get(rec.callback_of, ""))
        seen = CallSeen(rec.linkedid, rec.queue, rec.cut_off, rec.talk_seconds, previous)
        decision = decide(self.personas.get(rec.agent, "steady"), rec.agent, seen, self.rng)
        self.posted[rec.linkedid] = Previous(rec.agent, decision.points, decision.order)
        self.sched.after(
            WRAPUP_SECONDS * (0.5 + self.rng.random()), self._post, rec.linkedid, rec.agent, decision
        )

    def _post(self, linkedid: str, agent: str, d: Decision) -> None:
        """The rep's wrap-up code, as the phone sends it (``UserEvent: CallOutcome``)."""
        at = max(self.sched.now, self.clock.now + 0.001)
        headers = {
            "Event": "UserEvent",
            "Privilege": "user,all",
            "Timestamp": f"{at:.6f}",
            "UserEvent": "CallOutcome",
            "Linkedid": linkedid,
            "Agent": agent,
            "Outcome": d.disposition,
        }
        if d.resolved is not None:
            headers["Resolved"] = "yes" if d.resolved else "no"
        if d.notes:
            headers["Notes"] = d.notes
        if d.points is not None:
            headers["Points"] = f"{d.points:g}"
        if d.order is not None:
            headers["OrderRef"] = d.order.ref
            headers["OrderStatus"] = d.order.status
            if d.order.left:
                headers["OrderLeft"] = d.order.left
        self._effects(self.core.apply(headers, self.clock(headers)))
        self.outcomes += 1
