"""Reads behind the API: customer calls (entries grouped by Linkedid), outcomes, credits, history.

Everything returns JSON-able dicts. Notes are included only when ``show_notes`` says the reader
may see them (decided by :func:`may_read_notes`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from acd.store.models import (
    Call,
    CustomerCallRow,
    Offer,
    Outcome,
    RoutingDecision,
    SaleCredit,
    is_personal_queue,
    table_of,
)

__all__ = [
    "answered_by",
    "caller_history",
    "customer_call",
    "list_calls",
    "may_read_notes",
    "shared_queue",
]

calls = table_of(Call)
offers = table_of(Offer)
outcomes = table_of(Outcome)
credits = table_of(SaleCredit)
customer_calls = table_of(CustomerCallRow)
decisions = table_of(RoutingDecision)


def shared_queue(queues: Sequence[str]) -> str | None:
    """The queue a customer call is reported under: its first shared (non-personal) queue."""
    for queue in queues:
        if not is_personal_queue(queue):
            return queue
    return queues[0] if queues else None


def _entry(row: Row[Any], entry_offers: Iterable[Row[Any]]) -> dict[str, Any]:
    m = row._mapping
    return {
        "id": m["call_id"],
        "queue": m["queue"],
        "personal_queue": m["personal"],
        "joined_at": m["joined_at"],
        "answered_at": m["answered_at"],
        "ended_at": m["ended_at"],
        "outcome": m["outcome"],
        "exit_reason": m["exit_reason"],
        "agent": m["agent"],
        "agent_name": m["agent_name"],
        "wait_seconds": m["wait_seconds"],
        "talk_seconds": m["talk_seconds"],
        "ended_by": m["ended_by"],
        "cause": m["cause"],
        "cut_off": m["cut_off"],
        "cut_off_reasons": json.loads(m["cut_off_reasons"]) if m["cut_off_reasons"] else [],
        "agent_released_short": m["agent_released_short"],
        "callback_of": m["callback_of"],
        "repeat_of": m["repeat_of"],
        "routing": m["routing"],
        "partial": m["partial"],
        "offers": [
            {
                "agent": o.agent,
                "agent_name": o.agent_name,
                "rang_at": o.rang_at,
                "result": o.result,
                "ring_seconds": o.ring_seconds,
            }
            for o in entry_offers
        ],
    }


def _outcome(row: Row[Any], show_notes: bool) -> dict[str, Any]:
    return {
        "disposition": row.disposition,
        "resolved": row.resolved,
        "notes": row.notes if show_notes else None,
        "notes_hidden": (not show_notes) and row.notes is not None,
        "points": row.points,
        "agent": row.agent,
        "written_by": row.written_by,
        "written_at": row.written_at,
        "source": row.source,
    }


async def answered_by(conn: AsyncConnection, server_id: str, linkedid: str) -> set[str]:
    rows = await conn.execute(
        select(calls.c.agent).where(
            calls.c.server_id == server_id, calls.c.linkedid == linkedid, calls.c.answered_at.is_not(None)
        )
    )
    return {r[0] for r in rows if r[0]}


async def unanswered_reason(conn: AsyncConnection, server_id: str, linkedid: str) -> str | None:
    """Why a customer call has no conversation to record an outcome for (nobody answered any of its
    entries, and how it ended), or None when someone answered it."""
    rows = (
        await conn.execute(
            select(calls.c.outcome, calls.c.exit_reason, calls.c.answered_at)
            .where(calls.c.server_id == server_id, calls.c.linkedid == linkedid)
            .order_by(calls.c.joined_at)
        )
    ).all()
    if not rows or any(r.answered_at is not None for r in rows):
        return None
    last = rows[-1]
    how = f"{last.outcome} ({last.exit_reason})" if last.exit_reason else str(last.outcome)
    return f"nobody answered this call (it ended {how}): an outcome records a conversation"


async def may_read_notes(
    conn: AsyncConnection, server_id: str, agent: str | None, caller_key: str | None, linkedid: str | None
) -> bool:
    """An agent reads notes of a caller when they answered one of that caller's calls (or, for a
    caller without a key, this very call)."""
    if agent is None:
        return False
    query = select(calls.c.id).where(calls.c.server_id == server_id, calls.c.agent == agent)
    if caller_key is not None:
        query = query.where(calls.c.caller_key == caller_key)
    elif linkedid is not None:
        query = query.where(calls.c.linkedid == linkedid)
    else:
        return False
    return (await conn.execute(query.limit(1))).first() is not None


async def customer_call(
    conn: AsyncConnection, server_id: str, linkedid: str, *, reader_agent: str | None, supervisor: bool
) -> dict[str, Any] | None:
    rows = (
        await conn.execute(
            select(calls)
            .where(calls.c.server_id == server_id, calls.c.linkedid == linkedid)
            .order_by(calls.c.joined_at, calls.c.entry)
        )
    ).all()
    if not rows:
        return None
    first = rows[0]
    caller_key = next((r.caller_key for r in rows if r.caller_key), None)
    show_notes = supervisor or await may_read_notes(conn, server_id, reader_agent, caller_key, linkedid)
    offer_rows = (
        await conn.execute(
            select(offers)
            .where(offers.c.server_id == server_id, offers.c.call_id.in_([r.call_id for r in rows]))
            .order_by(offers.c.call_id, offers.c.seq)
        )
    ).all()
    by_entry: dict[str, list[Row[Any]]] = defaultdict(list)
    for offer in offer_rows:
        by_entry[offer.call_id].append(offer)
    history = (
        await conn.execute(
            select(outcomes)
            .where(outcomes.c.server_id == server_id, outcomes.c.linkedid == linkedid)
            .order_by(outcomes.c.written_at, outcomes.c.id)
        )
    ).all()
    chain_id = (
        await conn.execute(
            select(customer_calls.c.chain_id).where(
                customer_calls.c.server_id == server_id, customer_calls.c.linkedid == linkedid
            )
        )
    ).scalar_one_or_none() or linkedid
    credit_rows = (
        await conn.execute(
            select(credits)
            .where(credits.c.server_id == server_id, credits.c.chain_id == chain_id)
            .order_by(credits.c.sale_id, credits.c.id)
        )
    ).all()
    answered = [r for r in rows if r.answered_at is not None]
    callback_of = next((r.callback_of for r in rows if r.callback_of), None)
    decision = (
        await conn.execute(
            select(decisions)
            .where(decisions.c.server_id == server_id, decisions.c.uniqueid.in_({r.uniqueid for r in rows}))
            .order_by(decisions.c.decided_at)
            .limit(1)
        )
    ).first()
    original = None
    if callback_of:
        found = (
            await conn.execute(
                select(calls.c.agent, calls.c.agent_name, calls.c.ended_at, calls.c.linkedid).where(
                    calls.c.server_id == server_id, calls.c.call_id == callback_of
                )
            )
        ).first()
        if found is not None:
            original = {
                "call_id": found.linkedid,
                "agent": found.agent,
                "agent_name": found.agent_name,
                "cut_off_at": found.ended_at,
            }
    return {
        "call_id": linkedid,
        "queue": shared_queue([r.queue for r in rows]),
        "caller": {"number": first.caller_num, "name": first.caller_name, "key": caller_key},
        "joined_at": first.joined_at,
        "ended_at": max(r.ended_at for r in rows),
        "outcome": "answered" if answered else rows[-1].outcome,
        "agent": answered[-1].agent if answered else None,
        "agent_name": answered[-1].agent_name if answered else None,
        "callback_of": callback_of,
        "original": original,
        "routing": None
        if decision is None
        else {
            "reason": decision.reason,
            "action": decision.action,
            "shadow": decision.shadow,
            "queue": decision.queue,
            "preferred_agent": decision.agent,
            "preferred_agent_name": decision.agent_name,
            "detail": decision.detail,
            "decided_at": decision.decided_at,
        },
        "entries": [_entry(r, by_entry.get(r.call_id, ())) for r in rows],
        "outcome_record": _outcome(history[-1], show_notes) if history else None,
        "outcomes": [_outcome(h, show_notes) for h in history],
        "credits": [
            {
                "sale_id": c.sale_id,
                "agent": c.agent,
                "agent_name": c.agent_name,
                "call_id": c.linkedid,
                "points": c.points,
                "attribution": c.attribution,
                "adjusted": c.adjusted,
            }
            for c in credit_rows
        ],
    }


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
    """Customer calls with at least one entry matching the filters, newest first (no notes)."""
    query = select(calls.c.linkedid).where(calls.c.server_id == server_id)
    if agent is not None:
        query = query.where(calls.c.agent == agent)
    if queue is not None:
        query = query.where(calls.c.queue == queue)
    if since is not None:
        query = query.where(calls.c.joined_at >= since)
    if until is not None:
        query = query.where(calls.c.joined_at < until)
    ids = (
        (await conn.execute(query.group_by(calls.c.linkedid).order_by(_max_joined().desc()).limit(limit)))
        .scalars()
        .all()
    )
    if not ids:
        return []
    rows = (
        await conn.execute(
            select(calls)
            .where(calls.c.server_id == server_id, calls.c.linkedid.in_(ids))
            .order_by(calls.c.joined_at, calls.c.entry)
        )
    ).all()
    latest: dict[str, Row[Any]] = {}
    for o in (
        await conn.execute(
            select(outcomes)
            .where(outcomes.c.server_id == server_id, outcomes.c.linkedid.in_(ids))
            .order_by(outcomes.c.written_at, outcomes.c.id)
        )
    ).all():
        latest[o.linkedid] = o
    grouped: dict[str, list[Row[Any]]] = defaultdict(list)
    for row in rows:
        grouped[row.linkedid].append(row)
    result = []
    for linkedid in ids:
        entries = grouped[linkedid]
        answered = [r for r in entries if r.answered_at is not None]
        outcome = latest.get(linkedid)
        result.append(
            {
                "call_id": linkedid,
                "queue": shared_queue([r.queue for r in entries]),
                "caller_number": entries[0].caller_num,
                "joined_at": entries[0].joined_at,
                "outcome": "answered" if answered else entries[-1].outcome,
                "agent": answered[-1].agent if answered else None,
                "agent_name": answered[-1].agent_name if answered else None,
                "wait_seconds": (answered[0].answered_at - entries[0].joined_at)
                if answered and answered[0].answered_at is not None
                else max(r.ended_at for r in entries) - entries[0].joined_at,
                "talk_seconds": sum(r.talk_seconds for r in entries),
                "cut_off": any(r.cut_off for r in entries),
                "callback_of": next((r.callback_of for r in entries if r.callback_of), None),
                "entries": [r.call_id for r in entries],
                "disposition": outcome.disposition if outcome is not None else None,
                "has_notes": bool(outcome is not None and outcome.notes),
            }
        )
    return result


def _max_joined() -> Any:
    from sqlalchemy import func

    return func.max(calls.c.joined_at)


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
    rows = (
        await conn.execute(
            select(calls)
            .where(
                calls.c.server_id == server_id, calls.c.caller_key == caller_key, calls.c.joined_at >= since
            )
            .order_by(calls.c.joined_at.desc())
        )
    ).all()
    grouped: dict[str, list[Row[Any]]] = {}
    for row in rows:
        if row.linkedid != exclude_linkedid:
            grouped.setdefault(row.linkedid, []).append(row)
    ids = list(grouped)[:limit]
    latest: dict[str, Row[Any]] = {}
    if ids:
        for o in (
            await conn.execute(
                select(outcomes)
                .where(outcomes.c.server_id == server_id, outcomes.c.linkedid.in_(ids))
                .order_by(outcomes.c.written_at, outcomes.c.id)
            )
        ).all():
            latest[o.linkedid] = o
    history = []
    for linkedid in ids:
        entries = sorted(grouped[linkedid], key=lambda r: r.joined_at)
        answered = [r for r in entries if r.answered_at is not None]
        outcome = latest.get(linkedid)
        history.append(
            {
                "call_id": linkedid,
                "queue": shared_queue([r.queue for r in entries]),
                "at": entries[0].joined_at,
                "agent": answered[-1].agent if answered else None,
                "agent_name": answered[-1].agent_name if answered else None,
                "outcome": "answered" if answered else entries[-1].outcome,
                "cut_off": any(r.cut_off for r in entries),
                "ended_at": max(r.ended_at for r in entries),
                "outcome_record": _outcome(outcome, show_notes) if outcome is not None else None,
            }
        )
    return history
