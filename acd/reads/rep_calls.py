"""The calls behind a rep's figures: the cut-off calls counted in their ``cut_offs``, the credit
rows summed in their ``credit_points``, and the callbacks each cut-off customer made. Same rows,
same conditions as :mod:`acd.reads.summary` over the same period, so a list on the desk adds up to
the number beside it, and to the rep's row of ``acd report``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from acd.reads.calls import customer_call
from acd.reads.summary_sql import leg_rules
from acd.store.schema.outcomes import sale_credits
from acd.store.schema.records import calls

__all__ = ["callbacks_of", "credited_calls", "cut_off_legs"]


async def cut_off_legs(
    conn: AsyncConnection, server_id: str, agent: str, since: float, until: float, *, limit: int = 50
) -> list[dict[str, Any]]:
    """The rep's answered legs that were cut off and arrived in [since, until), newest first: what
    the summary's ``cut_offs`` counts (``call_id``: the customer call; ``entry``: the leg)."""
    counted, _queue, _wait = leg_rules()
    rows = await conn.execute(
        select(calls.c.linkedid, calls.c.call_id, calls.c.joined_at)
        .where(
            calls.c.server_id == server_id,
            counted,
            calls.c.agent == agent,
            calls.c.outcome == "answered",
            calls.c.cut_off == true(),
            calls.c.joined_at >= since,
            calls.c.joined_at < until,
        )
        .order_by(calls.c.joined_at.desc())
        .limit(limit)
    )
    return [{"call_id": r.linkedid, "entry": r.call_id, "at": r.joined_at} for r in rows]


async def credited_calls(
    conn: AsyncConnection, server_id: str, agent: str, since: float, until: float, *, limit: int = 100
) -> list[dict[str, Any]]:
    """The rep's credit shares of the sales dated in [since, until), newest first: what the
    summary's ``credit_points`` adds up."""
    rows = await conn.execute(
        select(
            sale_credits.c.linkedid,
            sale_credits.c.sale_id,
            sale_credits.c.points,
            sale_credits.c.attribution,
            sale_credits.c.at,
        )
        .where(
            sale_credits.c.server_id == server_id,
            sale_credits.c.agent == agent,
            sale_credits.c.at >= since,
            sale_credits.c.at < until,
        )
        .order_by(sale_credits.c.at.desc(), sale_credits.c.id.desc())
        .limit(limit)
    )
    return [
        {
            "call_id": r.linkedid,
            "sale_id": r.sale_id,
            "points": r.points,
            "attribution": r.attribution,
            "at": r.at,
        }
        for r in rows
    ]


async def callbacks_of(
    conn: AsyncConnection, server_id: str, entry_ids: list[str], *, limit: int = 5
) -> list[dict[str, Any]]:
    """The customer calls that are callbacks of the given (cut-off) legs, oldest first, each as
    :func:`acd.reads.calls.customer_call` reads it (who took it, its outcome, the chain's credit)."""
    if not entry_ids:
        return []
    rows = await conn.execute(
        select(calls.c.linkedid)
        .where(calls.c.server_id == server_id, calls.c.callback_of.in_(entry_ids))
        .order_by(calls.c.joined_at)
    )
    seen: list[str] = []
    for row in rows:
        if row.linkedid not in seen:
            seen.append(row.linkedid)
    found = []
    for linkedid in seen[:limit]:
        call = await customer_call(conn, server_id, linkedid, reader_agent=None, supervisor=True)
        if call is not None:
            found.append(call)
    return found
