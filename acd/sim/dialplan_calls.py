"""A caller's channel outside any queue, as the dialplan interpreter (``interp``) drives it: it
comes up in the dialplan, rings a member's phone with Dial() (outside app_queue), hangs up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from acd.sim.emit import CAUSE_TEXT, render_phase
from acd.sim.entities import FOREVER, Call, CallScript, Leg, Queue
from acd.sim.state_events import call_fields, leg_call_fields, member_status

if TYPE_CHECKING:
    from acd.sim.pbx import Pbx


def new_channel(pbx: Pbx, number: str, script: CallScript, name: str | None = None) -> Call:
    """A caller's Local pair comes up and starts running dialplan (no queue yet)."""
    call = pbx.caller_pair(number, name, script, 1, "", "")
    call.move("dialplan")
    fields = call_fields(pbx, call, pbx.any_queue())
    pbx.emit(render_phase("channel_up", fields, include_orig=script.orig_actionid is not None))
    return call


def hangup_idle(pbx: Pbx, call: Call, own_channel: bool = False, cause: int = 16) -> None:
    """The caller's channel ends outside any queue: its phone hangs up (the ;2 half first), or,
    ``own_channel``, the ;1 channel itself ends (end of dialplan, Hangup(), an AMI Hangup of ;1)
    and takes the ;2 half with it."""
    if call.state in ("done", "bridged", "waiting", "ringing"):
        return
    call.cancel_timers()
    q = pbx.queues.get(call.queue) or pbx.any_queue()
    phase = "hangup_dialplan" if own_channel else "hangup_idle"
    pbx.emit(
        render_phase(
            phase, call_fields(pbx, call, q, cause=cause, cause_txt=CAUSE_TEXT.get(cause, "Unknown"))
        )
    )
    pbx.release(call, status="HANGUP")


def dial_start(pbx: Pbx, call: Call, iface: str, timeout: float | None) -> str | None:
    """Dial() rings ``iface`` for ``call``. Returns DIALSTATUS at once (BUSY) or None: the result
    then comes through ``call.on_leave`` (NOANSWER, or HANGUP once the call is over)."""
    dev = pbx.device(iface)
    if dev.in_call is not None or dev.legs:
        return "BUSY"
    exten = iface.partition("/")[2].partition("@")[0]
    members = pbx.memberships(iface)
    name = members[0].name if members else exten
    leg = pbx.agent_leg(call, iface, name, dev.stateif, dev, "AppDial")
    call.legs = [leg]
    call.move("dialing")
    q = pbx.queue_of_member(iface)
    pbx.emit(render_phase("dial_ring", leg_call_fields(pbx, call, q, leg), {"a": member_status(pbx, iface)}))
    b = dev.behaviour
    limit = timeout if timeout else FOREVER
    if b.answer_after is not None and b.answer_after < limit:
        leg.answer_timer = pbx.sched.after(b.answer_after, _dial_answer, pbx, call, leg, q)
    call.timers.append(pbx.sched.after(limit, dial_noanswer, pbx, call, leg, q))
    return None


def _dial_answer(pbx: Pbx, call: Call, leg: Leg, q: Queue) -> None:
    if call.state != "dialing":
        return
    call.cancel_timers()
    call.move("dialed")
    call.agent = leg
    call.bridge = pbx.new_bridge()
    call.connected_at = pbx.sched.now
    if leg.device is not None:
        leg.device.in_call = call
    pbx.emit(render_phase("dial_answer", call_fields(pbx, call, q), {"a": member_status(pbx, leg.iface)}))
    call.timers.append(pbx.sched.after(call.script.talk, dial_end, pbx, call))


def dial_noanswer(pbx: Pbx, call: Call, leg: Leg, q: Queue) -> None:
    """The dialled phone rang out (or was hung up): DIALSTATUS=NOANSWER, the dialplan goes on."""
    if call.state != "dialing":
        return
    call.cancel_timers()
    pbx.drop_leg(leg)
    call.legs.clear()
    fields = leg_call_fields(pbx, call, q, leg, ringtime_ms=int((pbx.sched.now - leg.rung_at) * 1000))
    pbx.emit(render_phase("dial_noanswer", fields, {"a": member_status(pbx, leg.iface)}))
    call.move("dialplan")
    if call.on_leave is not None:
        waiter, call.on_leave = call.on_leave, None
        waiter("NOANSWER")


def dial_end(pbx: Pbx, call: Call) -> None:
    """The directly dialled call ends (the captured shape: the caller hangs up)."""
    if call.state != "dialed" or call.agent is None:
        return
    call.cancel_timers()
    leg = call.agent
    q = pbx.queue_of_member(leg.iface)
    now = pbx.sched.now
    if leg.device is not None:
        leg.device.in_call = None
        leg.device.legs.discard(leg.ch1)
    fields = call_fields(
        pbx,
        call,
        q,
        talktime=int(now) - int(call.connected_at),
        talktime_ms=int((now - call.connected_at) * 1000),
    )
    pbx.emit(render_phase("dial_end_caller", fields, {"a": member_status(pbx, leg.iface)}))
    pbx.release(call, leg.ch1, leg.ch2, status="HANGUP")
    pbx.dispatch()
