"""One customer call as the API and the pages show it; lists, a caller's history and a call's chain
are :mod:`acd.reads.call_lists`. Every figure is a column the core's customer-call stage recorded
(wait from the first arrival, the closing leg's agent and ending, the callback chain): the list and
the detail view read the same columns (:func:`call_summary`), so they cannot disagree.

A call an older acd recorded and ``acd db backfill`` has not filled yet has no customer-call row:
its detail is put together from its entries as they are (each entry its own leg, its own wait),
and it is marked ``"filled": false``.

Notes are included only when the reader may see them (``show_notes``; :func:`may_read_notes`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from acd.core.definitions import is_personal_queue
from acd.store.outcomes import locate_call, sale_json
from acd.store.rows import reasons_from_text
from acd.store.schema.outcomes import outcomes, sales
from acd.store.schema.outcomes import sale_credits as credits
from acd.store.schema.records import calls, customer_calls, decisions, offers

__all__ = [
    "answered_by",
    "call_summary",
    "chain_sales",
    "customer_call",
    "customer_call_row",
    "may_read_notes",
    "outcome_view",
    "reasons_of",
    "unanswered_reason",
    "unfilled_summary",
]

_CHUNK = 500


def reasons_of(text: str | None) -> list[str]:
    return list(reasons_from_text(text))


def _entry(row: Row[Any], entry_offers: Iterable[Row[Any]]) -> dict[str, Any]:
    m = row._mapping
    filled = m["leg_counted"] is not None
    return {
        "id": m["call_id"],
        "queue": m["queue"],
        "personal_queue": m["personal"],
        "reported_queue": m["leg_queue"] if filled else m["queue"],
        "counted": bool(m["leg_counted"]) if filled else not m["personal"] or m["outcome"] == "answered",
        "closing": bool(m["leg_closing"]) if filled else None,
        "joined_at": m["joined_at"],
        "answered_at": m["answered_at"],
        "ended_at": m["ended_at"],
        "outcome": m["outcome"],
        "exit_reason": m["exit_reason"],
        "agent": m["agent"],
        "agent_name": m["agent_name"],
        # The leg's wait from its first arrival (None: Asterisk never told), as every number counts it.
        "wait_seconds": m["leg_wait"] if filled else m["wait_seconds"],
        "talk_seconds": m["talk_seconds"],
        "ended_by": m["ended_by"],
        "cause": m["cause"],
        "cut_off": m["cut_off"],
        "cut_off_reasons": reasons_of(m["cut_off_reasons"]),
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


def outcome_view(row: Row[Any], show_notes: bool) -> dict[str, Any]:
    return {
        "disposition": row.disposition,
        "resolved": row.resolved,
        "notes": row.notes if show_notes else None,
        "notes_hidden": (not show_notes) and row.notes is not None,
        "points": row.points,
        "order": None
        if row.order_ref is None and row.order_status is None
        else {"ref": row.order_ref, "status": row.order_status, "left": row.order_left},
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


async def customer_call_row(conn: AsyncConnection, server_id: str, linkedid: str) -> Row[Any] | None:
    return (
        await conn.execute(
            select(customer_calls).where(
                customer_calls.c.server_id == server_id, customer_calls.c.linkedid == linkedid
            )
        )
    ).first()


async def _continuation(conn: AsyncConnection, server_id: str, linkedid: str) -> dict[str, Any] | None:
    """The call on another server that continues this one (passed over a trunk with ACD_ORIGIN):
    the pair is one customer call, counted as that one."""
    cc = customer_calls
    found = (
        await conn.execute(
            select(cc.c.server_id, cc.c.linkedid)
            .where(cc.c.origin_server == server_id, cc.c.origin_linkedid == linkedid)
            .order_by(cc.c.joined_at)
            .limit(1)
        )
    ).first()
    return None if found is None else {"server": found.server_id, "call_id": found.linkedid}


def _share(c: Row[Any]) -> dict[str, Any]:
    return {
        "sale_id": c.sale_id,
        "agent": c.agent,
        "agent_name": c.agent_name,
        "call_id": c.linkedid,
        "points": c.points,
        "attribution": c.attribution,
        "adjusted": c.adjusted,
    }


async def chain_sales(conn: AsyncConnection, server_id: str, chain_id: str) -> tuple[list[Any], list[Any]]:
    """The chain's sales with their shares (sale dicts), and its credit rows (flat)."""
    shares = (
        await conn.execute(
            select(credits)
            .where(credits.c.server_id == server_id, credits.c.chain_id == chain_id)
            .order_by(credits.c.sale_id, credits.c.id)
        )
    ).all()
    found = (
        await conn.execute(
            select(sales)
            .where(sales.c.server_id == server_id, sales.c.chain_id == chain_id)
            .order_by(sales.c.seq)
        )
    ).all()
    by_sale: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in shares:
        by_sale[c.sale_id].append(_share(c))
    out = [
        sale_json(
            s,
            by_sale.get(s.sale_id, []),
            policy=s.policy,
            at=s.at,
            original_call=s.original_call,
            closer_call=s.closer_call,
        )
        for s in found
    ]
    return out, [_share(c) for c in shares]


async def customer_call(
    conn: AsyncConnection, server_id: str, linkedid: str, *, reader_agent: str | None, supervisor: bool
) -> dict[str, Any] | None:
    """One customer call: its recorded columns, its entries with how each is counted, its routing
    decision, outcome history, the sales of its chain and their credit shares."""
    cc = await customer_call_row(conn, server_id, linkedid)
    rows = (
        await conn.execute(
            select(calls)
            .where(calls.c.server_id == server_id, calls.c.linkedid == linkedid)
            .order_by(calls.c.joined_at, calls.c.entry)
        )
    ).all()
    if cc is None and not rows:
        return None
    caller_key = cc.caller_key if cc is not None else next((r.caller_key for r in rows if r.caller_key), None)
    show_notes = supervisor or await may_read_notes(conn, server_id, reader_agent, caller_key, linkedid)
    by_entry: dict[str, list[Row[Any]]] = defaultdict(list)
    if rows:
        for offer in await conn.execute(
            select(offers)
            .where(offers.c.server_id == server_id, offers.c.call_id.in_([r.call_id for r in rows]))
            .order_by(offers.c.call_id, offers.c.seq)
        ):
            by_entry[offer.call_id].append(offer)
    history = (
        await conn.execute(
            select(outcomes)
            .where(outcomes.c.server_id == server_id, outcomes.c.linkedid == linkedid)
            .order_by(outcomes.c.written_at, outcomes.c.id)
        )
    ).all()
    decision = (
        await conn.execute(
            select(decisions)
            .where(
                decisions.c.server_id == server_id,
                decisions.c.uniqueid.in_({r.uniqueid for r in rows} or {linkedid}),
            )
            .order_by(decisions.c.decided_at)
            .limit(1)
        )
    ).first()
    chain_id = cc.chain_id if cc is not None else linkedid
    sale_list, shares = await chain_sales(conn, server_id, chain_id)
    body = call_summary(cc, rows) if cc is not None else unfilled_summary(rows)
    callback_of = body["callback_of"]
    original = None
    if callback_of:
        found = await customer_call_row(conn, server_id, callback_of)
        if found is None:
            where = await locate_call(conn, server_id, callback_of)
            found = await customer_call_row(conn, *where) if where is not None else None
        if found is not None:
            original = {
                "call_id": found.linkedid,
                "server": found.server_id,
                "agent": found.agent,
                "agent_name": found.agent_name,
                "cut_off_at": found.ended_at,
            }
    first = rows[0] if rows else None
    body.update(
        caller={
            "number": cc.caller_num if cc is not None else (first.caller_num if first is not None else None),
            "name": cc.caller_name if cc is not None else (first.caller_name if first is not None else None),
            "key": caller_key,
        },
        original=original,
        continued=await _continuation(conn, server_id, linkedid),
        routing=None
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
        entries=[_entry(r, by_entry.get(r.call_id, ())) for r in rows],
        outcome_record=outcome_view(history[-1], show_notes) if history else None,
        outcomes=[outcome_view(h, show_notes) for h in history],
        credits=shares,
        sales=sale_list,
    )
    return body


def call_summary(cc: Row[Any], rows: Sequence[Row[Any]]) -> dict[str, Any]:
    """The columns of a recorded customer call, as the list and the detail both show them."""
    return {
        "call_id": cc.linkedid,
        "filled": True,
        "queue": cc.queue,
        "joined_at": cc.joined_at,
        "answered_at": cc.answered_at,
        "ended_at": cc.ended_at,
        "live": cc.live,
        "final": cc.final,
        "outcome": cc.outcome,
        "agent": cc.agent,
        "agent_name": cc.agent_name,
        "wait_seconds": cc.wait_seconds,
        "talk_seconds": cc.talk_seconds,
        "ended_by": cc.ended_by,
        "cause": cc.cause,
        "cut_off": cc.cut_off,
        "cut_off_reasons": reasons_of(cc.cut_off_reasons),
        "agent_released_short": cc.agent_released_short,
        "partial": cc.partial,
        "legs": cc.legs,
        "callback_of": cc.callback_of,
        "callback_result": cc.callback_result,
        "repeat_of": cc.repeat_of,
        "chain": {"id": cc.chain_id, "seq": cc.chain_seq},
        "next_contact": None
        if cc.next_contact_at is None
        else {"call_id": cc.next_contact_call, "at": cc.next_contact_at},
        "repeat_exempt": bool(cc.repeat_exempt),
        "origin": None
        if cc.origin_server is None
        else {"server": cc.origin_server, "call_id": cc.origin_linkedid},
        "entry_ids": [r.call_id for r in rows],
    }


def unfilled_summary(rows: Sequence[Row[Any]]) -> dict[str, Any]:
    """A call an older acd recorded, not backfilled yet: its entries as they are."""
    answered = [r for r in rows if r.answered_at is not None]
    closing = answered[-1] if answered else None
    shared = next((r.queue for r in rows if not is_personal_queue(r.queue)), rows[0].queue)
    return {
        "call_id": rows[0].linkedid,
        "filled": False,
        "queue": shared,
        "joined_at": rows[0].joined_at,
        "answered_at": answered[0].answered_at if answered else None,
        "ended_at": max(r.ended_at for r in rows),
        "live": False,
        "final": True,
        "outcome": "answered" if answered else rows[-1].outcome,
        "agent": closing.agent if closing is not None else None,
        "agent_name": closing.agent_name if closing is not None else None,
        "wait_seconds": (answered[0].answered_at - rows[0].joined_at) if answered else None,
        "talk_seconds": sum(r.talk_seconds for r in rows),
        "ended_by": closing.ended_by if closing is not None else None,
        "cause": closing.cause if closing is not None else None,
        "cut_off": bool(closing is not None and closing.cut_off),
        "cut_off_reasons": reasons_of(closing.cut_off_reasons) if closing is not None else [],
        "agent_released_short": bool(closing is not None and closing.agent_released_short),
        "partial": any(r.partial for r in rows),
        "legs": len(rows),
        "callback_of": None,
        "callback_result": None,
        "repeat_of": None,
        "chain": {"id": rows[0].linkedid, "seq": 0},
        "next_contact": None,
        "repeat_exempt": False,
        "origin": None,
        "entry_ids": [r.call_id for r in rows],
    }
