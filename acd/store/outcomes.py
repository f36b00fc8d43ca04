"""Saving a call's outcome, shared by the HTTP API and the AMI ``UserEvent`` path, and the
supervisor's credit adjustment.

The outcome belongs to the customer call (its Linkedid). Every write refreshes the call's outcome
summary and settles its chain's credit again (acd/store/sales.py, the rule in acd/core/credit.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from acd.core.credit import Sale
from acd.store.dialect import upsert_insert
from acd.store.marks import collecting
from acd.store.sales import CreditRules, chain_of, refresh_outcome_summary, settle_chain_credit
from acd.store.schema.outcomes import adjustments, outcomes, sale_credits, sales
from acd.store.schema.records import calls, customer_calls

__all__ = [
    "AdjustmentInput",
    "OutcomeInput",
    "adjust_credit",
    "resolve_linkedid",
    "sale_json",
    "save_outcome",
]


@dataclass(frozen=True, slots=True)
class OutcomeInput:
    linkedid: str
    call_id: str | None
    agent: str | None
    disposition: str | None
    resolved: bool | None
    notes: str | None
    points: float | None
    written_by: str
    written_at: float
    source: Literal["api", "ami"]
    order_ref: str | None = None
    order_status: Literal["open", "closed"] | None = None
    order_left: str | None = None


@dataclass(frozen=True, slots=True)
class AdjustmentInput:
    linkedid: str  # the customer call the request named
    sale_id: str | None  # None: the latest sale of the call's chain
    shares: tuple[tuple[str, float], ...]
    reason: str
    written_by: str
    written_at: float


class UnknownSale(LookupError):
    """The named call has no sale to adjust (or not the one named)."""


class NotInChain(ValueError):
    """An adjusted share names a rep who had no call in the sale's chain."""

    def __init__(self, agent: str) -> None:
        super().__init__(agent)
        self.agent = agent


async def resolve_linkedid(conn: AsyncConnection, server_id: str, ident: str) -> str | None:
    """The customer call an id names: a Linkedid, an entry id (``uniqueid[#n]``) or a Uniqueid.
    A call still in progress is known by its Linkedid from its first queue entry on."""
    found = (
        await conn.execute(
            select(customer_calls.c.linkedid).where(
                customer_calls.c.server_id == server_id, customer_calls.c.linkedid == ident
            )
        )
    ).first()
    if found is not None:
        return str(found[0])
    row = (
        await conn.execute(
            select(calls.c.linkedid)
            .where(calls.c.server_id == server_id)
            .where((calls.c.linkedid == ident) | (calls.c.call_id == ident) | (calls.c.uniqueid == ident))
            .limit(1)
        )
    ).first()
    return None if row is None else str(row[0])


async def locate_call(conn: AsyncConnection, server_id: str, ident: str) -> tuple[str, str] | None:
    """(server, Linkedid) of the customer call an id names: this server's first, else another's.
    A callback through this server may name a cut-off another server recorded; with each server's
    ``systemname`` set, Asterisk's ids are unique across servers, so the id alone finds it."""
    here = await resolve_linkedid(conn, server_id, ident)
    if here is not None:
        return server_id, here
    row = (
        await conn.execute(
            select(calls.c.server_id, calls.c.linkedid)
            .where(calls.c.server_id != server_id)
            .where((calls.c.linkedid == ident) | (calls.c.call_id == ident))
            .order_by(calls.c.ended_at.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else (str(row[0]), str(row[1]))


async def save_outcome(
    conn: AsyncConnection, server_id: str, rules: CreditRules, data: OutcomeInput
) -> int | None:
    """Insert the outcome (ignored when the same author already wrote it at the same instant, as
    in a replay), refresh the call's summary and settle its chain. Returns the new id, or None."""
    stmt = upsert_insert(conn, outcomes).values(
        server_id=server_id,
        linkedid=data.linkedid,
        call_id=data.call_id,
        agent=data.agent,
        disposition=data.disposition,
        resolved=data.resolved,
        notes=data.notes,
        points=data.points,
        written_by=data.written_by,
        written_at=data.written_at,
        source=data.source,
        order_ref=data.order_ref,
        order_status=data.order_status,
        order_left=data.order_left,
    )
    stmt = stmt.on_conflict_do_nothing(index_elements=["server_id", "linkedid", "written_by", "written_at"])
    row = (await conn.execute(stmt.returning(outcomes.c.id))).first()
    if row is None:
        return None
    async with collecting(conn):
        await refresh_outcome_summary(conn, server_id, [data.linkedid])
        await settle_chain_credit(conn, server_id, await chain_of(conn, server_id, data.linkedid), rules)
    return int(row[0])


async def adjust_credit(
    conn: AsyncConnection, server_id: str, rules: CreditRules, data: AdjustmentInput
) -> tuple[Sale, list[dict[str, object]]]:
    """Record a supervisor's new shares for a sale of the call's chain (audit: who, when, why,
    before, after) and settle the chain again. Returns the adjusted sale and the shares before."""
    chain_id = await chain_of(conn, server_id, data.linkedid)
    query = select(sales.c.sale_id).where(sales.c.server_id == server_id, sales.c.chain_id == chain_id)
    sale_id = data.sale_id
    if sale_id is None:
        sale_id = (await conn.execute(query.order_by(sales.c.seq.desc()).limit(1))).scalar_one_or_none()
    elif (await conn.execute(query.where(sales.c.sale_id == sale_id))).first() is None:
        sale_id = None
    if sale_id is None:
        raise UnknownSale(data.linkedid)
    members = {
        r[0]
        for r in await conn.execute(
            select(customer_calls.c.agent).where(
                customer_calls.c.server_id == server_id,
                customer_calls.c.chain_id == chain_id,
                customer_calls.c.agent.is_not(None),
            )
        )
    }
    for agent, _ in data.shares:
        if agent not in members:
            raise NotInChain(agent)
    before = [
        {"agent": r.agent, "points": r.points, "attribution": r.attribution}
        for r in await conn.execute(
            select(sale_credits.c.agent, sale_credits.c.points, sale_credits.c.attribution)
            .where(sale_credits.c.server_id == server_id, sale_credits.c.sale_id == sale_id)
            .order_by(sale_credits.c.agent)
        )
    ]
    await conn.execute(
        insert(adjustments).values(
            server_id=server_id,
            sale_id=sale_id,
            chain_id=chain_id,
            linkedid=data.linkedid,
            written_by=data.written_by,
            written_at=data.written_at,
            reason=data.reason,
            before=json.dumps(before),
            after=json.dumps([{"agent": a, "points": p} for a, p in data.shares]),
        )
    )
    async with collecting(conn):
        settled = await settle_chain_credit(conn, server_id, chain_id, rules)
    sale = next(s for s in settled if s.sale_id == sale_id)
    return sale, before


def shares_json(sale: Sale) -> list[dict[str, object]]:
    return [
        {
            "agent": s.agent,
            "agent_name": s.agent_name,
            "call_id": s.linkedid,
            "points": s.points,
            "attribution": s.attribution,
        }
        for s in sale.shares
    ]


def sale_json(s: Any, shares: list[dict[str, Any]], **more: object) -> dict[str, object]:
    """One sale as the API and the pages show it (a core :class:`Sale` or a ``sales`` row);
    ``more`` (its policy, times and calls) goes after its flags."""
    return {
        "sale_id": s.sale_id,
        "points": s.points,
        "settled": s.settled,
        "credit_disputed": s.disputed,
        "adjusted": s.adjusted,
        **more,
        "order": None
        if s.order_ref is None and not s.order_open
        else {
            "ref": s.order_ref,
            "open": s.order_open,
            "left": s.order_left,
            "opened_at": s.order_opened_at,
        },
        "shares": shares,
    }


def sales_json(found: Sequence[Sale]) -> list[dict[str, object]]:
    return [sale_json(s, shares_json(s)) for s in found]
