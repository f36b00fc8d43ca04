"""Call-center traffic on top of the simulated PBX: agents, arrivals, endings, callbacks and repeats.

Everything random comes from one seeded ``random.Random`` in scheduler order, so a seed and a
configuration give the same calls, the same agents and the same truth file.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from acd.sim import app_queue, members
from acd.sim.clock import Scheduler, Timer
from acd.sim.config import SimConfig
from acd.sim.entities import AgentBehaviour, Call, CallScript, Ending
from acd.sim.pbx import Pbx
from acd.sim.truth import CALLBACK_WINDOW

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


class Traffic:
    """Agents logged in over the configured queues and callers arriving as a Poisson process."""

    def __init__(self, pbx: Pbx, sched: Scheduler, rng: random.Random, cfg: SimConfig):
        self.pbx = pbx
        self.sched = sched
        self.rng = rng
        self.cfg = cfg
        self.queues = cfg.queues or list(pbx.queues)
        self.placed = 0
        self.done = 0
        self.stopped = False
        self.held = False  # Asterisk is down (restarting): callers cannot reach it meanwhile
        self.started_at = sched.now
        self._numbers: set[str] = set()
        self._next_arrival: Timer | None = None
        self._calling_back: dict[str, float] = {}
        self.started = False
        pbx.on_call_done = self._call_done
        # how a new caller enters: straight into the queue, or through a dialplan (simulator)
        self.launch: Callable[[str, str, CallScript], Call | None] = self._launch_direct

    def start(self) -> None:
        for i in range(self.cfg.agents):
            exten = str(1001 + i)
            iface = f"Local/{exten}@agents"
            name = AGENT_NAMES[i % len(AGENT_NAMES)] + (
                "" if i < len(AGENT_NAMES) else str(i // len(AGENT_NAMES))
            )
            dev = self.pbx.device(iface)
            dev.behaviour = AgentBehaviour(answer_after=1.0 + self.rng.random() * 3.0, answer_jitter=2.0)
            if self.rng.random() < self.cfg.slow_agent_share:
                # a slow one: answers after 8 to 16 s, so a ring sometimes times out (15 s)
                dev.behaviour.answer_after = 8.0 + self.rng.random() * 6.0
            for q in self.queues:
                members.add_member(self.pbx, q, iface, name)
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
        return app_queue.new_call(self.pbx, number, queue, script)

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
            members.pause(self.pbx, iface, True, "break")
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
        members.pause(self.pbx, iface, False)

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
