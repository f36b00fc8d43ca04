"""Saving a call's outcome and its credit rows, shared by the HTTP API and the AMI ``UserEvent`` path.

The outcome belongs to the customer call (its Linkedid). Credit is recomputed from the latest
outcome on every write: the closer is the agent who answered the customer call (its last answered
entry), the original agent is the one who had the cut-off call this one is a callback of.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from acd.store.credit import attribute_credit
from acd.store.dialect import upsert_insert
from acd.store.models import Call, Credit, Outcome, table_of

__all__ = ["OutcomeInput", "resolve_linkedid", "save_outcome"]

calls = table_of(Call)
outcomes = table_of(Outcome)
credits = table_of(Credit)


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


async def resolve_linkedid(conn: AsyncConnection, server_id: str, ident: str) -> str | None:
    """The customer call an id names: a Linkedid, an entry id (``uniqueid[#n]``) or a Uniqueid."""
    row = (
        await conn.execute(
            select(calls.c.linkedid)
            .where(calls.c.server_id == server_id)
            .where((calls.c.linkedid == ident) | (calls.c.call_id == ident) | (calls.c.uniqueid == ident))
            .limit(1)
        )
    ).first()
    return None if row is None else str(row[0])


async def save_outcome(
    conn: AsyncConnection, server_id: str, policy: Literal["original", "closer", "split"], data: OutcomeInput
) -> int | None:
    """Insert the outcome (ignored when the same author already wrote it at the same instant, as
    in a replay) and rewrite the call's credit rows. Returns the new outcome's id, or None."""
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
    )
    stmt = stmt.on_conflict_do_nothing(index_elements=["server_id", "linkedid", "written_by", "written_at"])
    result = await conn.execute(stmt.returning(outcomes.c.id))
    row = result.first()
    if row is None:
        return None
    outcome_id = int(row[0])
    await _rewrite_credit(conn, server_id, policy, data, outcome_id)
    return outcome_id


async def _rewrite_credit(
    conn: AsyncConnection,
    server_id: str,
    policy: Literal["original", "closer", "split"],
    data: OutcomeInput,
    outcome_id: int,
) -> None:
    # Only the latest outcome decides credit: an older one replayed after a newer one changes nothing.
    latest = (
        await conn.execute(
            select(outcomes.c.id)
            .where(outcomes.c.server_id == server_id, outcomes.c.linkedid == data.linkedid)
            .order_by(outcomes.c.written_at.desc(), outcomes.c.id.desc())
            .limit(1)
        )
    ).scalar_one()
    if latest != outcome_id:
        return
    await conn.execute(
        delete(credits).where(credits.c.server_id == server_id, credits.c.linkedid == data.linkedid)
    )
    if data.points is None:
        return
    entries = (
        await conn.execute(
            select(calls.c.agent, calls.c.agent_name, calls.c.callback_of, calls.c.answered_at)
            .where(calls.c.server_id == server_id, calls.c.linkedid == data.linkedid)
            .order_by(calls.c.joined_at)
        )
    ).all()
    closer, closer_name = data.agent, None
    answered = [e for e in entries if e.agent is not None and e.answered_at is not None]
    if answered:
        closer, closer_name = answered[-1].agent, answered[-1].agent_name
    original = original_name = original_call = None
    for entry in entries:
        if entry.callback_of:
            found = (
                await conn.execute(
                    select(calls.c.agent, calls.c.agent_name).where(
                        calls.c.server_id == server_id, calls.c.call_id == entry.callback_of
                    )
                )
            ).first()
            original_call = entry.callback_of
            if found is not None and found.agent is not None:
                original, original_name = found.agent, found.agent_name
            break
    shares = attribute_credit(policy, data.points, closer, closer_name, original, original_name)
    if shares:
        await conn.execute(
            insert(credits),
            [
                {
                    "server_id": server_id,
                    "linkedid": data.linkedid,
                    "outcome_id": outcome_id,
                    "agent": share.agent,
                    "agent_name": share.agent_name,
                    "points": share.points,
                    "reason": share.reason,
                    "policy": policy,
                    "original_call_id": original_call,
                    "written_at": data.written_at,
                }
                for share in shares
            ],
        )
