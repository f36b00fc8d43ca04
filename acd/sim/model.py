"""The app_queue model: queues, members, devices, callers and their channels, in simulated time.

Sans-I/O: it owns no socket and reads no clock. Time comes from :class:`Scheduler` (a heap of
timers in simulated seconds); output goes to ``emit`` as already-encoded AMI events. The asyncio
edge (``simulator.py``) advances the scheduler at the configured speed and feeds AMI actions in.

What it models, as app_queue does (Asterisk 22, apps/app_queue.c, and the captures):
- a caller rings members only while it is among the first N waiting callers, N = members free
  (autofill); ``ringall`` rings every free member of the lowest penalty, the other strategies one;
- a member is skipped when paused, in wrap-up (``wrapuptime`` after its last call, across queues
  with ``shared_lastcall``), already rung or in a call when ``ringinuse=no``, or when a heavier
  queue (``weight``) it also serves has callers waiting (app_queue's compare_weight);
- no answer within ``timeout``: AgentRingNoAnswer, the caller waits ``retry`` seconds, then rings
  the next member; ``rrmemory`` remembers where it stopped; with Queue()'s ``n`` option the caller
  leaves instead (QUEUESTATUS=TIMEOUT) once the ring cycles reach the member count, a cycle
  counting as every member except for the round-robin and linear strategies (app_queue's tries).
  A ``n`` caller with nobody to ring waits for its timeout here, where app_queue leaves at once;
- Local-channel members report device state INUSE (Status 2) as soon as they are rung.
"""

from __future__ import annotations

import random
import time as _time
import uuid
from collections.abc import Callable
from typing import Any

from acd.sim.clock import Scheduler, Timer
from acd.sim.config import QueuesConf
from acd.sim.emit import CAUSE_TEXT, MEMBER_HEADERS, Out, event, render_phase, ts_header
from acd.sim.entities import (
    AgentBehaviour,
    Call,
    CallScript,
    Channel,
    Device,
    Ending,
    Leg,
    Member,
    Queue,
)
from acd.sim.queue_log import QueueLogFile

__all__ = [
    "AgentBehaviour",
    "Call",
    "CallScript",
    "Channel",
    "Device",
    "Ending",
    "Leg",
    "Member",
    "Model",
    "Queue",
    "Scheduler",
    "Timer",
]

NORMAL_CAUSES = frozenset({16, 17, 19, 21})


TruthSink = Callable[[dict[str, Any]], None]


class Model:
    """Queues, members and calls. Every public method may emit events through ``emit``."""

    def __init__(
        self,
        queues: QueuesConf,
        sched: Scheduler,
        emit: Callable[[list[Out]], None],
        rng: random.Random,
        timestamps: bool = False,
        truth: TruthSink | None = None,
    ):
        self.conf = queues
        self.sched = sched
        self.emit = emit
        self.rng = rng
        self.timestamps = timestamps
        self.truth_sink = truth
        self.queues: dict[str, Queue] = {n: Queue(c) for n, c in queues.queues.items()}
        self.devices: dict[str, Device] = {}
        self.channels: dict[str, Channel] = {}
        self.calls: dict[str, Call] = {}  # caller ;1 name -> call
        self.uid_counter = 0
        self.local_counter = 0
        self.boot_epoch = int(sched.now)
        self.on_call_done: Callable[[Call], None] | None = None
        self.db: dict[str, str] = {}
        self.queue_log: list[tuple[int, str, str, str, str, str]] = []  # QueueLog action lines
        self.qlog: QueueLogFile | None = None  # Asterisk's queue_log file, when the sim writes one
        self.globals: dict[str, str] = {}
        self.curl_options: dict[str, str] = {}  # global CURLOPT() values (under each channel's)
        for q in self.queues.values():
            for iface, name, penalty, stateif in q.conf.members:
                self.add_member(
                    q.name, iface, name, penalty=penalty, stateif=stateif, dynamic=False, quiet=True
                )

    # ---- identities -------------------------------------------------------------------------
    def _ts(self) -> str:
        return ts_header(self.sched.now) if self.timestamps else ""

    def ql(self, callid: str, queue: str, agent: str, verb: str, *data: object) -> None:
        """One queue_log line where app_queue writes it (only when the simulator keeps the file)."""
        if self.qlog is not None:
            self.qlog.write(self.sched.now, callid, queue, agent, verb, *data)

    def _waited(self, call: Call) -> int:
        return int(self.sched.now) - int(call.joined_at)

    def _ql_left(self, call: Call, verb: str, *extra: object) -> None:
        """ABANDON/EXIT*/WITHDRAW: ``position|original position|waittime``."""
        self.ql(
            call.uid1, call.queue, "NONE", verb, self.position(call), call.origpos, self._waited(call), *extra
        )

    def new_uid(self) -> str:
        uid = f"{int(self.sched.now)}.{self.uid_counter}"
        self.uid_counter += 1
        return uid

    def new_local(self, exten: str, context: str) -> tuple[str, str, str, str]:
        base = f"Local/{exten}@{context}-{self.local_counter:08x}"
        self.local_counter += 1
        return base + ";1", base + ";2", self.new_uid(), self.new_uid()

    def new_bridge(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    # ---- members ----------------------------------------------------------------------------
    def device(self, iface: str, stateif: str | None = None) -> Device:
        dev = self.devices.get(iface)
        if dev is None:
            dev = Device(iface, stateif or iface, AgentBehaviour())
            self.devices[iface] = dev
        return dev

    def member_pairs(self, m: Member) -> list[tuple[str, object]]:
        dev = self.devices.get(m.iface)
        status = dev.status if dev else 1
        incall = 1 if dev is not None and dev.in_call is not None else 0
        vals = (
            m.queue,
            m.name,
            m.iface,
            m.stateif,
            "dynamic" if m.dynamic else "static",
            m.penalty,
            m.calls,
            m.lastcall,
            m.lastpause,
            m.login,
            incall,
            status,
            int(m.paused),
            m.reason,
            int(m.ringinuse),
            0,
        )
        return list(zip(MEMBER_HEADERS, vals, strict=True))

    def member_event(self, kind: str, m: Member, incall: int | None = None) -> Out:
        pairs = self.member_pairs(m)
        if incall is not None:
            pairs[10] = ("InCall", incall)
        return event(kind, "agent", pairs, self._ts())

    def memberships(self, iface: str) -> list[Member]:
        return [q.members[iface] for q in self.queues.values() if iface in q.members]

    def qms(self, iface: str) -> list[Out]:
        return [self.member_event("QueueMemberStatus", m, incall=0) for m in self.memberships(iface)]

    def dsc(self, device: str, state: str) -> Out:
        return event("DeviceStateChange", "call", (("Device", device), ("State", state)), self._ts())

    def add_member(
        self,
        queue: str,
        iface: str,
        name: str | None = None,
        penalty: int = 0,
        paused: bool = False,
        reason: str = "",
        stateif: str | None = None,
        dynamic: bool = True,
        quiet: bool = False,
    ) -> str | None:
        """QueueAdd. Returns an error text as Asterisk words it, or None."""
        q = self.queues.get(queue)
        if q is None:
            return "Unable to add interface to queue: No such queue"
        if iface in q.members:
            return "Unable to add interface: Already there"
        now = int(self.sched.now)
        m = Member(queue, iface, name or iface, stateif or iface, penalty, paused, reason if paused else "")
        m.login = now
        m.lastpause = now if paused else 0
        m.ringinuse = q.conf.ringinuse
        m.dynamic = dynamic
        q.members[iface] = m
        self.device(iface, m.stateif)
        if not quiet:
            out = [self.dsc(f"Queue:{queue}_pause_{iface}", "INUSE" if paused else "NOT_INUSE")]
            out.append(self.member_event("QueueMemberAdded", m))
            self.emit(out)
            self.ql("MANAGER", queue, iface, "ADDMEMBER", "PAUSED" if paused else "")
        self.dispatch()
        return None

    def remove_member(self, queue: str, iface: str) -> str | None:
        q = self.queues.get(queue)
        if q is None:
            return "Unable to remove interface from queue: No such queue"
        m = q.members.pop(iface, None)
        if m is None:
            return "Unable to remove interface: Not there"
        self.emit([self.member_event("QueueMemberRemoved", m)])
        self.ql("MANAGER", queue, iface, "REMOVEMEMBER", "")
        self.dispatch()
        return None

    def pause(self, iface: str, paused: bool, reason: str = "", queue: str | None = None) -> str | None:
        targets = (
            [self.queues[queue].members[iface]]
            if queue and queue in self.queues and iface in self.queues[queue].members
            else []
        )
        if queue is None:
            targets = self.memberships(iface)
        if not targets:
            return "Interface not found"
        out: list[Out] = []
        if queue is None:
            self.ql(
                "NONE",
                "NONE",
                targets[0].name,
                "PAUSEALL" if paused else "UNPAUSEALL",
                reason if paused else "",
            )
        for m in targets:
            self.ql("NONE", m.queue, m.name, "PAUSE" if paused else "UNPAUSE", reason if paused else "")
            m.paused = paused
            m.reason = reason if paused else ""
            if paused:
                m.lastpause = int(self.sched.now)
            out.append(self.dsc(f"Queue:{m.queue}_pause_{iface}", "INUSE" if paused else "NOT_INUSE"))
            out.append(self.member_event("QueueMemberPause", m))
        self.emit(out)
        self.dispatch()  # unpaused: callers may ring; paused: leavewhenempty may empty the queue
        return None

    def set_penalty(self, iface: str, penalty: int, queue: str | None = None) -> str | None:
        targets = [m for m in self.memberships(iface) if queue is None or m.queue == queue]
        if not targets:
            return "Invalid interface, queuename or penalty"
        out = []
        for m in targets:
            m.penalty = penalty
            out.append(self.member_event("QueueMemberPenalty", m))
            self.ql("NONE", m.queue, iface, "PENALTY", penalty)
        self.emit(out)
        self.dispatch()
        return None

    # ---- queue statistics (what QueueParams and the QUEUE* variables show) --------------------
    def qvars(self, q: Queue) -> dict[str, object]:
        perf = (100.0 * q.sl_ok / q.completed) if q.completed else 0.0
        return {
            "q_calls": len(q.waiting),
            "q_holdtime": int(q.holdtime),
            "q_talktime": int(q.talktime),
            "q_completed": q.completed,
            "q_abandoned": q.abandoned,
            "q_servicelevel": q.conf.servicelevel,
            "q_slperf": f"{perf:.1f}",
            "q_strategy": q.conf.strategy,
            "q_max": q.conf.maxlen,
        }

    # ---- calls ------------------------------------------------------------------------------
    def _caller_pair(
        self, number: str, name: str | None, script: CallScript, priority: int, app: str, appdata: str
    ) -> Call:
        """A caller's Local pair: ``;1`` in the inbound dialplan at ``priority`` running ``app``,
        ``;2`` the caller's phone."""
        ch1, ch2, uid1, uid2 = self.new_local(number, "caller-sim")
        call = Call(number, name or f"Customer {number}", ch1, ch2, uid1, uid2, self.sched.now, script)
        self.calls[ch1] = call
        now, cname = self.sched.now, call.name
        self.channels[ch1] = Channel(
            ch1,
            uid1,
            uid1,
            "inbound",
            number,
            priority,
            app,
            appdata,
            number,
            cname,
            number,
            cname,
            now,
            call=call,
            role="c1",
        )
        self.channels[ch2] = Channel(
            ch2,
            uid2,
            uid1,
            "caller-sim",
            number,
            3,
            "Wait",
            "3600",
            number,
            cname,
            number,
            cname,
            now,
            call=call,
            role="c2",
        )
        return call

    def new_call(self, number: str, queue: str, script: CallScript, name: str | None = None) -> Call | None:
        """A caller arrives and enters ``queue`` (the default dialplan: inbound -> Queue())."""
        q = self.queues.get(queue)
        if q is None:
            return None
        call = self._caller_pair(number, name, script, 6, "Queue", f"{queue},t,,,300")
        if self.empty(q, q.conf.joinempty, joining=True):
            # Queue() returns JOINEMPTY without a queue entry; the plain dialplan then hangs up.
            call.state = "dialplan"
            self.emit(render_phase("channel_up", self._ctx(call, q)))
            self.hangup_idle(call, own_channel=True)
            return call
        self.join(call, queue, emit_arrival=True)
        return call

    def _ctx(self, call: Call, q: Queue, **extra: object) -> dict[str, object]:
        now = self.sched.now
        # HoldTime is the wait: until now while the caller waits, until the answer once connected
        # (app_queue's AgentComplete says callstart - holdstart; the captures agree).
        connected = call.connected_at if call.connected_at >= call.joined_at > 0 else now
        hold = int(connected) - int(call.joined_at)
        ctx: dict[str, object] = {
            "_ts": self._ts(),
            "c_ch1": call.ch1,
            "c_ch2": call.ch2,
            "c_uid1": call.uid1,
            "c_uid2": call.uid2,
            "c_base": call.ch1[:-2],
            "c_num": call.number,
            "c_name": call.name,
            "queue": q.name,
            "queue_appdata": call.queue_appdata or f"{q.name},t,,,300",
            "c_context": call.dp_context,
            "c_exten": call.dp_exten or call.number,
            "c_prio": call.dp_prio,
            "queuestatus": call.queuestatus,
            "position": self.position(call),
            "count": len(q.waiting),
            "origpos": call.origpos,
            "holdtime": hold,
            "holdtime_ms": int((now - call.joined_at) * 1000),
            "talktime": 0,
            "talktime_ms": 0,
            "dialedtime": int(now - call.created),
            "dialedtime_ms": int((now - call.created) * 1000),
            "ringtime": 0,
            "ringtime_ms": 0,
            "cause": 16,
            "cause_txt": CAUSE_TEXT[16],
            "bridge": call.bridge,
            "bridge1": call.bridge,
            "orig_actionid": call.script.orig_actionid or "",
            "cdr_start": _fmt_time(call.created),
            "cdr_answer": _fmt_time(call.created),
            "cdr_end": _fmt_time(now),
            "cdr_duration": int(now - call.created),
            "cdr_billsec": int(now - call.created),
        }
        ctx.update(self.qvars(q))
        if call.agent is not None:
            self._leg_ctx(ctx, "a", call.agent, q)
        ctx.update(call.ctx_extra)
        ctx.update(extra)
        return ctx

    def _leg_ctx(self, ctx: dict[str, object], role: str, leg: Leg, q: Queue) -> None:
        ctx[f"{role}_ch1"] = leg.ch1
        ctx[f"{role}_ch2"] = leg.ch2
        ctx[f"{role}_uid1"] = leg.uid1
        ctx[f"{role}_uid2"] = leg.uid2
        ctx[f"{role}_base"] = leg.ch1[:-2]
        ctx[f"{role}_iface"] = leg.iface
        ctx[f"{role}_dial"] = leg.iface.partition("/")[2]
        ctx[f"{role}_exten"] = leg.exten
        ctx[f"{role}_context"] = leg.context
        ctx[f"{role}_name"] = leg.name
        ctx[f"{role}_stateif"] = leg.stateif
        m = q.members.get(leg.iface)
        ctx[f"{role}_calls"] = m.calls if m else 0
        ctx[f"{role}_lastcall"] = m.lastcall if m else 0
        ctx[f"{role}_penalty"] = m.penalty if m else 0

    def position(self, call: Call) -> int:
        q = self.queues.get(call.queue)
        if q is None or call not in q.waiting:
            return call.origpos
        return q.waiting.index(call) + 1

    def join(self, call: Call, queue: str, emit_arrival: bool = False, phase: str | None = None) -> None:
        q = self.queues[queue]
        call.queue = queue
        call.entry += 1
        call.joined_at = self.sched.now
        if not call.first_joined_at:
            call.first_joined_at = self.sched.now
        # QUEUE_PRIO: a caller with a higher priority goes ahead of lower ones
        idx = len(q.waiting)
        for i, other in enumerate(q.waiting):
            if other.priority < call.priority:
                idx = i
                break
        q.waiting.insert(idx, call)
        call.origpos = idx + 1
        call.state = "waiting"
        call.truth = self._truth_start(call)
        appdata = (call.queue_appdata or f"{q.name},t,,,300").split(",")
        self.ql(
            call.uid1,
            q.name,
            "NONE",
            "ENTERQUEUE",
            appdata[2] if len(appdata) > 2 else "",
            call.number,
            call.origpos,
        )
        ctx = self._ctx(call, q)
        if emit_arrival:
            self.emit(render_phase("arrive", ctx, include_orig=call.script.orig_actionid is not None))
        elif phase is not None:
            self.emit(render_phase(phase, ctx))
        if call.script.patience is not None:
            call.timers.append(self.sched.after(call.script.patience, self.abandon, call))
        self.dispatch()

    # ---- distribution -----------------------------------------------------------------------
    def _free_for(
        self, m: Member, q: Queue, ringing: set[str] | None = None, heavy: set[str] | None = None
    ) -> bool:
        """May ``m`` be rung for a caller of ``q`` now? ``ringing`` (members already ringing for
        this queue) and ``heavy`` (members a heavier queue's callers wait for) are computed once
        per dispatch by the caller; None computes them here."""
        if m.paused:
            return False
        dev = self.devices.get(m.iface)
        if dev is None:
            return False
        if dev.status != 1 and not m.ringinuse:
            return False
        if dev.in_call is not None and not m.ringinuse:
            return False
        if ringing is None:
            ringing = self._ringing(q)
        if m.iface in ringing:
            return False  # already ringing for a caller of this queue
        wrap = q.conf.wrapuptime
        if wrap:
            last = (
                max(dev.last_end.values())
                if self.conf.shared_lastcall and dev.last_end
                else dev.last_end.get(q.name, 0.0)
            )
            if self.sched.now < last + wrap:
                return False
        if heavy is None:
            heavy = self._heavy(q)
        return m.iface not in heavy  # compare_weight: a heavier queue's caller waits for this member

    def free_for(self, m: Member, q: Queue) -> bool:
        """Whether QueueSummary counts ``m`` as available in ``q``."""
        return self._free_for(m, q)

    def _ringing(self, q: Queue) -> set[str]:
        return {leg.iface for c in q.waiting for leg in c.legs}

    def _heavy(self, q: Queue) -> set[str]:
        out: set[str] = set()
        for q2 in self.queues.values():
            if q2 is not q and q2.conf.weight > q.conf.weight and q2.waiting:
                out.update(q2.members)
        return out

    def empty(self, q: Queue, spec: str, joining: bool) -> bool:
        """app_queue's joinempty/leavewhenempty test. ``yes`` for joinempty and ``no`` for
        leavewhenempty never block; ``no``/``yes`` (the other way round) mean "no members at all";
        a list (paused, inuse, ringing, wrapup, unavailable, invalid...) also counts members in
        those states as absent."""
        spec = spec.strip().lower()
        if spec in ("", "yes" if joining else "no", "no" if not joining else "_"):
            return False
        states = set() if spec in ("yes", "no", "strict", "loose") else {x.strip() for x in spec.split(",")}
        for m in q.members.values():
            dev = self.devices.get(m.iface)
            if "paused" in states and m.paused:
                continue
            if dev is not None and "inuse" in states and dev.in_call is not None:
                continue
            if dev is not None and "ringing" in states and dev.legs and dev.in_call is None:
                continue
            if dev is not None and "wrapup" in states and q.conf.wrapuptime:
                last = max(dev.last_end.values()) if dev.last_end else 0.0
                if self.sched.now < last + q.conf.wrapuptime:
                    continue
            return False
        return True

    def _leave_empty_queues(self) -> None:
        for q in self.queues.values():
            if q.waiting and self.empty(q, q.conf.leavewhenempty, joining=False):
                for call in list(q.waiting):
                    self.queue_leave(call, "LEAVEEMPTY")
                    if call.state == "dialplan" and not call.interpreted:
                        self.hangup_idle(call, own_channel=True)  # the built-in dialplan ends

    def dispatch(self) -> None:
        """Offer waiting callers to free members, heavier queues first."""
        self._leave_empty_queues()
        for q in sorted(self.queues.values(), key=lambda x: -x.conf.weight):
            if not q.waiting:
                continue
            ringing, heavy = self._ringing(q), self._heavy(q)
            avail = sum(1 for m in q.members.values() if self._free_for(m, q, ringing, heavy))
            if not avail:
                continue
            for i, call in enumerate(list(q.waiting)):
                if i >= avail:
                    break
                if call.state != "waiting" or call.retry_until > self.sched.now:
                    continue
                cands = [m for m in q.members.values() if self._free_for(m, q, ringing, heavy)]
                if not cands:
                    break
                low = min(m.penalty for m in cands)
                chosen = self._choose(q, [m for m in cands if m.penalty == low])
                self._ring(call, q, chosen)
                ringing.update(m.iface for m in chosen)

    def _choose(self, q: Queue, cands: list[Member]) -> list[Member]:
        s = q.conf.strategy
        if s == "ringall":
            return cands
        if s in ("rrmemory", "rrordered", "linear"):
            order = list(q.members)
            start = q.rr_next % len(order) if s != "linear" else 0
            best = min(cands, key=lambda m: (order.index(m.iface) - start) % len(order))
            return [best]
        if s == "leastrecent":
            return [min(cands, key=lambda m: m.lastcall)]
        if s == "fewestcalls":
            return [min(cands, key=lambda m: m.calls)]
        return [self.rng.choice(cands)]

    def _ring(self, call: Call, q: Queue, members: list[Member]) -> None:
        call.state = "ringing"
        call.ring_started = self.sched.now
        if q.conf.strategy in ("rrmemory", "rrordered"):
            order = list(q.members)
            call.truth.setdefault("_rung", [])
            q.rr_next = order.index(members[0].iface) + 1  # taken modulo the member count when used
        out: list[Out] = []
        for m in members:
            dev = self.devices[m.iface]
            leg = self._agent_leg(call, m.iface, m.name, m.stateif, dev, "AppQueue")
            call.legs.append(leg)
            ctx = self._ctx(call, q)
            self._leg_ctx(ctx, "a", leg, q)
            out.extend(render_phase("ring", ctx, {"a": self.qms(m.iface)}))
            call.truth.setdefault("rung", []).append(m.iface)
            b = dev.behaviour
            if b.answer_after is not None:
                delay = b.answer_after + (self.rng.uniform(0, b.answer_jitter) if b.answer_jitter else 0.0)
                if delay < q.conf.timeout:
                    leg.answer_timer = self.sched.after(delay, self.answer, call, leg)
        self.emit(out)
        call.timers.append(self.sched.after(q.conf.timeout, self._ring_timeout, call))

    def _agent_leg(self, call: Call, iface: str, name: str, stateif: str, dev: Device, app: str) -> Leg:
        """A Local channel pair ringing member ``iface`` for ``call``: ``;1`` runs ``app`` (AppQueue
        for app_queue, AppDial for Dial()), ``;2`` is the agent's phone."""
        exten, _, context = iface.partition("/")[2].partition("@")
        ch1, ch2, uid1, uid2 = self.new_local(exten, context or "agents")
        leg = Leg(ch1, ch2, uid1, uid2, iface, exten, context, name, stateif, dev, self.sched.now)
        dev.legs.add(ch1)
        self.channels[ch1] = Channel(
            ch1,
            uid1,
            call.uid1,
            context,
            call.number,
            1,
            app,
            "(Outgoing Line)",
            call.number,
            call.name,
            call.number,
            call.name,
            self.sched.now,
            state=5,
            call=call,
            role="a1",
            leg=leg,
        )
        self.channels[ch2] = Channel(
            ch2,
            uid2,
            call.uid1,
            context,
            exten,
            3,
            "Wait",
            "2",
            call.number,
            call.name,
            call.number,
            call.name,
            self.sched.now,
            state=4,
            call=call,
            role="a2",
            leg=leg,
        )
        return leg

    def _drop_leg(self, leg: Leg) -> None:
        if leg.answer_timer is not None:
            leg.answer_timer.cancel()
        if leg.device is not None:
            leg.device.legs.discard(leg.ch1)
        self.channels.pop(leg.ch1, None)
        self.channels.pop(leg.ch2, None)

    def _ring_timeout(self, call: Call) -> None:
        if call.state != "ringing":
            return
        q = self.queues[call.queue]
        out: list[Out] = []
        for leg in call.legs:
            self._drop_leg(leg)
            ms = int((self.sched.now - leg.rung_at) * 1000)
            ctx = self._ctx(call, q, ringtime_ms=ms)
            self._leg_ctx(ctx, "a", leg, q)
            out.extend(render_phase("ring_no_answer", ctx, {"a": self.qms(leg.iface)}))
            self.ql(call.uid1, q.name, leg.name, "RINGNOANSWER", ms)
        call.legs.clear()
        call.state = "waiting"
        if call.no_retry:
            one_each = q.conf.strategy in ("rrmemory", "rrordered", "linear")
            call.tries += 1 if one_each else len(q.members)
            if call.tries >= len(q.members):
                self.emit(out)
                self.queue_leave(call, "TIMEOUT")
                return
        call.retry_until = self.sched.now + q.conf.retry
        self.emit(out)
        call.timers.append(self.sched.at(call.retry_until, self.dispatch))
        self.dispatch()

    def answer(self, call: Call, leg: Leg) -> None:
        """The member's phone answers: bridge the caller with it."""
        if call.state != "ringing" or leg not in call.legs:
            return
        q = self.queues[call.queue]
        for t in call.timers:
            t.cancel()
        call.timers.clear()
        out: list[Out] = []
        for other in call.legs:
            if other is leg:
                continue
            self._drop_leg(other)
            ctx = self._ctx(call, q)
            self._leg_ctx(ctx, "a", other, q)
            out.extend(render_phase("ring_cancel", ctx, {"a": self.qms(other.iface)}))
        call.legs = [leg]
        if leg.answer_timer is not None:
            leg.answer_timer.cancel()
        call.agent = leg
        call.bridge = self.new_bridge()
        call.connected_at = self.sched.now
        q.waiting.remove(call)
        call.state = "bridged"
        assert leg.device is not None
        leg.device.in_call = call
        hold = self.sched.now - call.joined_at
        q.holdtime = (q.holdtime * 3 + hold) / 4
        if hold <= q.conf.servicelevel:
            q.sl_ok += 1
        for ch in (call.ch1, leg.ch1):
            if ch in self.channels:
                self.channels[ch].bridge = call.bridge
        a1 = self.channels.get(leg.ch1)
        if a1:
            a1.state = 6
        a2 = self.channels.get(leg.ch2)
        if a2:
            a2.state, a2.priority, a2.appdata = 6, 5, "3600"
        ctx = self._ctx(call, q, ringtime=int(self.sched.now) - int(leg.rung_at))
        out.extend(render_phase("answer", ctx, {"a": self.qms(leg.iface)}))
        self.emit(out)
        ring = int(self.sched.now) - int(leg.rung_at)
        self.ql(call.uid1, q.name, leg.name, "CONNECT", self._waited(call), leg.uid1, ring)
        call.truth["agent"] = leg.name
        call.truth["interface"] = leg.iface
        call.truth["wait_seconds"] = round(self.sched.now - call.joined_at, 3)
        e = call.script.ending
        call.timers.append(self.sched.after(call.script.talk, self.end_call, call, e.kind, e.cause))

    # ---- endings ----------------------------------------------------------------------------
    def abandon(self, call: Call, cause: int = 16) -> None:
        """The caller hangs up while waiting (or while members ring)."""
        if call.state not in ("waiting", "ringing"):
            return
        q = self.queues[call.queue]
        call.cancel_timers()
        ctx = self._ctx(call, q)
        out: list[Out] = []
        if call.legs:
            first = call.legs[0]
            self._drop_leg(first)
            self._leg_ctx(ctx, "a", first, q)
            out.extend(render_phase("abandon_ring", ctx, {"a": self.qms(first.iface)}))
            for other in call.legs[1:]:
                self._drop_leg(other)
                c2 = self._ctx(call, q)
                self._leg_ctx(c2, "a", other, q)
                out.extend(render_phase("ring_cancel", c2, {"a": self.qms(other.iface)}))
            for leg in call.legs:
                self.ql(
                    call.uid1, q.name, leg.name, "RINGCANCELED", int((self.sched.now - leg.rung_at) * 1000)
                )
        else:
            out.extend(render_phase("abandon_wait", ctx))
        call.legs.clear()
        self._ql_left(call, "ABANDON")
        q.waiting.remove(call)
        q.abandoned += 1
        self.emit(out)
        self._finish(call, "abandoned", "caller", cause, wait=self.sched.now - call.joined_at)
        self.dispatch()

    def end_call(self, call: Call, kind: str, cause: int = 16) -> None:
        """End a bridged call. ``kind`` names which side and how (see :class:`Ending`)."""
        if call.state != "bridged" or call.agent is None:
            return
        if kind == "atxfer":
            self.atxfer(call, call.script.ending.transfer_exten, consult=call.script.ending.consult)
            return
        q = self.queues[call.queue]
        call.cancel_timers()
        leg = call.agent
        talk = self.sched.now - call.connected_at
        ctx = self._ctx(
            call,
            q,
            talktime=int(self.sched.now) - int(call.connected_at),
            talktime_ms=int(talk * 1000),
            cause=cause,
            cause_txt=CAUSE_TEXT.get(cause, "Unknown"),
        )
        phase = {
            "caller": "end_caller",
            "agent": "end_agent_phone",
            "agent_cut": "end_agent_phone",
            "agent_ami": "end_agent_ami",
            "caller_cut": "end_caller_phone",
            "caller_chan_cut": "end_caller_chan",
            "transfer": "blind_transfer",
            "restart": "restart_bridged",
        }[kind]
        if kind == "caller" and cause != 16:
            phase = "end_caller_phone"
        # The member is freed inside the phase; the model state changes before QMS is rendered.
        self._free_agent(call, q, leg)
        hold = int(call.connected_at) - int(call.joined_at)
        talked = int(self.sched.now) - int(call.connected_at)
        if kind == "transfer":
            self.ql(
                call.uid1, q.name, leg.name, "BLINDTRANSFER",
                call.script.ending.transfer_exten, "xfer", hold, talked, call.origpos,
            )  # fmt: skip
        else:
            # app_queue says COMPLETEAGENT when it sees the agent's channel hang up first: the
            # agent's phone, or a shutdown; an AMI hang-up of the agent's leg reaches it as the
            # caller's (the captures).
            verb = "COMPLETEAGENT" if kind in ("agent", "agent_cut", "restart") else "COMPLETECALLER"
            self.ql(call.uid1, q.name, leg.name, verb, hold, talked, call.origpos)
        if kind == "transfer":
            t_ext = call.script.ending.transfer_exten
            ch1, ch2, uid1, uid2 = self.new_local(t_ext, "agents")
            tleg = Leg(
                ch1,
                ch2,
                uid1,
                uid2,
                f"Local/{t_ext}@agents",
                t_ext,
                "agents",
                t_ext,
                f"Local/{t_ext}@agents",
                None,
            )
            self._leg_ctx(ctx, "b", tleg, q)
            ctx["bridge1"] = self.new_bridge()
            out = render_phase(phase, ctx, {"a": self.qms(leg.iface)})
            self.emit(out)
            call.state = "transferred"
            self.channels[ch1] = Channel(
                ch1,
                uid1,
                call.uid1,
                "agents",
                call.number,
                1,
                "AppDial",
                "(Outgoing Line)",
                call.number,
                call.name,
                call.number,
                call.name,
                self.sched.now,
                call=call,
                role="b1",
            )
            self.channels[ch2] = Channel(
                ch2,
                uid2,
                call.uid1,
                "agents",
                t_ext,
                5,
                "Wait",
                "3600",
                call.number,
                call.name,
                call.number,
                call.name,
                self.sched.now,
                call=call,
                role="b2",
            )
            self._finish(call, "answered", "transfer", 16, talk=talk, keep_channels=True)
            call.timers.append(
                self.sched.after(call.script.ending.after_transfer, self._transfer_end, call, ctx, ch1, ch2)
            )
        else:
            self.emit(render_phase(phase, ctx, {"a": self.qms(leg.iface)}))
            ended_by = {
                "caller": "caller",
                "caller_cut": "caller",
                "caller_chan_cut": "caller",
                "restart": "system",
            }.get(kind, "agent")
            self._finish(
                call,
                "answered",
                ended_by,
                None if kind == "restart" else cause,
                talk=talk,
                restart=kind == "restart",
            )
        self.dispatch()

    # ---- attended transfer (Atxfer from the agent's channel; transfer.ami.log 8c) ------------
    def atxfer(self, call: Call, exten: str, context: str = "xfer", consult: float | None = None) -> bool:
        """The agent starts a consultation call to ``exten``; the caller hears hold music. The
        transfer completes when the agent's phone hangs up (after ``consult`` s when given)."""
        if call.state != "bridged" or call.agent is None:
            return False
        q = self.queues[call.queue]
        call.cancel_timers()
        extra: dict[str, object] = {"bridge1": self.new_bridge(), "bridge2": self.new_bridge()}
        legs = []
        for role, ctxname in (("b", context), ("d", "agents")):
            ch1, ch2, uid1, uid2 = self.new_local(exten, ctxname)
            iface = f"Local/{exten}@{ctxname}"
            leg = Leg(ch1, ch2, uid1, uid2, iface, exten, ctxname, exten, iface, None, self.sched.now)
            self._leg_ctx(extra, role, leg, q)
            legs.append(leg)
            for ch, uid, r in ((ch1, uid1, role + "1"), (ch2, uid2, role + "2")):
                self.channels[ch] = Channel(
                    ch,
                    uid,
                    call.uid1,
                    ctxname,
                    exten,
                    1,
                    "Dial" if r == "b2" else "AppDial",
                    "",
                    call.number,
                    call.name,
                    call.number,
                    call.name,
                    self.sched.now,
                    call=call,
                    role=r,
                )
        call.ctx_extra.update(extra)
        call.xfer_legs = legs
        call.state = "consulting"
        self.emit(render_phase("atxfer_start", self._ctx(call, q)))
        if consult is not None:
            call.timers.append(self.sched.after(consult, self.atxfer_complete, call))
        return True

    def atxfer_complete(self, call: Call) -> None:
        """The agent hangs up during the consultation: the caller is bridged to the target."""
        if call.state != "consulting" or call.agent is None:
            return
        q = self.queues[call.queue]
        call.cancel_timers()
        leg = call.agent
        talk = self.sched.now - call.connected_at
        self._free_agent(call, q, leg)
        ctx = self._ctx(call, q, talktime=int(self.sched.now) - int(call.connected_at))
        self.emit(render_phase("atxfer_complete", ctx, {"a": self.qms(leg.iface)}))
        bridge = call.ctx_extra.get("bridge2", call.bridge)
        self.ql(
            call.uid1, q.name, leg.name, "ATTENDEDTRANSFER", "BRIDGE", bridge,
            int(call.connected_at) - int(call.joined_at), int(self.sched.now) - int(call.connected_at),
            call.origpos,
        )  # fmt: skip
        call.state = "transferred"
        self._finish(call, "answered", "transfer", 16, talk=talk, keep_channels=True)
        call.timers.append(self.sched.after(call.script.ending.after_transfer, self._atxfer_end, call))
        self.dispatch()

    def _atxfer_end(self, call: Call) -> None:
        q = self.queues[call.queue]
        ctx = self._ctx(call, q)
        self.emit(render_phase("atxfer_end", ctx))
        for leg in call.xfer_legs:
            self.channels.pop(leg.ch1, None)
            self.channels.pop(leg.ch2, None)
        self.channels.pop(call.ch1, None)
        self.channels.pop(call.ch2, None)
        self.calls.pop(call.ch1, None)
        call.state = "done"
        if self.on_call_done is not None:
            self.on_call_done(call)

    def _transfer_end(self, call: Call, ctx: dict[str, object], ch1: str, ch2: str) -> None:
        ctx = dict(ctx)
        ctx["_ts"] = self._ts()
        ctx["cdr_end"] = _fmt_time(self.sched.now)
        self.emit(render_phase("transfer_end", ctx))
        for ch in (ch1, ch2, call.ch1, call.ch2):
            self.channels.pop(ch, None)
        self.calls.pop(call.ch1, None)
        call.state = "done"
        if self.on_call_done is not None:
            self.on_call_done(call)

    def _free_agent(self, call: Call, q: Queue, leg: Leg) -> None:
        dev = leg.device
        if dev is not None:
            dev.in_call = None
            dev.legs.discard(leg.ch1)
            dev.last_end[q.name] = self.sched.now
        m = q.members.get(leg.iface)
        if m is not None:
            m.calls += 1
            m.lastcall = int(self.sched.now)
        q.completed += 1
        q.talktime = (q.talktime * 3 + (self.sched.now - call.connected_at)) / 4
        self.channels.pop(leg.ch1, None)
        self.channels.pop(leg.ch2, None)
        if q.conf.wrapuptime:
            self.sched.after(q.conf.wrapuptime + 0.001, self.dispatch)

    def _truth_start(self, call: Call) -> dict[str, Any]:
        return {
            "id": call.entry_id,
            "queue": call.queue,
            "caller": call.number,
            "agent": None,
            "interface": None,
            "outcome": None,
            "ended_by": None,
            "cut_off": False,
            "cause": None,
            "wait_seconds": 0.0,
            "talk_seconds": 0.0,
            "callback_of": None,
            "repeat_of": None,
            "joined_at": round(self.sched.now, 3),
        }

    def _finish(
        self,
        call: Call,
        outcome: str,
        ended_by: str | None,
        cause: int | None,
        wait: float | None = None,
        talk: float = 0.0,
        keep_channels: bool = False,
        restart: bool = False,
    ) -> None:
        t = call.truth
        t["outcome"] = outcome
        t["ended_by"] = ended_by
        t["cause"] = cause
        if wait is not None:
            t["wait_seconds"] = round(wait, 3)
        t["talk_seconds"] = round(talk, 3)
        t["cut_off"] = outcome == "answered" and (
            restart or (cause is not None and cause not in NORMAL_CAUSES)
        )
        t["ended_at"] = round(self.sched.now, 3)
        t.pop("rung", None)
        t.pop("_rung", None)
        if self.truth_sink is not None:
            self.truth_sink(t)
        if call.on_leave is not None and not keep_channels:
            waiter, call.on_leave = call.on_leave, None
            waiter("ANSWERED" if outcome == "answered" else "HANGUP")
        if not keep_channels:
            self.channels.pop(call.ch1, None)
            self.channels.pop(call.ch2, None)
            self.calls.pop(call.ch1, None)
            call.state = "done"
            if self.on_call_done is not None:
                self.on_call_done(call)

    def withdraw(self, queue: str, channel: str, info: str = "") -> bool:
        """QueueWithdrawCaller: the caller leaves the queue (QUEUESTATUS=WITHDRAW), then hangs up."""
        call = self.calls.get(channel)
        if call is None or call.queue != queue or call.state not in ("waiting", "ringing"):
            return False
        call.withdraw_info = info[:40]  # app_queue logs at most 40 characters of it
        if call.on_leave is not None:
            self.queue_leave(call, "WITHDRAW")
        else:
            self._exit(call, "exited", "system", "WITHDRAW")
        return True

    def redirect_waiting(self, call: Call) -> None:
        self._exit(call, "exited", "system", "ABANDON")  # Asterisk logs a Redirect out as ABANDON

    def _exit(self, call: Call, outcome: str, ended_by: str | None, verb: str) -> None:
        q = self.queues[call.queue]
        self._ql_left(call, verb, *((call.withdraw_info,) if verb == "WITHDRAW" else ()))
        call.cancel_timers()
        ctx = self._ctx(call, q)
        out: list[Out] = []
        if call.legs:
            for leg in call.legs:
                self._drop_leg(leg)
                c2 = self._ctx(call, q)
                self._leg_ctx(c2, "a", leg, q)
                out.extend(render_phase("ring_cancel", c2, {"a": self.qms(leg.iface)}))
            call.legs.clear()
        out.extend(render_phase("abandon_wait", ctx))
        q.waiting.remove(call)
        self.emit(out)
        self._finish(call, outcome, ended_by, 16, wait=self.sched.now - call.joined_at)
        self.dispatch()

    def hangup_channel(self, name: str, cause: int | None) -> bool:
        """AMI Hangup on one of our channels: map it to the scenario the captures show."""
        ch = self.channels.get(name)
        if ch is None or ch.call is None:
            return False
        call = ch.call
        c = 16 if cause is None else cause
        if call.state == "dialplan" and ch.role in ("c1", "c2"):
            if ch.role == "c1":
                self.hangup_idle(call, own_channel=True, cause=0 if cause is None else cause)
            else:
                self.hangup_idle(call)
            return True
        if call.state == "dialed":
            self.dial_end(call)
            return True
        if call.state == "consulting" and ch.role == "a2":
            self.atxfer_complete(call)
            return True
        if call.state == "transferred" and ch.role in ("c1", "c2") and call.xfer_legs:
            call.cancel_timers()
            self._atxfer_end(call)
            return True
        if call.state == "dialing" and call.legs:
            leg = call.legs[0]
            members = self.memberships(leg.iface)
            q = self.queues.get(members[0].queue) if members else next(iter(self.queues.values()))
            assert q is not None
            self._dial_noanswer(call, leg, q)
            if ch.role in ("c1", "c2"):
                self.hangup_idle(call)
            return True
        if call.state in ("waiting", "ringing"):
            if ch.role in ("c1", "c2"):
                self.abandon(call, c)
                return True
            if ch.leg is not None and ch.leg in call.legs:
                # a rung leg refused: that member gives no answer now
                leg = ch.leg
                self._drop_leg(leg)
                q = self.queues[call.queue]
                ctx = self._ctx(call, q, ringtime_ms=int((self.sched.now - leg.rung_at) * 1000))
                self._leg_ctx(ctx, "a", leg, q)
                self.emit(render_phase("ring_no_answer", ctx, {"a": self.qms(leg.iface)}))
                call.legs.remove(leg)
                if not call.legs:
                    call.cancel_timers()
                    call.state = "waiting"
                    call.retry_until = self.sched.now + q.conf.retry
                    call.timers.append(self.sched.at(call.retry_until, self.dispatch))
                    if call.script.patience is not None:
                        remaining = call.joined_at + call.script.patience - self.sched.now
                        call.timers.append(self.sched.after(remaining, self.abandon, call))
                return True
            return False
        if call.state == "bridged":
            kind = {
                "c2": "caller" if c == 16 else "caller_cut",
                "c1": "caller_chan_cut" if c != 16 else "caller",
                "a2": "agent" if c == 16 else "agent_cut",
                "a1": "agent_ami",
            }.get(ch.role)
            if kind is None:
                return False
            self.end_call(call, kind, c)
            return True
        return False

    def restart_hangup_all(self) -> None:
        """Asterisk is restarting: every call is torn down (SoftHangupRequest Cause 4)."""
        for call in list(self.calls.values()):
            if call.state == "consulting":  # an attended transfer under way dies with Asterisk too
                call.cancel_timers()
                call.state = "bridged"
            if call.state == "bridged":
                self.end_call(call, "restart")
            elif call.state in ("waiting", "ringing"):
                # A shutdown flags every channel first (SoftHangupRequest Cause 4, as in the restart
                # capture); the queue then reports an abandon like any hang-up while waiting.
                self.emit(
                    [self._shutdown_flag(name) for name in (call.ch1, call.ch2) if name in self.channels]
                )
                self._exit(call, "exited", "system", "ABANDON")  # queue_log: ABANDON, shutdown or not
            elif call.state == "transferred":
                call.cancel_timers()
                self.calls.pop(call.ch1, None)
        self.channels.clear()
        for dev in self.devices.values():
            dev.legs.clear()
            dev.in_call = None

    def _shutdown_flag(self, name: str) -> Out:
        pairs = [*self.channels[name].snapshot(), ("Cause", 4)]  # AST_SOFTHANGUP_SHUTDOWN
        return event("SoftHangupRequest", "call", pairs, self._ts())

    # ---- the dialplan's side (acd.sim.interp drives these) --------------------------------
    def new_channel(self, number: str, script: CallScript, name: str | None = None) -> Call:
        """A caller's Local pair comes up and starts running dialplan (no queue yet)."""
        call = self._caller_pair(number, name, script, 1, "", "")
        call.state = "dialplan"
        q = next(iter(self.queues.values()))
        ctx = self._ctx(call, q)
        self.emit(render_phase("channel_up", ctx, include_orig=script.orig_actionid is not None))
        return call

    def enter_queue(self, call: Call, queue: str, timeout: float | None) -> str | None:
        """Queue() from the dialplan. Returns a QUEUESTATUS at once (JOINEMPTY), or None: the
        result then comes through ``call.on_leave``."""
        q = self.queues[queue]
        if self.empty(q, q.conf.joinempty, joining=True):
            return "JOINEMPTY"
        ch = self.channels.get(call.ch1)
        if ch is not None:
            ch.app, ch.appdata, ch.context, ch.priority = (
                "Queue",
                call.queue_appdata,
                call.dp_context,
                call.dp_prio,
            )
        self.join(call, queue, phase="queue_join")
        if timeout:
            call.timers.append(self.sched.after(timeout, self.queue_leave, call, "TIMEOUT"))
        return None

    def queue_leave(self, call: Call, status: str) -> None:
        """The caller leaves the queue alive (timeout, withdraw, redirect): the dialplan goes on."""
        if call.state not in ("waiting", "ringing"):
            return
        q = self.queues[call.queue]
        call.cancel_timers()
        out: list[Out] = []
        for leg in call.legs:
            self._drop_leg(leg)
            c2 = self._ctx(call, q)
            self._leg_ctx(c2, "a", leg, q)
            out.extend(render_phase("ring_cancel", c2, {"a": self.qms(leg.iface)}))
        call.legs.clear()
        call.queuestatus = status
        out.extend(render_phase("queue_leave", self._ctx(call, q)))
        verb = {"TIMEOUT": "EXITWITHTIMEOUT", "WITHDRAW": "WITHDRAW", "REDIRECT": "ABANDON"}.get(status)
        if status == "LEAVEEMPTY":
            verb = "EXITEMPTY"
        if verb is not None:
            self._ql_left(call, verb, *((call.withdraw_info,) if verb == "WITHDRAW" else ()))
        q.waiting.remove(call)
        call.state = "dialplan"
        self.emit(out)
        self._finish(call, "exited", "system", None, wait=self.sched.now - call.joined_at, keep_channels=True)
        if call.on_leave is not None:
            waiter, call.on_leave = call.on_leave, None
            waiter(status)
        self.dispatch()

    def hangup_idle(self, call: Call, own_channel: bool = False, cause: int = 16) -> None:
        """The caller's channel ends outside any queue: its phone hangs up (the ;2 half first),
        or, ``own_channel``, the ;1 channel itself ends (end of dialplan, Hangup(), an AMI
        Hangup of ;1) and takes the ;2 half with it."""
        if call.state in ("done", "bridged", "waiting", "ringing"):
            return
        call.cancel_timers()
        q = self.queues.get(call.queue) or next(iter(self.queues.values()))
        phase = "hangup_dialplan" if own_channel else "hangup_idle"
        self.emit(
            render_phase(phase, self._ctx(call, q, cause=cause, cause_txt=CAUSE_TEXT.get(cause, "Unknown")))
        )
        self.channels.pop(call.ch1, None)
        self.channels.pop(call.ch2, None)
        self.calls.pop(call.ch1, None)
        call.state = "done"
        if call.on_leave is not None:
            waiter, call.on_leave = call.on_leave, None
            waiter("HANGUP")
        if self.on_call_done is not None:
            self.on_call_done(call)

    # ---- Dial() from the dialplan (a member's phone rung directly, outside app_queue) --------
    def dial_start(self, call: Call, iface: str, timeout: float | None) -> str | None:
        """Ring ``iface`` for ``call``. Returns DIALSTATUS at once (BUSY) or None: the result
        then comes through ``call.on_leave`` (NOANSWER, or HANGUP once the call is over)."""
        dev = self.device(iface)
        if dev.in_call is not None or dev.legs:
            return "BUSY"
        exten = iface.partition("/")[2].partition("@")[0]
        members = self.memberships(iface)
        name = members[0].name if members else exten
        leg = self._agent_leg(call, iface, name, dev.stateif, dev, "AppDial")
        call.legs = [leg]
        call.state = "dialing"
        q = self.queues.get(members[0].queue) if members else next(iter(self.queues.values()))
        assert q is not None
        ctx = self._ctx(call, q)
        self._leg_ctx(ctx, "a", leg, q)
        self.emit(render_phase("dial_ring", ctx, {"a": self.qms(iface)}))
        b = dev.behaviour
        limit = timeout if timeout else 10.0**9
        if b.answer_after is not None and b.answer_after < limit:
            leg.answer_timer = self.sched.after(b.answer_after, self._dial_answer, call, leg, q)
        call.timers.append(self.sched.after(limit, self._dial_noanswer, call, leg, q))
        return None

    def _dial_answer(self, call: Call, leg: Leg, q: Queue) -> None:
        if call.state != "dialing":
            return
        call.cancel_timers()
        call.state = "dialed"
        call.agent = leg
        call.bridge = self.new_bridge()
        call.connected_at = self.sched.now
        if leg.device is not None:
            leg.device.in_call = call
        ctx = self._ctx(call, q)
        self.emit(render_phase("dial_answer", ctx, {"a": self.qms(leg.iface)}))
        call.timers.append(self.sched.after(call.script.talk, self.dial_end, call))

    def _dial_noanswer(self, call: Call, leg: Leg, q: Queue) -> None:
        if call.state != "dialing":
            return
        call.cancel_timers()
        self._drop_leg(leg)
        call.legs.clear()
        ctx = self._ctx(call, q, ringtime_ms=int((self.sched.now - leg.rung_at) * 1000))
        self._leg_ctx(ctx, "a", leg, q)
        self.emit(render_phase("dial_noanswer", ctx, {"a": self.qms(leg.iface)}))
        call.state = "dialplan"
        if call.on_leave is not None:
            waiter, call.on_leave = call.on_leave, None
            waiter("NOANSWER")

    def dial_end(self, call: Call) -> None:
        """The directly dialled call ends (the captured shape: the caller hangs up)."""
        if call.state != "dialed" or call.agent is None:
            return
        call.cancel_timers()
        leg = call.agent
        members = self.memberships(leg.iface)
        q = self.queues.get(members[0].queue) if members else next(iter(self.queues.values()))
        assert q is not None
        if leg.device is not None:
            leg.device.in_call = None
            leg.device.legs.discard(leg.ch1)
        ctx = self._ctx(
            call,
            q,
            talktime=int(self.sched.now) - int(call.connected_at),
            talktime_ms=int((self.sched.now - call.connected_at) * 1000),
        )
        self.emit(render_phase("dial_end_caller", ctx, {"a": self.qms(leg.iface)}))
        for ch in (leg.ch1, leg.ch2, call.ch1, call.ch2):
            self.channels.pop(ch, None)
        self.calls.pop(call.ch1, None)
        call.state = "done"
        if call.on_leave is not None:
            waiter, call.on_leave = call.on_leave, None
            waiter("HANGUP")
        if self.on_call_done is not None:
            self.on_call_done(call)
        self.dispatch()

    def reset_counters(self) -> None:
        self.uid_counter = 0
        self.local_counter = 0
        self.boot_epoch = int(self.sched.now)
        for q in self.queues.values():
            q.completed = q.abandoned = q.sl_ok = 0
            q.holdtime = q.talktime = 0.0


def _fmt_time(t: float) -> str:
    return _time.strftime("%Y-%m-%d %H:%M:%S", _time.gmtime(t))
