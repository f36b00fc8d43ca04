"""The queue actions: QueueStatus and QueueSummary, QueueAdd/Remove/Pause/Penalty,
QueueWithdrawCaller, QueueLog, and the ``queue show`` CLI text."""

from __future__ import annotations

from typing import TYPE_CHECKING

from acd.sim import endings, members
from acd.sim.call_states import QUEUED
from acd.sim.emit import list_complete, list_event, response
from acd.sim.queue_strategy import free_for
from acd.sim.server import Session, reply
from acd.sim.state_events import member_pairs, service_level_perf

if TYPE_CHECKING:
    from acd.sim.simulator import Simulator


def a_queuestatus(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    pbx = sim.pbx
    want_q = m.get("Queue") or None
    want_m = m.get("Member") or None
    s.send(response(aid, "Queue status will follow", eventlist=True))
    parts: list[bytes] = []
    now = sim.now()
    for q in pbx.queues.values():
        if want_q and q.name != want_q:
            continue
        perf = service_level_perf(q)
        parts.append(
            list_event(
                "QueueParams",
                (
                    ("Queue", q.name),
                    ("Max", q.conf.maxlen),
                    ("Strategy", q.conf.strategy),
                    ("Calls", len(q.waiting)),
                    ("Holdtime", int(q.holdtime)),
                    ("TalkTime", int(q.talktime)),
                    ("Completed", q.completed),
                    ("Abandoned", q.abandoned),
                    ("ServiceLevel", q.conf.servicelevel),
                    ("ServicelevelPerf", f"{perf:.1f}"),
                    ("ServicelevelPerf2", f"{perf:.1f}"),
                    ("Weight", q.conf.weight),
                ),
                aid,
            )
        )
        for mem in q.members.values():
            if want_m and mem.iface != want_m and mem.name != want_m:
                continue
            pairs = member_pairs(pbx, mem)
            pairs[1] = ("Name", mem.name)
            pairs[2] = ("Location", mem.iface)
            del pairs[14]  # QueueMember has no Ringinuse
            parts.append(list_event("QueueMember", pairs, aid))
        if not want_m:
            for pos, call in enumerate(q.waiting, 1):
                parts.append(
                    list_event(
                        "QueueEntry",
                        (
                            ("Queue", q.name),
                            ("Position", pos),
                            ("Channel", call.ch1),
                            ("Uniqueid", call.uid1),
                            ("CallerIDNum", call.number),
                            ("CallerIDName", call.name),
                            ("ConnectedLineNum", call.number),
                            ("ConnectedLineName", call.name),
                            ("Wait", int(now - call.joined_at)),
                            ("Priority", call.priority),
                        ),
                        aid,
                    )
                )
    parts.append(list_complete("QueueStatusComplete", aid, len(parts)))
    s.send(b"".join(parts))


def a_queuesummary(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    pbx = sim.pbx
    want_q = m.get("Queue") or None
    s.send(response(aid, "Queue summary will follow", eventlist=True))
    parts: list[bytes] = []
    now = sim.now()
    for q in pbx.queues.values():
        if want_q and q.name != want_q:
            continue
        avail = sum(1 for mem in q.members.values() if free_for(pbx, mem, q))
        longest = int(now - min((c.joined_at for c in q.waiting), default=now))
        parts.append(
            list_event(
                "QueueSummary",
                (
                    ("Queue", q.name),
                    ("LoggedIn", len(q.members)),
                    ("Available", avail),
                    ("Callers", len(q.waiting)),
                    ("HoldTime", int(q.holdtime)),
                    ("TalkTime", int(q.talktime)),
                    ("LongestHoldTime", longest),
                ),
                aid,
            )
        )
    parts.append(list_complete("QueueSummaryComplete", aid, len(parts)))
    s.send(b"".join(parts))


# ---- queue members --------------------------------------------------------------------------
def a_queueadd(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    queue, iface = m.get("Queue", ""), m.get("Interface", "")
    if not queue or not iface:
        reply(s, aid, "'Queue' and 'Interface' not specified.", "Error")
        return
    q = sim.pbx.queues.get(queue)
    if q is None:
        reply(s, aid, "Unable to add interface to queue: No such queue", "Error")
        return
    if iface in q.members:
        reply(s, aid, "Unable to add interface: Already there", "Error")
        return
    reply(s, aid, "Added interface to queue")
    try:
        penalty = int(m.get("Penalty") or 0)
    except ValueError:
        penalty = 0
    paused = _truthy(m.get("Paused"))
    members.add_member(
        sim.pbx,
        queue,
        iface,
        m.get("MemberName") or iface,
        penalty,
        paused,
        m.get("Reason", ""),
        m.get("StateInterface") or None,
    )


def a_queueremove(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    queue, iface = m.get("Queue", ""), m.get("Interface", "")
    q = sim.pbx.queues.get(queue)
    if q is None:
        reply(s, aid, "Unable to remove interface from queue: No such queue", "Error")
        return
    if iface not in q.members:
        reply(s, aid, "Unable to remove interface: Not there", "Error")
        return
    reply(s, aid, "Removed interface from queue")
    members.remove_member(sim.pbx, queue, iface)


def a_queuepause(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    iface = m.get("Interface", "")
    paused_raw = m.get("Paused")
    if not iface or paused_raw is None:
        reply(s, aid, "Need 'Interface' and 'Paused' headers.", "Error")
        return
    queue = m.get("Queue") or None
    paused = _truthy(paused_raw)
    if not [mem for mem in sim.pbx.memberships(iface) if queue is None or mem.queue == queue]:
        reply(s, aid, "Interface not found", "Error")
        return
    reply(s, aid, "Interface paused successfully" if paused else "Interface unpaused successfully")
    members.pause(sim.pbx, iface, paused, m.get("Reason", ""), queue)


def a_queuepenalty(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    iface = m.get("Interface", "")
    try:
        penalty = int(m.get("Penalty", ""))
    except ValueError:
        reply(s, aid, "Invalid interface, queuename or penalty", "Error")
        return
    queue = m.get("Queue") or None
    if not [mem for mem in sim.pbx.memberships(iface) if queue is None or mem.queue == queue]:
        reply(s, aid, "Invalid interface, queuename or penalty", "Error")
        return
    reply(s, aid, "Interface penalty set successfully")
    members.set_penalty(sim.pbx, iface, penalty, queue)


def a_queuewithdraw(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    queue, caller = m.get("Queue", ""), m.get("Caller", "")
    call = sim.pbx.calls.get(caller)
    if call is None or call.queue != queue or call.state not in QUEUED:
        reply(s, aid, "Unable to request withdraw from queue: No such caller", "Error")
        return
    reply(s, aid, "Withdraw requested successfully")
    endings.withdraw(sim.pbx, queue, caller, m.get("WithdrawInfo", ""))


def a_queuelog(sim: Simulator, s: Session, m: dict[str, str], aid: str | None) -> None:
    """QueueLog: Asterisk appends a custom queue_log line; the simulator keeps them in order."""
    if not m.get("Queue") or not m.get("Event"):
        reply(s, aid, "Need 'Queue' and 'Event' headers.", "Error")
        return
    line = (
        int(sim.now()),
        m.get("Uniqueid", "NONE"),
        m["Queue"],
        m.get("Interface", "NONE"),
        m["Event"],
        m.get("Message", ""),
    )
    sim.pbx.queue_log.append(line)
    if sim.pbx.qlog is not None:
        sim.pbx.qlog.write(*line)
    reply(s, aid, "Event added successfully")


def queue_show(sim: Simulator, name: str | None) -> list[str]:
    lines: list[str] = []
    now = sim.now()
    for q in sim.pbx.queues.values():
        if name and q.name != name:
            continue
        perf = service_level_perf(q)
        lines.append(
            f"{q.name} has {len(q.waiting)} calls (max {q.conf.maxlen or 'unlimited'}) "
            f"in '{q.conf.strategy}' strategy "
            f"({int(q.holdtime)}s holdtime, {int(q.talktime)}s talktime), "
            f"W:{q.conf.weight}, C:{q.completed}, "
            f"A:{q.abandoned}, SL:{perf:.1f}%, SL2:{perf:.1f}% within {q.conf.servicelevel}s"
        )
        if q.members:
            lines.append("   Members: ")
            for m in q.members.values():
                dev = sim.pbx.devices.get(m.iface)
                st = "In use" if dev and dev.status == 2 else "Not in use"
                ring = "" if m.ringinuse else " (ringinuse disabled)"
                paused = (
                    f" (paused:{m.reason})" if m.paused and m.reason else (" (paused)" if m.paused else "")
                )
                taken = (
                    f"has taken {m.calls} calls (last was {int(now - m.lastcall)} secs ago)"
                    if m.calls
                    else "has taken no calls yet"
                )
                lines.append(
                    f"      {m.name} ({m.iface}){ring} (dynamic){paused} ({st}) {taken} "
                    f"(login was {int(now - m.login)} secs ago)"
                )
        else:
            lines.append("   No Members")
        if q.waiting:
            lines.append("   Callers: ")
            for i, c in enumerate(q.waiting, 1):
                lines.append(f"      {i}. {c.ch1} (wait: {_mmss(now - c.joined_at)}, prio: {c.priority})")
        else:
            lines.append("   No Callers")
        lines.append("")
    if name and not lines:
        return [f"No such queue: {name}."]
    lines.append("")
    return lines


def _mmss(sec: float) -> str:
    sec = int(sec)
    return f"{sec // 60}:{sec % 60:02d}"


def _truthy(v: str | None) -> bool:
    return (v or "").strip().lower() in ("true", "yes", "1", "on", "y", "t")
