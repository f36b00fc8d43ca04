"""The simulated PBX's state: queues, members, devices, channels and calls, kept in step in one place.

Sans-I/O: it owns no socket and reads no clock. Time comes from :class:`Scheduler` (a heap of
timers in simulated seconds); output goes to ``emit`` as already-encoded AMI events. The asyncio
edge (``simulator.py``) advances the scheduler at the configured speed and feeds AMI actions in.

This registry owns the indexes and the invariants that tie them: a caller's Local pair and a
member's ringing leg come with their channels, a dropped leg leaves its device, a call that ends
takes its channels with it and reports to ``on_call_done``. What happens to a call lives in the
modules that work on it: ``app_queue`` (who rings when), ``endings``, ``transfers``,
``dialplan_calls`` (the caller outside any queue), ``hangups`` (an outside hang-up or a restart),
``members`` (QueueAdd and friends); ``state_events`` turns this state into the fields the captured
phases are filled with.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

from acd.sim.clock import Scheduler
from acd.sim.config import QueuesConf
from acd.sim.emit import Out, ts_header
from acd.sim.entities import AgentBehaviour, Call, CallScript, Channel, Device, Leg, Member, Queue
from acd.sim.queue_log import QueueLogFile
from acd.sim.truth import close_record

TruthSink = Callable[[dict[str, Any]], None]
Place = tuple[str, int, str, str]  # where a channel stands: exten, priority, application, its data


class Pbx:
    """Queues, members, devices, channels and calls of one simulated Asterisk."""

    def __init__(
        self,
        queues: QueuesConf,
        sched: Scheduler,
        emit: Callable[[list[Out]], None],
        rng: random.Random,
        timestamps: bool = False,
        truth: TruthSink | None = None,
        systemname: str = "",
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
        self.uid_prefix = f"{systemname}-" if systemname else ""
        self.local_counter = 0
        self.boot_epoch = int(sched.now)
        self.on_call_done: Callable[[Call], None] | None = None
        self.trunk_watch: dict[str, Callable[[Call], None]] = {}  # ;1 of a trunk call -> its sender
        # app_queue looks again for callers to ring after anything that may free a member or seat
        # a caller; acd.sim.app_queue.attach() sets it, so the pieces below app_queue only signal.
        self.dispatch: Callable[[], None] = _nothing
        self.db: dict[str, str] = {}
        self.queue_log: list[tuple[int, str, str, str, str, str]] = []  # QueueLog action lines
        self.qlog: QueueLogFile | None = None  # Asterisk's queue_log file, when the sim writes one
        self.globals: dict[str, str] = {}
        self.curl_options: dict[str, str] = {}  # global CURLOPT() values (under each channel's)
        for q in self.queues.values():
            for iface, name, penalty, stateif in q.conf.members:
                if iface not in q.members:  # a member listed twice is there once, as the first says
                    self.enrol(q.name, iface, name or iface, penalty=penalty, stateif=stateif, dynamic=False)

    # ---- identities and the queue_log -------------------------------------------------------
    def ts(self) -> str:
        """The Timestamp header of an event now (empty unless timestampevents)."""
        return ts_header(self.sched.now) if self.timestamps else ""

    def ql(self, callid: str, queue: str, agent: str, verb: str, *data: object) -> None:
        """One queue_log line where app_queue writes it (only when the simulator keeps the file)."""
        if self.qlog is not None:
            self.qlog.write(self.sched.now, callid, queue, agent, verb, *data)

    def waited(self, call: Call) -> int:
        return int(self.sched.now) - int(call.joined_at)

    def ql_left(self, call: Call, verb: str, *extra: object) -> None:
        """ABANDON/EXIT*/WITHDRAW: ``position|original position|waittime``."""
        self.ql(
            call.uid1, call.queue, "NONE", verb, self.position(call), call.origpos, self.waited(call), *extra
        )

    def new_uid(self) -> str:
        uid = f"{self.uid_prefix}{int(self.sched.now)}.{self.uid_counter}"
        self.uid_counter += 1
        return uid

    def new_local(self, exten: str, context: str) -> tuple[str, str, str, str]:
        base = f"Local/{exten}@{context}-{self.local_counter:08x}"
        self.local_counter += 1
        return base + ";1", base + ";2", self.new_uid(), self.new_uid()

    def new_bridge(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def reset_counters(self) -> None:
        """A restart: ids count from zero again, and so do the queues' statistics."""
        self.uid_counter = 0
        self.local_counter = 0
        self.boot_epoch = int(self.sched.now)
        for q in self.queues.values():
            q.completed = q.abandoned = q.sl_ok = 0
            q.holdtime = q.talktime = 0.0

    # ---- members and their devices ----------------------------------------------------------
    def device(self, iface: str, stateif: str | None = None) -> Device:
        dev = self.devices.get(iface)
        if dev is None:
            dev = Device(iface, stateif or iface, AgentBehaviour())
            self.devices[iface] = dev
        return dev

    def memberships(self, iface: str) -> list[Member]:
        return [q.members[iface] for q in self.queues.values() if iface in q.members]

    def enrol(
        self,
        queue: str,
        iface: str,
        name: str,
        penalty: int = 0,
        paused: bool = False,
        reason: str = "",
        stateif: str | None = None,
        dynamic: bool = True,
    ) -> Member:
        """A member joins ``queue`` (which exists, without it) with its device."""
        q = self.queues[queue]
        now = int(self.sched.now)
        m = Member(queue, iface, name, stateif or iface, penalty, paused, reason if paused else "")
        m.login = now
        m.lastpause = now if paused else 0
        m.ringinuse = q.conf.ringinuse
        m.dynamic = dynamic
        q.members[iface] = m
        self.device(iface, m.stateif)
        return m

    def free_agent(self, call: Call, q: Queue, leg: Leg) -> None:
        """The member's part of a call is over: its device is free (wrap-up counts from now), its
        statistics and the queue's count the call, its channels go."""
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

    # ---- queues -----------------------------------------------------------------------------
    def position(self, call: Call) -> int:
        q = self.queues.get(call.queue)
        if q is None or call not in q.waiting:
            return call.origpos
        return q.waiting.index(call) + 1

    def any_queue(self) -> Queue:
        """The queue whose statistics an event outside any queue carries (the first one)."""
        return next(iter(self.queues.values()))

    def queue_of_member(self, iface: str) -> Queue:
        """The queue a directly dialled member's events speak of: its first, else the first one."""
        members = self.memberships(iface)
        return self.queues[members[0].queue] if members else self.any_queue()

    # ---- channels ---------------------------------------------------------------------------
    def caller_pair(
        self, number: str, name: str | None, script: CallScript, priority: int, app: str, appdata: str
    ) -> Call:
        """A caller's Local pair: ``;1`` in the inbound dialplan at ``priority`` running ``app``,
        ``;2`` the caller's phone."""
        ch1, ch2, uid1, uid2 = self.new_local(number, "caller-sim")
        call = Call(number, name or f"Customer {number}", ch1, ch2, uid1, uid2, self.sched.now, script)
        self.calls[ch1] = call
        now, cname = self.sched.now, call.name
        self.channels[ch1] = Channel(
            ch1, uid1, uid1, "inbound", number, priority, app, appdata, number, cname, number, cname, now,
            call=call, role="c1",
        )  # fmt: skip
        self.channels[ch2] = Channel(
            ch2, uid2, uid1, "caller-sim", number, 3, "Wait", "3600", number, cname, number, cname, now,
            call=call, role="c2",
        )  # fmt: skip
        return call

    def agent_leg(self, call: Call, iface: str, name: str, stateif: str, dev: Device, app: str) -> Leg:
        """A Local channel pair ringing member ``iface`` for ``call``: ``;1`` runs ``app`` (AppQueue
        for app_queue, AppDial for Dial()), ``;2`` is the agent's phone."""
        exten, _, context = iface.partition("/")[2].partition("@")
        ch1, ch2, uid1, uid2 = self.new_local(exten, context or "agents")
        leg = Leg(ch1, ch2, uid1, uid2, iface, exten, context, name, stateif, dev, self.sched.now)
        dev.legs.add(ch1)
        num, cname, now = call.number, call.name, self.sched.now
        self.channels[ch1] = Channel(
            ch1, uid1, call.uid1, context, num, 1, app, "(Outgoing Line)", num, cname, num, cname, now,
            state=5, call=call, role="a1", leg=leg,
        )  # fmt: skip
        self.channels[ch2] = Channel(
            ch2, uid2, call.uid1, context, exten, 3, "Wait", "2", num, cname, num, cname, now,
            state=4, call=call, role="a2", leg=leg,
        )  # fmt: skip
        return leg

    def target_pair(
        self, call: Call, exten: str, context: str, role: str, one: Place, two: Place, rung_at: float = 0.0
    ) -> Leg:
        """A transfer target's Local pair ``Local/exten@context`` for ``call`` (no member device),
        its channels ``role + "1"`` and ``role + "2"`` standing where ``one`` and ``two`` say."""
        ch1, ch2, uid1, uid2 = self.new_local(exten, context)
        iface = f"Local/{exten}@{context}"
        leg = Leg(ch1, ch2, uid1, uid2, iface, exten, context, exten, iface, None, rung_at)
        num, cname, now = call.number, call.name, self.sched.now
        for ch, uid, (dialled, prio, app, appdata), n in ((ch1, uid1, one, 1), (ch2, uid2, two, 2)):
            self.channels[ch] = Channel(
                ch, uid, call.uid1, context, dialled, prio, app, appdata, num, cname, num, cname, now,
                call=call, role=f"{role}{n}",
            )  # fmt: skip
        return leg

    def drop_leg(self, leg: Leg) -> None:
        if leg.answer_timer is not None:
            leg.answer_timer.cancel()
        if leg.device is not None:
            leg.device.legs.discard(leg.ch1)
        self.channels.pop(leg.ch1, None)
        self.channels.pop(leg.ch2, None)

    # ---- the end of a call ------------------------------------------------------------------
    def release(self, call: Call, *channels: str, status: str | None = None) -> None:
        """``call`` is over: its caller pair and ``channels`` go, the dialplan waiting on it (if
        any) hears ``status``, and the traffic model is told."""
        for ch in (*channels, call.ch1, call.ch2):
            self.channels.pop(ch, None)
        self.calls.pop(call.ch1, None)
        call.move("done")
        if status is not None and call.on_leave is not None:
            waiter, call.on_leave = call.on_leave, None
            waiter(status)
        if self.on_call_done is not None:
            self.on_call_done(call)
        sender = self.trunk_watch.pop(call.ch1, None)
        if sender is not None:
            sender(call)

    def finish(
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
        """The queue entry is over: its true record goes out; unless the caller's channels live on
        (a transfer, the dialplan after Queue()), the call is released."""
        rec = close_record(
            call.truth, outcome, ended_by, cause, self.sched.now, wait=wait, talk=talk, restart=restart
        )
        if self.truth_sink is not None:
            self.truth_sink(rec)
        if not keep_channels:
            self.release(call, status="ANSWERED" if outcome == "answered" else "HANGUP")


def _nothing() -> None:
    return None
