"""app_queue's call path: a caller joins, members ring, one answers (Asterisk 22, apps/app_queue.c,
and the captures). How the call then ends lives in ``endings``; whom a caller may ring in
``queue_strategy``.

- a caller rings members only while it is among the first N waiting callers, N = members free
  (autofill); heavier queues (``weight``) are served first;
- no answer within ``timeout``: AgentRingNoAnswer, the caller waits ``retry`` seconds, then rings
  the next member; with Queue()'s ``n`` option the caller leaves instead (QUEUESTATUS=TIMEOUT)
  once the ring cycles reach the member count, a cycle counting as every member except for the
  round-robin and linear strategies (app_queue's tries). A ``n`` caller with nobody to ring waits
  for its timeout here, where app_queue leaves at once;
- Local-channel members report device state INUSE (Status 2) as soon as they are rung.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from acd.sim import endings
from acd.sim.dialplan_calls import hangup_idle
from acd.sim.emit import Out, render_phase
from acd.sim.entities import Call, CallScript, Leg, Member, Queue
from acd.sim.queue_strategy import ONE_AT_A_TIME, choose, empty, free_for, held_by_heavier, ringing_members
from acd.sim.state_events import call_fields, leg_call_fields, member_status
from acd.sim.truth import open_record

if TYPE_CHECKING:
    from acd.sim.pbx import Pbx


def attach(pbx: Pbx) -> Pbx:
    """Make ``pbx``'s queues look for callers to ring whenever its state says they may."""
    pbx.dispatch = lambda: dispatch(pbx)
    return pbx


def new_call(pbx: Pbx, number: str, queue: str, script: CallScript, name: str | None = None) -> Call | None:
    """A caller arrives and enters ``queue`` (the default dialplan: inbound -> Queue())."""
    q = pbx.queues.get(queue)
    if q is None:
        return None
    call = pbx.caller_pair(number, name, script, 6, "Queue", f"{queue},t,,,300")
    if empty(pbx, q, q.conf.joinempty, joining=True):
        # Queue() returns JOINEMPTY without a queue entry; the plain dialplan then hangs up.
        call.move("dialplan")
        pbx.emit(render_phase("channel_up", call_fields(pbx, call, q)))
        hangup_idle(pbx, call, own_channel=True)
        return call
    join(pbx, call, queue, emit_arrival=True)
    return call


def enter_queue(pbx: Pbx, call: Call, queue: str, timeout: float | None) -> str | None:
    """Queue() from the dialplan. Returns a QUEUESTATUS at once (JOINEMPTY), or None: the result
    then comes through ``call.on_leave``."""
    q = pbx.queues[queue]
    if empty(pbx, q, q.conf.joinempty, joining=True):
        return "JOINEMPTY"
    ch = pbx.channels.get(call.ch1)
    if ch is not None:
        ch.runs(call.dp_context, ch.exten, call.dp_prio, "Queue", call.queue_appdata)
    join(pbx, call, queue, phase="queue_join")
    if timeout:
        call.timers.append(pbx.sched.after(timeout, endings.queue_leave, pbx, call, "TIMEOUT"))
    return None


def join(pbx: Pbx, call: Call, queue: str, emit_arrival: bool = False, phase: str | None = None) -> None:
    """``call`` takes its place in ``queue`` (QUEUE_PRIO: ahead of callers of a lower priority)."""
    q = pbx.queues[queue]
    now = pbx.sched.now
    call.queue = queue
    call.entry += 1
    call.joined_at = now
    if not call.first_joined_at:
        call.first_joined_at = now
    idx = len(q.waiting)
    for i, other in enumerate(q.waiting):
        if other.priority < call.priority:
            idx = i
            break
    q.waiting.insert(idx, call)
    call.origpos = idx + 1
    call.move("waiting")
    call.truth = open_record(call, now)
    appdata = (call.queue_appdata or f"{q.name},t,,,300").split(",")
    pbx.ql(
        call.uid1,
        q.name,
        "NONE",
        "ENTERQUEUE",
        appdata[2] if len(appdata) > 2 else "",
        call.number,
        call.origpos,
    )
    fields = call_fields(pbx, call, q)
    if emit_arrival:
        pbx.emit(render_phase("arrive", fields, include_orig=call.script.orig_actionid is not None))
    elif phase is not None:
        pbx.emit(render_phase(phase, fields))
    if call.script.patience is not None:
        call.timers.append(pbx.sched.after(call.script.patience, endings.abandon, pbx, call))
    dispatch(pbx)


def dispatch(pbx: Pbx) -> None:
    """Offer waiting callers to free members, heavier queues first."""
    _leave_empty_queues(pbx)
    for q in sorted(pbx.queues.values(), key=lambda x: -x.conf.weight):
        if not q.waiting:
            continue
        ringing, heavy = ringing_members(q), held_by_heavier(pbx, q)
        avail = sum(1 for m in q.members.values() if free_for(pbx, m, q, ringing, heavy))
        if not avail:
            continue
        for i, call in enumerate(list(q.waiting)):
            if i >= avail:
                break
            if call.state != "waiting" or call.retry_until > pbx.sched.now:
                continue
            cands = [m for m in q.members.values() if free_for(pbx, m, q, ringing, heavy)]
            if not cands:
                break
            low = min(m.penalty for m in cands)
            chosen = choose(pbx, q, [m for m in cands if m.penalty == low])
            _ring(pbx, call, q, chosen)
            ringing.update(m.iface for m in chosen)


def _leave_empty_queues(pbx: Pbx) -> None:
    for q in pbx.queues.values():
        if q.waiting and empty(pbx, q, q.conf.leavewhenempty, joining=False):
            for call in list(q.waiting):
                endings.queue_leave(pbx, call, "LEAVEEMPTY")
                if call.state == "dialplan" and not call.interpreted:
                    hangup_idle(pbx, call, own_channel=True)  # the built-in dialplan ends


def _ring(pbx: Pbx, call: Call, q: Queue, members: list[Member]) -> None:
    call.move("ringing")
    call.ring_started = pbx.sched.now
    if q.conf.strategy in ("rrmemory", "rrordered"):
        order = list(q.members)
        call.truth.setdefault("_rung", [])
        q.rr_next = order.index(members[0].iface) + 1  # taken modulo the member count when used
    out: list[Out] = []
    for m in members:
        dev = pbx.devices[m.iface]
        leg = pbx.agent_leg(call, m.iface, m.name, m.stateif, dev, "AppQueue")
        call.legs.append(leg)
        out.extend(
            render_phase("ring", leg_call_fields(pbx, call, q, leg), {"a": member_status(pbx, m.iface)})
        )
        call.truth.setdefault("rung", []).append(m.iface)
        b = dev.behaviour
        if b.answer_after is not None:
            delay = b.answer_after + (pbx.rng.uniform(0, b.answer_jitter) if b.answer_jitter else 0.0)
            if delay < q.conf.timeout:
                leg.answer_timer = pbx.sched.after(delay, answer, pbx, call, leg)
    pbx.emit(out)
    call.timers.append(pbx.sched.after(q.conf.timeout, _ring_timeout, pbx, call))


def _ring_timeout(pbx: Pbx, call: Call) -> None:
    if call.state != "ringing":
        return
    q = pbx.queues[call.queue]
    out: list[Out] = []
    for leg in call.legs:
        pbx.drop_leg(leg)
        ms = int((pbx.sched.now - leg.rung_at) * 1000)
        fields = leg_call_fields(pbx, call, q, leg, ringtime_ms=ms)
        out.extend(render_phase("ring_no_answer", fields, {"a": member_status(pbx, leg.iface)}))
        pbx.ql(call.uid1, q.name, leg.name, "RINGNOANSWER", ms)
    call.legs.clear()
    call.move("waiting")
    if call.no_retry:
        call.tries += 1 if q.conf.strategy in ONE_AT_A_TIME else len(q.members)
        if call.tries >= len(q.members):
            pbx.emit(out)
            endings.queue_leave(pbx, call, "TIMEOUT")
            return
    call.retry_until = pbx.sched.now + q.conf.retry
    pbx.emit(out)
    call.timers.append(pbx.sched.at(call.retry_until, dispatch, pbx))
    dispatch(pbx)


def refuse(pbx: Pbx, call: Call, leg: Leg) -> None:
    """A rung member's channel is hung up (an AMI Hangup of its leg): that member gives no answer
    now; once no leg rings, the caller waits ``retry`` and its patience runs on."""
    pbx.drop_leg(leg)
    q = pbx.queues[call.queue]
    fields = leg_call_fields(pbx, call, q, leg, ringtime_ms=int((pbx.sched.now - leg.rung_at) * 1000))
    pbx.emit(render_phase("ring_no_answer", fields, {"a": member_status(pbx, leg.iface)}))
    call.legs.remove(leg)
    if not call.legs:
        call.cancel_timers()
        call.move("waiting")
        call.retry_until = pbx.sched.now + q.conf.retry
        call.timers.append(pbx.sched.at(call.retry_until, dispatch, pbx))
        if call.script.patience is not None:
            remaining = call.joined_at + call.script.patience - pbx.sched.now
            call.timers.append(pbx.sched.after(remaining, endings.abandon, pbx, call))


def answer(pbx: Pbx, call: Call, leg: Leg) -> None:
    """The member's phone answers: bridge the caller with it."""
    if call.state != "ringing" or leg not in call.legs:
        return
    q = pbx.queues[call.queue]
    now = pbx.sched.now
    call.cancel_timers()
    out: list[Out] = []
    for other in call.legs:
        if other is leg:
            continue
        pbx.drop_leg(other)
        out.extend(
            render_phase(
                "ring_cancel", leg_call_fields(pbx, call, q, other), {"a": member_status(pbx, other.iface)}
            )
        )
    call.legs = [leg]
    if leg.answer_timer is not None:
        leg.answer_timer.cancel()
    call.agent = leg
    call.bridge = pbx.new_bridge()
    call.connected_at = now
    q.waiting.remove(call)
    call.move("bridged")
    assert leg.device is not None
    leg.device.in_call = call
    hold = now - call.joined_at
    q.holdtime = (q.holdtime * 3 + hold) / 4
    if hold <= q.conf.servicelevel:
        q.sl_ok += 1
    for ch in (call.ch1, leg.ch1):
        if ch in pbx.channels:
            pbx.channels[ch].bridge = call.bridge
    a1 = pbx.channels.get(leg.ch1)
    if a1:
        a1.state = 6
    a2 = pbx.channels.get(leg.ch2)
    if a2:
        a2.state, a2.priority, a2.appdata = 6, 5, "3600"
    ring = int(now) - int(leg.rung_at)
    out.extend(
        render_phase("answer", call_fields(pbx, call, q, ringtime=ring), {"a": member_status(pbx, leg.iface)})
    )
    pbx.emit(out)
    pbx.ql(call.uid1, q.name, leg.name, "CONNECT", pbx.waited(call), leg.uid1, ring)
    call.truth["agent"] = leg.name
    call.truth["interface"] = leg.iface
    call.truth["wait_seconds"] = round(now - call.joined_at, 3)
    e = call.script.ending
    call.timers.append(pbx.sched.after(call.script.talk, endings.end_call, pbx, call, e.kind, e.cause))
