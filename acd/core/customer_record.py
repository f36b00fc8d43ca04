"""The customer-call row and the facts of its legs, built from one open call and its legs. Pure.

Why apart: every reader (store, report, API, metrics) takes a customer call's fields as they are
here and re-derives none, so how each field follows from the legs is stated in one place, away
from the stage's bookkeeping (acd/core/customer.py) and from the rules that make the legs
(acd/core/customer_legs.py). It is a function of its inputs only, like acd/core/call_record.py
for a queue entry's record.

Rules:

* **Closing leg's fields**: the customer call's agent, who ended it, its cause and its cut-off and
  short-release flags are the closing leg's (the last answered leg); its talk time is the sum over
  answered legs; it is answered when any leg was, else it takes the last leg's outcome once no
  entry is live.
* **Queue**: the closing leg's shared queue, else the last leg's, else the customer call's shared
  queue.
* **Customer call wait**: first arrival to first answer (to the end of the last leg if none), the
  leg's wait plus the time from the call's first arrival to the leg's first folded entry.
* **Origin**: a continuation of a call another server passed here (acd/core/origin.py) arrived
  when the origin's call first arrived, once the caller history has told it: its start, and its
  wait, run from there.
* **Callback result**: the closing leg's, else the last leg's; none while the call is live and no
  leg was answered yet (the caller may still reach someone).
"""

from __future__ import annotations

from collections.abc import Sequence

from acd.core.customer_legs import Leg, OpenCall, callback_result, closing_leg, shared_queue
from acd.core.effects import CustomerCall, CustomerCallUpdated, LegFacts, Outcome

__all__ = ["customer_call_updated"]


def customer_call_updated(call: OpenCall, legs: Sequence[Leg], now: float) -> CustomerCallUpdated:
    """The effect the store upserts: ``call``'s row as of ``now`` and how each of its legs counts."""
    closing = closing_leg(legs)
    return CustomerCallUpdated(
        _row(call, legs, closing, now),
        tuple(
            LegFacts(
                leg.record.id,
                leg.record.uniqueid,
                leg.record.entry,
                leg.queue,
                leg.counted,
                leg.wait,
                closing is not None and leg.record is closing.record,
            )
            for leg in legs
        ),
    )


def _row(call: OpenCall, legs: Sequence[Leg], closing: Leg | None, now: float) -> CustomerCall:
    counted = [leg for leg in legs if leg.counted]
    answered = [leg for leg in counted if leg.record.outcome == "answered"]
    last = counted[-1] if counted else None
    shared, _ = shared_queue(call)
    outcome: Outcome | None = None
    wait: float | None = None
    answered_at: float | None = None
    if answered:
        first = answered[0]
        outcome, answered_at = "answered", first.record.answered_at
        if first.wait is not None:
            wait = first.wait + (first.first_joined - call.joined_at)
    elif last is not None and not call.live:
        outcome = last.record.outcome
        if last.wait is not None:
            wait = last.wait + (last.first_joined - call.joined_at)
    reference = closing or last
    queue = reference.queue if reference is not None else shared
    start = call.joined_at
    if call.origin_arrival is not None and call.origin_arrival < start:
        # a continuation: the customer call arrived on the origin server first
        if wait is not None:
            wait += start - call.origin_arrival
        start = call.origin_arrival
    rec = closing.record if closing is not None else None
    result = callback_result(call, rec if rec is not None else (last.record if last else None))
    if call.live:
        result = result if rec is not None else None
    return CustomerCall(
        linkedid=call.linkedid,
        queue=queue or shared,
        caller_num=call.caller_num,
        caller_name=call.caller_name,
        caller_key=call.caller_key,
        account=call.account,
        joined_at=start,
        answered_at=answered_at,
        ended_at=None if call.live else max((r.ended_at for r in call.entries), default=None),
        outcome=outcome,
        live=bool(call.live),
        final=call.final,
        agent=rec.agent if rec is not None else None,
        agent_name=rec.agent_name if rec is not None else None,
        wait_seconds=None if wait is None else max(0.0, wait),
        talk_seconds=sum(leg.record.talk_seconds for leg in answered),
        ended_by=rec.ended_by if rec is not None else None,
        cause=rec.cause if rec is not None else None,
        cut_off=bool(rec is not None and rec.cut_off),
        cut_off_reasons=rec.cut_off_reasons if rec is not None else (),
        agent_released_short=bool(rec is not None and rec.agent_released_short),
        partial=any(r.partial for r in call.entries),
        legs=len(counted),
        callback_of=call.callback_of,
        repeat_of=call.repeat_of,
        callback_result=result,
        chain_id=call.chain_id,
        chain_seq=call.chain_seq,
        routing=call.routing,
        at=now,
        origin_server=call.origin.server if call.origin is not None else None,
        origin_linkedid=call.origin.linkedid if call.origin is not None else None,
    )
