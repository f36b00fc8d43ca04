"""Hang-ups from outside a call's own script: an AMI Hangup of one of its channels, and an
Asterisk restart tearing every call down. Each is mapped, by the call's state and the channel's
role, onto the ending the captures show for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from acd.sim import app_queue, dialplan_calls, endings, transfers
from acd.sim.call_states import QUEUED
from acd.sim.state_events import shutdown_flag

if TYPE_CHECKING:
    from acd.sim.pbx import Pbx

# A bridged call's channel hung up -> the ending: (role, hung up with cause 16) -> Ending.kind
BRIDGED_ENDINGS = {
    ("c2", True): "caller",
    ("c2", False): "caller_cut",
    ("c1", True): "caller",
    ("c1", False): "caller_chan_cut",
    ("a2", True): "agent",
    ("a2", False): "agent_cut",
    ("a1", True): "agent_ami",
    ("a1", False): "agent_ami",
}


def hangup_channel(pbx: Pbx, name: str, cause: int | None) -> bool:
    """AMI Hangup on one of our channels (``Cause`` when given). False: nothing to hang up."""
    ch = pbx.channels.get(name)
    if ch is None or ch.call is None:
        return False
    call = ch.call
    c = 16 if cause is None else cause
    caller_side = ch.role in ("c1", "c2")
    if call.state == "dialplan" and caller_side:
        if ch.role == "c1":
            dialplan_calls.hangup_idle(pbx, call, own_channel=True, cause=0 if cause is None else cause)
        else:
            dialplan_calls.hangup_idle(pbx, call)
        return True
    if call.state == "dialed":
        dialplan_calls.dial_end(pbx, call)
        return True
    if call.state == "consulting" and ch.role == "a2":
        transfers.atxfer_complete(pbx, call)
        return True
    if call.state == "transferred" and caller_side and call.xfer_legs:
        call.cancel_timers()
        transfers.atxfer_end(pbx, call)
        return True
    if call.state == "dialing" and call.legs:
        leg = call.legs[0]
        dialplan_calls.dial_noanswer(pbx, call, leg, pbx.queue_of_member(leg.iface))
        if caller_side:
            dialplan_calls.hangup_idle(pbx, call)
        return True
    if call.state in QUEUED:
        if caller_side:
            endings.abandon(pbx, call, c)
            return True
        if ch.leg is not None and ch.leg in call.legs:
            app_queue.refuse(pbx, call, ch.leg)
            return True
        return False
    if call.state == "bridged":
        kind = BRIDGED_ENDINGS.get((ch.role, c == 16))
        if kind is None:
            return False
        endings.end_call(pbx, call, kind, c)
        return True
    return False


def restart_hangup_all(pbx: Pbx) -> None:
    """Asterisk is restarting: every call is torn down (SoftHangupRequest Cause 4)."""
    for call in list(pbx.calls.values()):
        if call.state == "consulting":  # an attended transfer under way dies with Asterisk too
            call.cancel_timers()
            call.move("bridged")
        if call.state == "bridged":
            endings.end_call(pbx, call, "restart")
        elif call.state in QUEUED:
            # A shutdown flags every channel first (SoftHangupRequest Cause 4, as in the restart
            # capture); the queue then reports an abandon like any hang-up while waiting.
            pbx.emit([shutdown_flag(pbx, name) for name in (call.ch1, call.ch2) if name in pbx.channels])
            endings.leave(pbx, call, "ABANDON")  # queue_log: ABANDON, shutdown or not
        elif call.state == "transferred":
            call.cancel_timers()
            pbx.calls.pop(call.ch1, None)
    pbx.channels.clear()
    for dev in pbx.devices.values():
        dev.legs.clear()
        dev.in_call = None
