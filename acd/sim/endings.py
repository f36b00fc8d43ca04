"""How a queue entry ends: the caller abandons, leaves alive (timeout, withdraw, redirect, an
emptied queue), or the answered call ends on either side, is transferred, or dies with a restart.

Each ending emits its captured phase and queue_log line, closes the entry's true record
(``Pbx.finish``) and lets the queues look again for callers to ring.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from acd.sim import transfers
from acd.sim.bridge_end import end_bridge
from acd.sim.call_states import QUEUED
from acd.sim.emit import CAUSE_TEXT, Out, render_phase
from acd.sim.entities import Call
from acd.sim.state_events import call_fields, leg_call_fields, leg_fields, member_status

if TYPE_CHECKING:
    from acd.sim.pbx import Pbx

# Ending.kind -> the captured phase of that ending
END_PHASES = {
    "caller": "end_caller",
    "agent": "end_agent_phone",
    "agent_cut": "end_agent_phone",
    "agent_ami": "end_agent_ami",
    "caller_cut": "end_caller_phone",
    "caller_chan_cut": "end_caller_chan",
    "transfer": "blind_transfer",
    "restart": "restart_bridged",
}
CALLER_ENDINGS = ("caller", "caller_cut", "caller_chan_cut")
# app_queue says COMPLETEAGENT when it sees the agent's channel hang up first: the agent's phone,
# or a shutdown; an AMI hang-up of the agent's leg reaches it as the caller's (the captures).
AGENT_FIRST = ("agent", "agent_cut", "restart")


def abandon(pbx: Pbx, call: Call, cause: int = 16) -> None:
    """The caller hangs up while waiting (or while members ring)."""
    if call.state not in QUEUED:
        return
    q = pbx.queues[call.queue]
    call.cancel_timers()
    fields = call_fields(pbx, call, q)
    out: list[Out] = []
    if call.legs:
        first = call.legs[0]
        pbx.drop_leg(first)
        leg_fields(fields, "a", first, q)
        out.extend(render_phase("abandon_ring", fields, {"a": member_status(pbx, first.iface)}))
        for other in call.legs[1:]:
            pbx.drop_leg(other)
            out.extend(
                render_phase(
                    "ring_cancel",
                    leg_call_fields(pbx, call, q, other),
                    {"a": member_status(pbx, other.iface)},
                )
            )
        for leg in call.legs:
            pbx.ql(call.uid1, q.name, leg.name, "RINGCANCELED", int((pbx.sched.now - leg.rung_at) * 1000))
    else:
        out.extend(render_phase("abandon_wait", fields))
    call.legs.clear()
    pbx.ql_left(call, "ABANDON")
    q.waiting.remove(call)
    q.abandoned += 1
    pbx.emit(out)
    pbx.finish(call, "abandoned", "caller", cause, wait=pbx.sched.now - call.joined_at)
    pbx.dispatch()


def end_call(pbx: Pbx, call: Call, kind: str, cause: int = 16) -> None:
    """End a bridged call. ``kind`` names which side and how (see :class:`Ending`)."""
    if call.state != "bridged" or call.agent is None:
        return
    if kind == "atxfer":
        transfers.atxfer(pbx, call, call.script.ending.transfer_exten, consult=call.script.ending.consult)
        return
    end = end_bridge(pbx, call, call.agent)
    q, leg = end.queue, end.agent
    fields = call_fields(
        pbx,
        call,
        q,
        talktime=end.talked,
        talktime_ms=int(end.talk * 1000),
        cause=cause,
        cause_txt=CAUSE_TEXT.get(cause, "Unknown"),
    )
    phase = "end_caller_phone" if kind == "caller" and cause != 16 else END_PHASES[kind]
    # The member is freed inside the phase; the PBX state changes before QMS is rendered.
    pbx.free_agent(call, q, leg)
    if kind == "transfer":
        xfer = call.script.ending.transfer_exten
        end.log(pbx, call, "BLINDTRANSFER", xfer, "xfer")
        transfers.blind_transfer(pbx, call, q, leg, fields, phase, end.talk)
    else:
        end.log(pbx, call, "COMPLETEAGENT" if kind in AGENT_FIRST else "COMPLETECALLER")
        pbx.emit(render_phase(phase, fields, {"a": member_status(pbx, leg.iface)}))
        ended_by = "caller" if kind in CALLER_ENDINGS else "system" if kind == "restart" else "agent"
        restart = kind == "restart"
        pbx.finish(call, "answered", ended_by, None if restart else cause, talk=end.talk, restart=restart)
    pbx.dispatch()


def withdraw(pbx: Pbx, queue: str, channel: str, info: str = "") -> bool:
    """QueueWithdrawCaller: the caller leaves the queue (QUEUESTATUS=WITHDRAW), then hangs up."""
    call = pbx.calls.get(channel)
    if call is None or call.queue != queue or call.state not in QUEUED:
        return False
    call.withdraw_info = info[:40]  # app_queue logs at most 40 characters of it
    if call.on_leave is not None:
        queue_leave(pbx, call, "WITHDRAW")
    else:
        leave(pbx, call, "WITHDRAW")
    return True


def leave(pbx: Pbx, call: Call, verb: str) -> None:
    """The caller is taken out of the queue and its channel ends there (the built-in dialplan):
    a withdraw, a redirect (Asterisk logs a Redirect out as ABANDON), a shutdown."""
    q = pbx.queues[call.queue]
    pbx.ql_left(call, verb, *((call.withdraw_info,) if verb == "WITHDRAW" else ()))
    call.cancel_timers()
    fields = call_fields(pbx, call, q)
    out = _cancel_rings(pbx, call)
    out.extend(render_phase("abandon_wait", fields))
    q.waiting.remove(call)
    pbx.emit(out)
    pbx.finish(call, "exited", "system", 16, wait=pbx.sched.now - call.joined_at)
    pbx.dispatch()


# Queue()'s QUEUESTATUS -> app_queue's queue_log verb (none for a hang-up)
LEAVE_VERBS = {
    "TIMEOUT": "EXITWITHTIMEOUT",
    "WITHDRAW": "WITHDRAW",
    "REDIRECT": "ABANDON",
    "LEAVEEMPTY": "EXITEMPTY",
}


def queue_leave(pbx: Pbx, call: Call, status: str) -> None:
    """The caller leaves the queue alive (timeout, withdraw, redirect): the dialplan goes on."""
    if call.state not in QUEUED:
        return
    q = pbx.queues[call.queue]
    call.cancel_timers()
    out = _cancel_rings(pbx, call)
    call.queuestatus = status
    out.extend(render_phase("queue_leave", call_fields(pbx, call, q)))
    verb = LEAVE_VERBS.get(status)
    if verb is not None:
        pbx.ql_left(call, verb, *((call.withdraw_info,) if verb == "WITHDRAW" else ()))
    q.waiting.remove(call)
    call.move("dialplan")
    pbx.emit(out)
    pbx.finish(call, "exited", "system", None, wait=pbx.sched.now - call.joined_at, keep_channels=True)
    if call.on_leave is not None:
        waiter, call.on_leave = call.on_leave, None
        waiter(status)
    pbx.dispatch()


def _cancel_rings(pbx: Pbx, call: Call) -> list[Out]:
    """The members still ringing for ``call`` stop (AgentRingCancel... per leg)."""
    q = pbx.queues[call.queue]
    out: list[Out] = []
    for leg in call.legs:
        pbx.drop_leg(leg)
        out.extend(
            render_phase(
                "ring_cancel", leg_call_fields(pbx, call, q, leg), {"a": member_status(pbx, leg.iface)}
            )
        )
    call.legs.clear()
    return out
