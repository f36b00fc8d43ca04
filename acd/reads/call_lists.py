"""Lists of customer calls as the API and the pages show them: a period's calls, the latest
outcomes, a caller's history and a call's chain, from the same columns as the one-call view
(:mod:`acd.reads.calls`), so a list and a detail cannot disagree."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from acd.core.definitions import OPEN_ORDER_REVIEW_SECONDS
from acd.reads.calls import (
    call_summary,
    chain_sales,
    customer_call_row,
    outcome_view,
    reasons_of,
    unfilled_summary,
)
from acd.store.schema.outcomes import adjustments, outcomes
from acd.store.schema.records import calls, customer_calls

__all__ = ["caller_history", "chain_view", "latest_outcomes", "list_calls"]

_CHUNK = 500


async def list_calls(
    conn: AsyncConnection,
    server_id: str,
    *,
    agent: str | None,
    queue: str | None,
    since: float | None,
    until: float | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Customer calls matching the filters, newest first (no notes). ``agent``: calls the agent
    answered a leg of; ``queue``: calls reported under that queue (a callback answered in a
    personal queue is its shared queue's)."""
    cc = customer_calls
    query = select(cc).where(cc.c.server_id == server_id)
    if agent is not None:
        answered = select(calls.c.linkedid).where(calls.c.server_id == server_id, calls.c.agent == agent)
        query = query.where(or_(cc.c.agent == agent, cc.c.linkedid.in_(answered)))
    if queue is not None:
        query = query.where(cc.c.queue == queue)
    if since is not None:
        query = query.where(cc.c.joined_at >= since)
    if until is not None:
        query = query.where(cc.c.joined_at < until)
    found = (await conn.execute(query.order_by(cc.c.joined_at.desc()).limit(limit))).all()
    items = {r.linkedid: r for r in found}
    rows: dict[str, list[Any]] = defaultdict(list)
    ids = list(items)
    for i in range(0, len(ids), _CHUNK):
        for r in await conn.execute(
            select(calls.c.linkedid, calls.c.call_id)
            .where(calls.c.server_id == server_id, calls.c.linkedid.in_(ids[i : i + _CHUNK]))
            .order_by(calls.c.joined_at, calls.c.entry)
        ):
            rows[str(r.linkedid)].append(r)
    # Entries an older acd wrote, not backfilled yet, are listed from their rows.
    legacy = select(calls).where(calls.c.server_id == server_id, calls.c.leg_counted.is_(None))
    if agent is not None:
        legacy = legacy.where(calls.c.agent == agent)
    if queue is not None:
        legacy = legacy.where(calls.c.queue == queue)
    if since is not None:
        legacy = legacy.where(calls.c.joined_at >= since)
    if until is not None:
        legacy = legacy.where(calls.c.joined_at < until)
    unfilled: dict[str, list[Any]] = defaultdict(list)
    for old in await conn.execute(legacy.order_by(calls.c.joined_at.desc()).limit(limit)):
        if old.linkedid not in items:
            unfilled[str(old.linkedid)].append(old)
    result = [{**call_summary(row, rows.get(row.linkedid, ())), "_at": row.joined_at} for row in found]
    result += [
        {**unfilled_summary(sorted(e, key=lambda r: r.joined_at)), "_at": e[0].joined_at}
        for e in unfilled.values()
    ]
    result.sort(key=lambda item: item["_at"], reverse=True)
    result = result[:limit]
    latest = await latest_outcomes(conn, server_id, [item["call_id"] for item in result])
    for item in result:
        del item["_at"]
        outcome = latest.get(item["call_id"])
        item["disposition"] = outcome.disposition if outcome is not None else None
        item["has_notes"] = bool(outcome is not None and outcome.notes)
        item["entries"] = item.pop("entry_ids")
    return result


async def latest_outcomes(
    conn: AsyncConnection, server_id: str, linkedids: Sequence[str]
) -> dict[str, Row[Any]]:
    latest: dict[str, Row[Any]] = {}
    for i in range(0, len(linkedids), _CHUNK):
        for o in await conn.execute(
            select(outcomes)
            .where(outcomes.c.server_id == server_id, outcomes.c.linkedid.in_(linkedids[i : i + _CHUNK]))
            .order_by(outcomes.c.written_at, outcomes.c.id)
        ):
            latest[o.linkedid] = o
    return latest


async def caller_history(
    conn: AsyncConnection,
    server_id: str,
    caller_key: str,
    *,
    exclude_linkedid: str | None,
    since: float,
    show_notes: bool,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """The caller's earlier customer calls, newest first, with their latest outcome: the screen pop."""
    cc = customer_calls
    found = (
        await conn.execute(
            select(cc)
            .where(cc.c.server_id == server_id, cc.c.caller_key == caller_key, cc.c.joined_at >= since)
            .order_by(cc.c.joined_at.desc())
            .limit(limit + 1)
        )
    ).all()
    found = [r for r in found if r.linkedid != exclude_linkedid][:limit]
    latest = await latest_outcomes(conn, server_id, [r.linkedid for r in found])
    return [
        {
            "call_id": r.linkedid,
            "queue": r.queue,
            "at": r.joined_at,
            "agent": r.agent,
            "agent_name": r.agent_name,
            "outcome": r.outcome,
            "cut_off": r.cut_off,
            "ended_at": r.ended_at,
            "outcome_record": outcome_view(latest[r.linkedid], show_notes) if r.linkedid in latest else None,
        }
        for r in found
    ]


async def chain_view(
    conn: AsyncConnection, server_id: str, linkedid: str, *, show_notes: bool, now: float
) -> dict[str, Any] | None:
    """The callback chain ``linkedid`` belongs to, as the rep who takes a callback (or a supervisor
    reviewing credit) needs it: every call of the chain in order (who had it, how it ended, their
    notes and disposition, what called it back and how that ended), the open order if any, the
    sales with their credit shares and the adjustments made to them. ``open_past_a_day`` uses the
    caller's clock ``now`` (never stored)."""
    cc = await customer_call_row(conn, server_id, linkedid)
    if cc is None:
        return None
    members = (
        await conn.execute(
            select(customer_calls)
            .where(customer_calls.c.server_id == server_id, customer_calls.c.chain_id == cc.chain_id)
            .order_by(customer_calls.c.chain_seq, customer_calls.c.joined_at)
        )
    ).all()
    latest = await latest_outcomes(conn, server_id, [m.linkedid for m in members])
    callbacks: dict[str, list[str]] = defaultdict(list)
    for m in members:
        if m.callback_of:
            callbacks[m.callback_of].append(m.linkedid)
    chain_calls = []
    for m in members:
        outcome = latest.get(m.linkedid)
        chain_calls.append(
            {
                "call_id": m.linkedid,
                "seq": m.chain_seq,
                "queue": m.queue,
                "at": m.joined_at,
                "ended_at": m.ended_at,
                "agent": m.agent,
                "agent_name": m.agent_name,
                "outcome": m.outcome,
                "ended_by": m.ended_by,
                "cut_off": m.cut_off,
                "cut_off_reasons": reasons_of(m.cut_off_reasons),
                "callback_of": m.callback_of,
                "callback_result": m.callback_result,
                "called_back_by": callbacks.get(m.linkedid, []),
                "outcome_record": outcome_view(outcome, show_notes) if outcome is not None else None,
            }
        )
    sale_list, _ = await chain_sales(conn, server_id, cc.chain_id)
    open_orders = [s for s in sale_list if s["order"] is not None and s["order"]["open"]]
    for sale in open_orders:
        sale["order"]["open_past_a_day"] = (
            now - (sale["order"]["opened_at"] or now) > OPEN_ORDER_REVIEW_SECONDS
        )
    made = (
        await conn.execute(
            select(adjustments)
            .where(adjustments.c.server_id == server_id, adjustments.c.chain_id == cc.chain_id)
            .order_by(adjustments.c.written_at, adjustments.c.id)
        )
    ).all()
    forward = [
        {"call_id": c["call_id"], "of": c["callback_of"], "agent": c["agent"], "agent_name": c["agent_name"],
         "at": c["at"], "outcome": c["outcome"], "callback_result": c["callback_result"],
         "disposition": (c["outcome_record"] or {}).get("disposition"),
         "resolved": (c["outcome_record"] or {}).get("resolved")}
        for c in chain_calls
        if c["callback_of"] == linkedid
    ]  # fmt: skip
    return {
        "chain_id": cc.chain_id,
        "call_id": linkedid,
        "calls": chain_calls,
        "called_back": bool(forward),
        "callbacks": forward,
        "open_order": open_orders[-1]["order"] | {"sale_id": open_orders[-1]["sale_id"]}
        if open_orders
        else None,
        "sales": sale_list,
        "credit_disputed": any(s["credit_disputed"] for s in sale_list),
        "adjustments": [
            {
                "sale_id": a.sale_id,
                "call_id": a.linkedid,
                "by": a.written_by,
                "at": a.written_at,
                "reason": a.reason,
                "before": json.loads(a.before),
                "after": json.loads(a.after),
            }
            for a in made
        ],
    }
