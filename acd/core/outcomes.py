"""The rep's outcome of a call, as the dialplan or a softphone reports it over AMI.

``UserEvent: CallOutcome`` with ``Outcome`` (or ``Disposition``), ``Resolved``, ``Notes``,
``Points``, ``OrderRef``/``OrderStatus``/``OrderLeft``, naming the call by ``Linkedid`` (or the
caller channel's Uniqueid) or by ``Agent`` (then the agent's current or last call). Values outside
the API's limits (acd/api/payloads.py) are anomalies; the headers are kept either way.
"""

from __future__ import annotations

from acd.core import events as ev
from acd.core.effects import Effect, OutcomeReported
from acd.core.queue_entries import QueueEntries

__all__ = ["call_outcome"]


def call_outcome(calls: QueueEntries, e: ev.UserEvent, now: float, out: list[Effect]) -> None:
    reg = calls.reg
    h = e.headers
    agent_ref = h.get("Agent") or None
    call_id: str | None = None
    entry = reg.by_linkedid.get(e.linkedid) if e.linkedid else None
    if entry is None and e.linkedid:
        entry = reg.by_uniqueid.get(e.linkedid)
    if entry is not None:
        call_id = entry.id
    elif e.linkedid:
        call_id = e.linkedid
    if call_id is None and agent_ref:
        agent = reg.agents.get(agent_ref) or reg.agents.get(reg.iface_agent.get(agent_ref, ""))
        if agent is not None:
            call_id = next(iter(agent.calls), None) or agent.last_call
    resolved_raw = h.get("Resolved")
    points_raw = h.get("Points")
    try:
        points = float(points_raw) if points_raw else None
    except ValueError:
        points = None
        calls.anomaly(out, "bad_value", "UserEvent", f"Points={points_raw!r}", now)
    order_ref = h.get("OrderRef", "").strip() or None
    order_status = h.get("OrderStatus", "").strip().lower() or None
    if order_ref is not None and (order_status not in ("open", "closed") or len(order_ref) > 128):
        # the API's limits: anything else is kept in headers, not as an order
        calls.anomaly(out, "bad_value", "UserEvent", f"order {order_ref[:40]!r} {order_status!r}", now)
        order_ref = None
    out.append(
        OutcomeReported(
            call_uniqueid=call_id,
            linkedid=e.linkedid or None,
            agent=agent_ref,
            disposition=h.get("Outcome") or h.get("Disposition") or None,
            resolved=None if resolved_raw is None else resolved_raw.lower() in ("1", "yes", "true"),
            notes=h.get("Notes") or None,
            points=points,
            at=now,
            headers=tuple((k, v) for k, v in h.items() if k not in ("Event", "Privilege")),
            order_ref=order_ref,
            order_status=("open" if order_status == "open" else "closed") if order_ref else None,
            order_left=(h.get("OrderLeft", "")[:2000] or None) if order_ref else None,
        )
    )
