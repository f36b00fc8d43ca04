"""Call-center traffic on top of the model: agents, arrivals, endings, callbacks and repeats.

Everything random comes from one seeded ``random.Random`` in scheduler order, so a seed and a
configuration give the same calls, the same agents and the same truth file.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from acd.sim.clock import Timer
from acd.sim.config import SimConfig
from acd.sim.model import AgentBehaviour, Call, CallScript, Ending, Model, Scheduler

AGENT_NAMES = (
    "Alice",
    "Bob",
    "Carol",
    "Dave",
    "Erin",
    "Frank",
    "Grace",
    "Heidi",
    "Ivan",
    "Judy",
    "Ken",
    "Laura",
    "Mallory",
    "Niaj",
    "Olivia",
    "Peggy",
    "Quentin",
    "Rupert",
    "Sybil",
    "Trent",
    "Uma",
    "Victor",
    "Walter",
    "Xena",
    "Yvonne",
    "Zack",
)

TRUTH_KEYS = (
    "id",
    "queue",
    "caller",
    "agent",
    "interface",
    "outcome",
    "ended_by",
    "cut_off",
    "cause",
    "wait_seconds",
    "talk_seconds",
    "callback_of",
    "repeat_of",
    "joined_at",
)
CALLBACK_WINDOW = 3600.0
REPEAT_WINDOW = 86400.0


class Truth:
    """The simulator's own call records, linked as docs/architecture.md defines callbacks and repeats."""

    def __init__(self, path: Path | None = None):
        # kept in memory only without a file (tests, the Python API); a file run may last days
        self.records: list[dict[str, Any]] = []
        self._keep = path is None
        self._count = 0
        self._history: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._fh: IO[str] | None = path.open("w", encoding="utf-8") if path else None

    def record(self, rec: dict[str, Any]) -> None:
        """Link the finished entry to this number's history, as docs/architecture.md defines the words:
        a repeat contact is an *answered* call followed by another call from the same number
        within 24 h; a callback is a new call within 60 min of an answered call's cut-off end.
        Only the most recent answered earlier call counts (unanswered ones are skipped)."""
        hist = self._history[rec["caller"]]
        joined = rec["joined_at"]
        callback = repeat = None
        for prev in reversed(hist):
            if prev["outcome"] != "answered" or prev["joined_at"] >= joined:
                continue
            age = joined - prev["ended_at"]
            if prev["cut_off"] and age <= CALLBACK_WINDOW:
                callback = prev["id"]
            elif age <= REPEAT_WINDOW:
                repeat = prev["id"]
            break
        rec["callback_of"] = callback
        rec["repeat_of"] = repeat
        hist.append({k: rec[k] for k in ("id", "outcome", "cut_off", "joined_at", "ended_at")})
        if len(hist) > 8:  # only the most recent answered call within 24 h can be linked
            del hist[0]
        self._count += 1
        if self._count % 1000 == 0:  # forget numbers whose last call is past every window
            horizon = joined - REPEAT_WINDOW - 3600.0
            for number in [n for n, h in self._history.items() if h[-1]["ended_at"] < horizon]:
                del self._history[number]
        out = {k: rec[k] for k in TRUTH_KEYS}
        if self._keep:
            self.records.append(out)
        if self._fh is not None:
            self._fh.write(json.dumps(out) + "\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class Traffic:
    """Agents logged in over the configured queues and callers arriving as a Poisson process."""

    def __init__(self, model: Model, sched: Scheduler, rng: random.Random, cfg: SimConfig):
        self.model = model
        self.sched = sched
        self.rng = rng
        self.cfg = cfg
        self.queues = cfg.queues or list(model.queues)
        self.placed = 0
        self.done = 0
        self.stopped = False
        self.held = False  # Asterisk is down (restarting): callers cannot reach it meanwhile
        self.started_at = sched.now
        self._numbers: set[str] = set()
        self._next_arrival: Timer | None = None
        self._calling_back: dict[str, float] = {}
        self.started = False
        model.on_call_done = self._call_done
        # how a new caller enters: straight into the queue, or through a dialplan (simulator)
        self.launch: Callable[[str, str, CallScript], Call | None] = self._launch_direct

    def start(self) -> None:
        for i in range(self.cfg.agents):
            exten = str(1001 + i)
            iface = f"Local/{exten}@agents"
            name = AGENT_NAMES[i % len(AGENT_NAMES)] + (
                "" if i < len(AGENT_NAMES) else str(i // len(AGENT_NAMES))
            )
            dev = self.model.device(iface)
            dev.behaviour = AgentBehaviour(answer_after=1.0 + self.rng.random() * 3.0, answer_jitter=2.0)
            if self.rng.random() < self.cfg.slow_agent_share:
                # a slow one: answers after 8 to 16 s, so a ring sometimes times out (15 s)
                dev.behaviour.answer_after = 8.0 + self.rng.random() * 6.0
            for q in self.queues:
                self.model.add_member(q, iface, name)
        self.started = True
        for delay, number in self.cfg.callers:
            self.sched.after(delay, self._scheduled, number)
        if self.cfg.rate_per_min > 0:
            self._schedule_arrival()

    def _limit_reached(self) -> bool:
        if self.stopped:
            return True
        if self.cfg.max_calls is not None and self.placed >= self.cfg.max_calls:
            return True
        return self.cfg.duration is not None and self.sched.now - self.started_at >= self.cfg.duration

    def _schedule_arrival(self) -> None:
        gap = self.rng.expovariate(self.cfg.rate_per_min / 60.0)
        self._next_arrival = self.sched.after(gap, self._arrive)

    def set_rate(self, per_min: float) -> None:
        """Callers arrive at ``per_min`` from now on (a busy hour after a quiet night); 0 stops
        new arrivals, callbacks and repeats still come."""
        self.cfg.rate_per_min = per_min
        if self._next_arrival is not None:
            self._next_arrival.cancel()
            self._next_arrival = None
        if per_min > 0 and self.started and not self._limit_reached():
            self._schedule_arrival()

    def _arrive(self) -> None:
        if self._limit_reached():
            return
        if self.held:  # nobody reaches a PBX that is restarting: this caller tries again shortly
            self.sched.after(1.0, self._arrive)
            return
        self.place(self._new_number())
        self._schedule_arrival()

    def _new_number(self) -> str:
        while True:
            n = f"55{self.rng.randrange(10**7):07d}"
            if n not in self._numbers:
                self._numbers.add(n)
                return n

    def script(self) -> CallScript:
        r = self.rng
        patience = max(2.0, r.expovariate(1.0 / self.cfg.patience_mean))
        talk = max(3.0, r.lognormvariate(0, 0.8) * self.cfg.talk_mean / 1.37)
        if r.random() < self.cfg.cutoff_share:
            side = r.random()
            if side < 0.4:
                ending = Ending("agent_cut", r.choice((41, 27, 34)))
            elif side < 0.8:
                ending = Ending("caller_cut", r.choice((41, 38, 34)))
            else:
                ending = Ending("caller_chan_cut", 38)
            talk = max(3.0, talk * r.random())
        else:
            x = r.random()
            keep = (1.0 - self.cfg.transfer_share) / 0.95  # the other endings keep their proportions
            if x < 0.65 * keep:
                ending = Ending("caller", 16)
            elif x < 0.90 * keep:
                ending = Ending("agent", 16)
            elif x < 0.95 * keep:
                ending = Ending("agent_ami", 16)
            elif r.random() < 0.5:
                ending = Ending("transfer", 16, after_transfer=10.0 + r.random() * 60)
            else:
                ending = Ending(
                    "atxfer", 16, after_transfer=10.0 + r.random() * 60, consult=3.0 + r.random() * 20
                )
        return CallScript(patience=patience, talk=talk, ending=ending)

    def place(self, number: str, queue: str | None = None) -> Call | None:
        self.placed += 1
        q = queue or self.rng.choice(self.queues)
        return self.launch(number, q, self.script())

    def _launch_direct(self, number: str, queue: str, script: CallScript) -> Call | None:
        return self.model.new_call(number, queue, script)

    def _call_done(self, call: Call) -> None:
        self.done += 1
        t = call.truth
        r = self.rng
        if self.stopped:
            if t.get("cut_off") and r.random() < self.cfg.callback_share:
                self._calling_back[call.number] = self.sched.now + self._callback_delay()
            return
        if t.get("cut_off") and r.random() < self.cfg.callback_share:
            delay = self._callback_delay()
            self._calling_back[call.number] = self.sched.now + delay
            self.sched.after(delay, self._again, call.number)
        else:
            share = self.cfg.repeat_share * (2.0 if t.get("talk_seconds", 0) < 60 else 1.0)
            if r.random() < share:
                self.sched.after(1800.0 + r.random() * 6 * 3600.0, self._again, call.number)
        leg = call.agent
        if leg is not None and r.random() < self.cfg.pause_share:
            iface = leg.iface
            self.model.pause(iface, True, "break")
            self.sched.after(30.0 + r.random() * 240.0, self._unpause, iface)

    def _callback_delay(self) -> float:
        """How long a cut-off caller takes to redial: 1 to 26 minutes, or (``callback_delay_mean``)
        mostly soon after, as people do when a call drops mid-sentence: 20 s at least, within the
        hour."""
        mean = self.cfg.callback_delay_mean
        if mean is None:
            return 60.0 + self.rng.random() * 1500.0
        return min(20.0 + self.rng.expovariate(1.0 / max(mean - 20.0, 0.1)), CALLBACK_WINDOW - 60.0)

    def _unpause(self, iface: str) -> None:
        self.model.pause(iface, False)

    def _again(self, number: str) -> None:
        if self._limit_reached():
            return  # the traffic stopped first: still in ``calling_back`` if a callback
        if self.held:
            self.sched.after(1.0, self._again, number)
            return
        self._calling_back.pop(number, None)
        self.place(number)

    @property
    def calling_back(self) -> list[tuple[float, str]]:
        """Cut-off callers who have not called back yet: (when they mean to, number), soonest
        first. A run that stops hands them to the next (``SimConfig.callers``)."""
        return sorted((when, number) for number, when in self._calling_back.items())

    def _scheduled(self, number: str) -> None:
        self._numbers.add(number)
        self._again(number)

    @property
    def idle(self) -> bool:
        return self.done >= self.placed
