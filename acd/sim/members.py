"""Queue membership as app_queue changes it: QueueAdd, QueueRemove, QueuePause, QueuePenalty.

Each returns an error text as Asterisk words it, or None; each emits the events and queue_log
lines app_queue writes, then lets the queues look again for callers to ring (an added or
unpaused member may take one; a paused or removed one may empty a ``leavewhenempty`` queue).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from acd.sim.emit import Out
from acd.sim.state_events import device_state_change, member_event

if TYPE_CHECKING:
    from acd.sim.pbx import Pbx


def add_member(
    pbx: Pbx,
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
    """QueueAdd; ``quiet`` adds without events (a member configured before anyone listens)."""
    q = pbx.queues.get(queue)
    if q is None:
        return "Unable to add interface to queue: No such queue"
    if iface in q.members:
        return "Unable to add interface: Already there"
    m = pbx.enrol(queue, iface, name or iface, penalty, paused, reason, stateif, dynamic)
    if not quiet:
        out = [device_state_change(pbx, f"Queue:{queue}_pause_{iface}", "INUSE" if paused else "NOT_INUSE")]
        out.append(member_event(pbx, "QueueMemberAdded", m))
        pbx.emit(out)
        pbx.ql("MANAGER", queue, iface, "ADDMEMBER", "PAUSED" if paused else "")
    pbx.dispatch()
    return None


def remove_member(pbx: Pbx, queue: str, iface: str) -> str | None:
    q = pbx.queues.get(queue)
    if q is None:
        return "Unable to remove interface from queue: No such queue"
    m = q.members.pop(iface, None)
    if m is None:
        return "Unable to remove interface: Not there"
    pbx.emit([member_event(pbx, "QueueMemberRemoved", m)])
    pbx.ql("MANAGER", queue, iface, "REMOVEMEMBER", "")
    pbx.dispatch()
    return None


def pause(pbx: Pbx, iface: str, paused: bool, reason: str = "", queue: str | None = None) -> str | None:
    """Pause (or unpause) ``iface`` in ``queue``, or in every queue it serves when None."""
    targets = (
        [pbx.queues[queue].members[iface]]
        if queue and queue in pbx.queues and iface in pbx.queues[queue].members
        else []
    )
    if queue is None:
        targets = pbx.memberships(iface)
    if not targets:
        return "Interface not found"
    out: list[Out] = []
    if queue is None:
        pbx.ql(
            "NONE",
            "NONE",
            targets[0].name,
            "PAUSEALL" if paused else "UNPAUSEALL",
            reason if paused else "",
        )
    for m in targets:
        pbx.ql("NONE", m.queue, m.name, "PAUSE" if paused else "UNPAUSE", reason if paused else "")
        m.paused = paused
        m.reason = reason if paused else ""
        if paused:
            m.lastpause = int(pbx.sched.now)
        out.append(
            device_state_change(pbx, f"Queue:{m.queue}_pause_{iface}", "INUSE" if paused else "NOT_INUSE")
        )
        out.append(member_event(pbx, "QueueMemberPause", m))
    pbx.emit(out)
    pbx.dispatch()
    return None


def set_penalty(pbx: Pbx, iface: str, penalty: int, queue: str | None = None) -> str | None:
    targets = [m for m in pbx.memberships(iface) if queue is None or m.queue == queue]
    if not targets:
        return "Invalid interface, queuename or penalty"
    out = []
    for m in targets:
        m.penalty = penalty
        out.append(member_event(pbx, "QueueMemberPenalty", m))
        pbx.ql("NONE", m.queue, iface, "PENALTY", penalty)
    pbx.emit(out)
    pbx.dispatch()
    return None
