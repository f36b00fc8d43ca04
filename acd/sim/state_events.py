"""The PBX's state as AMI sees it: the fields the captured call phases are filled with, and the
member and device events.

A call phase (``emit.render_phase``) is a run of events cut from tests/fixtures/ami with the
call's names, ids, times and the queue's statistics left as fields; :func:`call_fields` and
:func:`leg_fields` give those fields for one call (and the member leg rung for it) now.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from acd.sim.emit import CAUSE_TEXT, MEMBER_HEADERS, Out, event
from acd.sim.entities import Call, Leg, Member, Queue

if TYPE_CHECKING:
    from acd.sim.pbx import Pbx


def member_pairs(pbx: Pbx, m: Member) -> list[tuple[str, object]]:
    """A member's headers as QueueStatus and the QueueMember* events carry them."""
    dev = pbx.devices.get(m.iface)
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


def member_event(pbx: Pbx, kind: str, m: Member, incall: int | None = None) -> Out:
    pairs = member_pairs(pbx, m)
    if incall is not None:
        pairs[10] = ("InCall", incall)
    return event(kind, "agent", pairs, pbx.ts())


def member_status(pbx: Pbx, iface: str) -> list[Out]:
    """QueueMemberStatus of ``iface`` in every queue it serves (a device state change)."""
    return [member_event(pbx, "QueueMemberStatus", m, incall=0) for m in pbx.memberships(iface)]


def device_state_change(pbx: Pbx, device: str, state: str) -> Out:
    return event("DeviceStateChange", "call", (("Device", device), ("State", state)), pbx.ts())


def shutdown_flag(pbx: Pbx, name: str) -> Out:
    """SoftHangupRequest of a channel Asterisk's shutdown flags (AST_SOFTHANGUP_SHUTDOWN)."""
    pairs = [*pbx.channels[name].snapshot(), ("Cause", 4)]
    return event("SoftHangupRequest", "call", pairs, pbx.ts())


def service_level_perf(q: Queue) -> float:
    """app_queue's ServicelevelPerf: the percentage of answered calls that waited at most
    ``servicelevel`` seconds (abandons do not count), 0 before the first answer."""
    return (100.0 * q.sl_ok / q.completed) if q.completed else 0.0


def queue_vars(q: Queue) -> dict[str, object]:
    """The queue's statistics as QueueParams and the QUEUE* variables show them."""
    perf = service_level_perf(q)
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


def call_fields(pbx: Pbx, call: Call, q: Queue, **extra: object) -> dict[str, object]:
    """The fields of a phase of ``call`` in ``q`` now; ``extra`` overrides (a cause, a ring time)."""
    now = pbx.sched.now
    # HoldTime is the wait: until now while the caller waits, until the answer once connected
    # (app_queue's AgentComplete says callstart - holdstart; the captures agree).
    connected = call.connected_at if call.connected_at >= call.joined_at > 0 else now
    hold = int(connected) - int(call.joined_at)
    fields: dict[str, object] = {
        "_ts": pbx.ts(),
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
        "position": pbx.position(call),
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
        "cdr_start": cdr_time(call.created),
        "cdr_answer": cdr_time(call.created),
        "cdr_end": cdr_time(now),
        "cdr_duration": int(now - call.created),
        "cdr_billsec": int(now - call.created),
    }
    fields.update(queue_vars(q))
    if call.agent is not None:
        leg_fields(fields, "a", call.agent, q)
    fields.update(call.ctx_extra)
    fields.update(extra)
    return fields


def leg_fields(fields: dict[str, object], role: str, leg: Leg, q: Queue) -> dict[str, object]:
    """Add ``leg``'s fields to ``fields`` under ``role`` (``a`` the member, ``b``/``d`` a transfer
    target); returns ``fields``."""
    fields[f"{role}_ch1"] = leg.ch1
    fields[f"{role}_ch2"] = leg.ch2
    fields[f"{role}_uid1"] = leg.uid1
    fields[f"{role}_uid2"] = leg.uid2
    fields[f"{role}_base"] = leg.ch1[:-2]
    fields[f"{role}_iface"] = leg.iface
    fields[f"{role}_dial"] = leg.iface.partition("/")[2]
    fields[f"{role}_exten"] = leg.exten
    fields[f"{role}_context"] = leg.context
    fields[f"{role}_name"] = leg.name
    fields[f"{role}_stateif"] = leg.stateif
    m = q.members.get(leg.iface)
    fields[f"{role}_calls"] = m.calls if m else 0
    fields[f"{role}_lastcall"] = m.lastcall if m else 0
    fields[f"{role}_penalty"] = m.penalty if m else 0
    return fields


def leg_call_fields(pbx: Pbx, call: Call, q: Queue, leg: Leg, **extra: object) -> dict[str, object]:
    """A phase of ``call`` about one of its rung legs (``a``): a ring, a ring that ends."""
    return leg_fields(call_fields(pbx, call, q, **extra), "a", leg, q)


def cdr_time(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
