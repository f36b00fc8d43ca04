"""app_queue's rules for whom a caller may ring: a member's availability, the queue's strategy,
joinempty/leavewhenempty. Read-only over the PBX's state (Asterisk 22, apps/app_queue.c).

- a member is skipped when paused, in wrap-up (``wrapuptime`` after its last call, across queues
  with ``shared_lastcall``), already rung or in a call when ``ringinuse=no``, or when a heavier
  queue (``weight``) it also serves has callers waiting (app_queue's compare_weight);
- ``ringall`` rings every free member of the lowest penalty, the other strategies one;
  ``rrmemory`` remembers where it stopped (``Queue.rr_next``, moved by ``app_queue``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from acd.sim.entities import Member, Queue

if TYPE_CHECKING:
    from acd.sim.pbx import Pbx

ONE_AT_A_TIME = ("rrmemory", "rrordered", "linear")  # strategies whose ring cycle is one member each


def free_for(
    pbx: Pbx, m: Member, q: Queue, ringing: set[str] | None = None, heavy: set[str] | None = None
) -> bool:
    """May ``m`` be rung for a caller of ``q`` now (QueueSummary's "available" too)? ``ringing``
    (members already ringing for this queue) and ``heavy`` (members a heavier queue's callers wait
    for) may be computed once per dispatch by the caller; None computes them here."""
    if m.paused:
        return False
    dev = pbx.devices.get(m.iface)
    if dev is None:
        return False
    if dev.status != 1 and not m.ringinuse:
        return False
    if dev.in_call is not None and not m.ringinuse:
        return False
    if ringing is None:
        ringing = ringing_members(q)
    if m.iface in ringing:
        return False  # already ringing for a caller of this queue
    wrap = q.conf.wrapuptime
    if wrap:
        last = (
            max(dev.last_end.values())
            if pbx.conf.shared_lastcall and dev.last_end
            else dev.last_end.get(q.name, 0.0)
        )
        if pbx.sched.now < last + wrap:
            return False
    if heavy is None:
        heavy = held_by_heavier(pbx, q)
    return m.iface not in heavy  # compare_weight: a heavier queue's caller waits for this member


def ringing_members(q: Queue) -> set[str]:
    return {leg.iface for c in q.waiting for leg in c.legs}


def held_by_heavier(pbx: Pbx, q: Queue) -> set[str]:
    """Members of ``q`` that a queue of higher weight with callers waiting keeps for itself."""
    out: set[str] = set()
    for q2 in pbx.queues.values():
        if q2 is not q and q2.conf.weight > q.conf.weight and q2.waiting:
            out.update(q2.members)
    return out


def empty(pbx: Pbx, q: Queue, spec: str, joining: bool) -> bool:
    """app_queue's joinempty/leavewhenempty test. ``yes`` for joinempty and ``no`` for
    leavewhenempty never block; ``no``/``yes`` (the other way round) mean "no members at all";
    a list (paused, inuse, ringing, wrapup, unavailable, invalid...) also counts members in
    those states as absent."""
    spec = spec.strip().lower()
    if spec in ("", "yes" if joining else "no", "no" if not joining else "_"):
        return False
    states = set() if spec in ("yes", "no", "strict", "loose") else {x.strip() for x in spec.split(",")}
    for m in q.members.values():
        dev = pbx.devices.get(m.iface)
        if "paused" in states and m.paused:
            continue
        if dev is not None and "inuse" in states and dev.in_call is not None:
            continue
        if dev is not None and "ringing" in states and dev.legs and dev.in_call is None:
            continue
        if dev is not None and "wrapup" in states and q.conf.wrapuptime:
            last = max(dev.last_end.values()) if dev.last_end else 0.0
            if pbx.sched.now < last + q.conf.wrapuptime:
                continue
        return False
    return True


def choose(pbx: Pbx, q: Queue, cands: list[Member]) -> list[Member]:
    """Whom the strategy rings among the free members of the lowest penalty."""
    s = q.conf.strategy
    if s == "ringall":
        return cands
    if s in ONE_AT_A_TIME:
        order = list(q.members)
        start = q.rr_next % len(order) if s != "linear" else 0
        best = min(cands, key=lambda m: (order.index(m.iface) - start) % len(order))
        return [best]
    if s == "leastrecent":
        return [min(cands, key=lambda m: m.lastcall)]
    if s == "fewestcalls":
        return [min(cands, key=lambda m: m.calls)]
    return [pbx.rng.choice(cands)]
