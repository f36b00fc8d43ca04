"""Transfers of an answered queue call: blind (Redirect/BlindTransfer of the caller, or a scripted
ending) and attended (Atxfer from the agent's channel; transfer.ami.log 8c).

The queue entry ends at the transfer (its record says ``ended_by: transfer``); the caller's
channels live on, bridged to the target, until the target's side ends ``after_transfer`` seconds
later (the traffic model's script). Where they are meanwhile is what the capture's events say
(docs/asterisk.md): after a blind transfer the caller has left Queue() and runs ``Dial`` on the
target's extension, bridged to the target; after an attended one it stays in the Queue() it was
answered in, bridged to the consultation's channel. ``CoreShowChannels`` and ``Status`` report
the channels so, as a resync reads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from acd.sim.bridge_end import end_bridge
from acd.sim.emit import render_phase
from acd.sim.entities import Call, Leg, Queue
from acd.sim.state_events import call_fields, cdr_time, leg_fields, member_status

if TYPE_CHECKING:
    from acd.sim.pbx import Pbx


def blind_transfer(
    pbx: Pbx, call: Call, q: Queue, agent: Leg, fields: dict[str, object], phase: str, talk: float
) -> None:
    """The bridged caller goes to the ending's ``transfer_exten`` (the agent already freed):
    ``fields`` are the ending's, completed here with the target's leg."""
    exten = call.script.ending.transfer_exten
    target = pbx.target_pair(
        call, exten, "agents", "b", ("", 1, "AppDial", "(Outgoing Line)"), (exten, 5, "Wait", "3600")
    )
    leg_fields(fields, "b", target, q)
    bridge = fields["bridge1"] = pbx.new_bridge()
    pbx.emit(render_phase(phase, fields, {"a": member_status(pbx, agent.iface)}))
    caller = pbx.channels[call.ch1]
    caller.runs("xfer", exten, 2, "Dial", f"{target.iface},20")  # out of Queue(), dialling the target
    caller.bridge = pbx.channels[target.ch1].bridge = bridge
    _handed_over(pbx, call, talk)
    after = call.script.ending.after_transfer
    call.timers.append(pbx.sched.after(after, _blind_transfer_end, pbx, call, fields, target))


def _handed_over(pbx: Pbx, call: Call, talk: float) -> None:
    """The queue entry ends at the transfer; the caller's channels live on, bridged to the target."""
    call.move("transferred")
    pbx.finish(call, "answered", "transfer", 16, talk=talk, keep_channels=True)


def _blind_transfer_end(pbx: Pbx, call: Call, fields: dict[str, object], target: Leg) -> None:
    fields = dict(fields)
    fields["_ts"] = pbx.ts()
    fields["cdr_end"] = cdr_time(pbx.sched.now)
    pbx.emit(render_phase("transfer_end", fields))
    pbx.release(call, target.ch1, target.ch2)


def atxfer(pbx: Pbx, call: Call, exten: str, context: str = "xfer", consult: float | None = None) -> bool:
    """The agent starts a consultation call to ``exten``; the caller hears hold music. The
    transfer completes when the agent's phone hangs up (after ``consult`` s when given)."""
    if call.state != "bridged" or call.agent is None:
        return False
    q = pbx.queues[call.queue]
    call.cancel_timers()
    talking, ringing = pbx.new_bridge(), pbx.new_bridge()
    extra: dict[str, object] = {"bridge1": talking, "bridge2": ringing}
    phone = f"Local/{exten}@agents"
    places = {  # the consultation's Local pair dials the target's phone, which answers at once
        "b": ((exten, 1, "AppDial", ""), (exten, 2, "Dial", f"{phone},20")),
        "d": (("", 1, "AppDial", "(Outgoing Line)"), (exten, 5, "Wait", "3600")),
    }
    legs = []
    for role, where in (("b", context), ("d", "agents")):
        one, two = places[role]
        leg = pbx.target_pair(call, exten, where, role, one, two, rung_at=pbx.sched.now)
        leg_fields(extra, role, leg, q)
        legs.append(leg)
    # The agent and the consultation's channel share a bridge; the target's pair another.
    pbx.channels[call.agent.ch1].bridge = pbx.channels[legs[0].ch1].bridge = talking
    pbx.channels[legs[0].ch2].bridge = pbx.channels[legs[1].ch1].bridge = ringing
    call.ctx_extra.update(extra)
    call.xfer_legs = legs
    call.move("consulting")
    pbx.emit(render_phase("atxfer_start", call_fields(pbx, call, q)))
    if consult is not None:
        call.timers.append(pbx.sched.after(consult, atxfer_complete, pbx, call))
    return True


def atxfer_complete(pbx: Pbx, call: Call) -> None:
    """The agent hangs up during the consultation: the caller is bridged to the target."""
    if call.state != "consulting" or call.agent is None:
        return
    end = end_bridge(pbx, call, call.agent)
    q, leg = end.queue, end.agent
    pbx.free_agent(call, q, leg)
    fields = call_fields(pbx, call, q, talktime=end.talked)
    pbx.emit(render_phase("atxfer_complete", fields, {"a": member_status(pbx, leg.iface)}))
    end.log(pbx, call, "ATTENDEDTRANSFER", "BRIDGE", call.ctx_extra.get("bridge2", call.bridge))
    # The consultation's bridge merges into the caller's: the caller stays in its Queue().
    pbx.channels[call.xfer_legs[0].ch1].bridge = call.bridge
    _handed_over(pbx, call, end.talk)
    call.timers.append(pbx.sched.after(call.script.ending.after_transfer, atxfer_end, pbx, call))
    pbx.dispatch()


def atxfer_end(pbx: Pbx, call: Call) -> None:
    """The transferred caller and the target hang up."""
    q = pbx.queues[call.queue]
    pbx.emit(render_phase("atxfer_end", call_fields(pbx, call, q)))
    pbx.release(call, *(ch for leg in call.xfer_legs for ch in (leg.ch1, leg.ch2)))
