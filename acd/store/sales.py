"""Sales credit in the database: the core's rule (acd/core/credit.py) applied to one chain's rows.

Called inside the writer's or the API's transaction whenever something a chain's credit depends on
changed: an outcome was written, a supervisor adjusted a sale, or a customer call of the chain was
recorded after outcomes had been posted on it. The chain's ``sales`` and ``sale_credits`` rows are
rewritten as a whole (a handful of rows), so the stored credit is always what the rule gives for
everything posted so far. Also keeps each customer call's latest-outcome summary (disposition,
resolved, notes state), so reports group by it without reading the outcome history.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from acd.core.credit import Adjustment, ChainCall, PostedOutcome, Sale, Share, settle_chain
from acd.core.definitions import CreditPolicy, notes_state
from acd.store.marks import note
from acd.store.schema.outcomes import adjustments, outcomes, sale_credits, sales
from acd.store.schema.records import customer_calls

__all__ = ["CreditRules", "chain_of", "refresh_outcome_summary", "settle_chain_credit"]

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class CreditRules:
    policy: CreditPolicy = "split"
    original_share: float = 0.5  # the original rep's share under ``split``


async def chain_of(conn: AsyncConnection, server_id: str, linkedid: str) -> str:
    """The chain a customer call belongs to (its own Linkedid when it has no row yet)."""
    found = (
        await conn.execute(
            select(customer_calls.c.chain_id).where(
                customer_calls.c.server_id == server_id, customer_calls.c.linkedid == linkedid
            )
        )
    ).scalar_one_or_none()
    return str(found) if found is not None else linkedid


async def settle_chain_credit(
    conn: AsyncConnection, server_id: str, chain_id: str, rules: CreditRules
) -> list[Sale]:
    """Recompute and store every sale of ``chain_id``; returns them."""
    members = (
        await conn.execute(
            select(
                customer_calls.c.linkedid,
                customer_calls.c.chain_seq,
                customer_calls.c.agent,
                customer_calls.c.agent_name,
                customer_calls.c.joined_at,
                customer_calls.c.queue,
            ).where(customer_calls.c.server_id == server_id, customer_calls.c.chain_id == chain_id)
        )
    ).all()
    chain = [ChainCall(m.linkedid, m.chain_seq, m.agent, m.agent_name, m.joined_at, m.queue) for m in members]
    linkedids = sorted({c.linkedid for c in chain} | {chain_id})
    posted: list[PostedOutcome] = []
    for i in range(0, len(linkedids), _CHUNK):
        posted.extend(
            PostedOutcome(
                o.id, o.linkedid, o.agent, o.points, o.order_ref, o.order_status, o.order_left, o.written_at
            )
            for o in await conn.execute(
                select(
                    outcomes.c.id,
                    outcomes.c.linkedid,
                    outcomes.c.agent,
                    outcomes.c.points,
                    outcomes.c.order_ref,
                    outcomes.c.order_status,
                    outcomes.c.order_left,
                    outcomes.c.written_at,
                ).where(outcomes.c.server_id == server_id, outcomes.c.linkedid.in_(linkedids[i : i + _CHUNK]))
            )
        )
    latest: dict[str, Adjustment] = {}
    for a in await conn.execute(
        select(adjustments.c.sale_id, adjustments.c.after, adjustments.c.written_at)
        .where(adjustments.c.server_id == server_id, adjustments.c.chain_id == chain_id)
        .order_by(adjustments.c.written_at, adjustments.c.id)
    ):
        shares = tuple((str(s["agent"]), float(s["points"])) for s in json.loads(a.after))
        latest[a.sale_id] = Adjustment(a.sale_id, shares, a.written_at)
    settled = settle_chain(
        chain_id,
        chain,
        posted,
        policy=rules.policy,
        original_share=rules.original_share,
        adjustments=latest,
    )
    before = await conn.execute(
        select(sales.c.at).where(sales.c.server_id == server_id, sales.c.chain_id == chain_id)
    )
    await note(conn, server_id, [*before.scalars(), *(sale.at for sale in settled)])
    await conn.execute(
        delete(sale_credits).where(sale_credits.c.server_id == server_id, sale_credits.c.chain_id == chain_id)
    )
    await conn.execute(delete(sales).where(sales.c.server_id == server_id, sales.c.chain_id == chain_id))
    if settled:
        await conn.execute(insert(sales), [_sale_row(server_id, s, rules.policy) for s in settled])
        credited = [_share_row(server_id, s, share) for s in settled for share in s.shares]
        if credited:
            await conn.execute(insert(sale_credits), credited)
    return settled


def _sale_row(server_id: str, sale: Sale, policy: str) -> dict[str, object]:
    return {
        "server_id": server_id,
        "sale_id": sale.sale_id,
        "chain_id": sale.chain_id,
        "seq": sale.seq,
        "points": sale.points,
        "disputed": sale.disputed,
        "settled": sale.settled,
        "order_ref": sale.order_ref,
        "order_open": sale.order_open,
        "order_left": sale.order_left,
        "order_opened_at": sale.order_opened_at,
        "original_call": sale.original_call,
        "closer_call": sale.closer_call,
        "queue": sale.queue,
        "at": sale.at,
        "updated_at": sale.updated_at,
        "policy": policy,
        "adjusted": sale.adjusted,
    }


def _share_row(server_id: str, sale: Sale, share: Share) -> dict[str, object]:
    return {
        "server_id": server_id,
        "sale_id": sale.sale_id,
        "chain_id": sale.chain_id,
        "agent": share.agent,
        "agent_name": share.agent_name,
        "linkedid": share.linkedid,
        "points": share.points,
        "attribution": share.attribution,
        "adjusted": sale.adjusted,
        "queue": sale.queue,
        "at": sale.at,
    }


async def refresh_outcome_summary(
    conn: AsyncConnection, server_id: str, linkedids: Iterable[str]
) -> set[str]:
    """Copy each customer call's latest outcome onto its row; returns the Linkedids that have one."""
    wanted: Sequence[str] = sorted(set(linkedids))
    latest: dict[str, Any] = {}
    for i in range(0, len(wanted), _CHUNK):
        for o in await conn.execute(
            select(
                outcomes.c.linkedid,
                outcomes.c.disposition,
                outcomes.c.resolved,
                outcomes.c.notes,
                outcomes.c.notes_purged,
                outcomes.c.written_at,
            )
            .where(outcomes.c.server_id == server_id, outcomes.c.linkedid.in_(wanted[i : i + _CHUNK]))
            .order_by(outcomes.c.written_at, outcomes.c.id)
        ):
            latest[o.linkedid] = o
    for i in range(0, len(wanted), _CHUNK):
        found = await conn.execute(
            select(customer_calls.c.joined_at).where(
                customer_calls.c.server_id == server_id, customer_calls.c.linkedid.in_(wanted[i : i + _CHUNK])
            )
        )
        await note(conn, server_id, found.scalars())
    for linkedid, o in latest.items():
        # Notes a purge erased existed: the summary written before the purge said so already.
        state = "written" if o.notes_purged else notes_state(o.notes)
        await conn.execute(
            update(customer_calls)
            .where(customer_calls.c.server_id == server_id, customer_calls.c.linkedid == linkedid)
            .values(
                disposition=o.disposition, resolved=o.resolved, notes_state=state, outcome_at=o.written_at
            )
        )
    return set(latest)
