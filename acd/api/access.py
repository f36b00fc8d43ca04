"""Who may read a call: the one rule the API and the pages ask before they show one.

Supervisors read every call. An agent reads a call that is ringing them or that they are on now,
a call they were offered or answered, and a call that shares a callback chain or a repeat link
(either direction) with a call they answered, so the rep who takes a callback sees the cut-off
call before it, and the rep who was cut off sees who finished. A wallboard sign-in reads no call. Anything
else is refused with 403.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from acd.api.auth import Principal
from acd.store.schema.records import calls, offers

__all__ = ["may_read_call"]

CHAIN_HOPS = 20  # a callback chain longer than this is not a real customer's


async def may_read_call(
    conn: AsyncConnection,
    server_id: str,
    who: Principal,
    linkedid: str,
    *,
    live_entries: Collection[str] = (),
) -> bool:
    """``live_entries``: the entry ids of the call that are ringing ``who`` or connected to them
    now (from the core's live picture: a ringing call has no row yet)."""
    if who.is_supervisor:
        return True
    if who.role != "agent" or not who.agent:
        return False
    agent = who.agent
    if live_entries:
        return True
    entries = (
        await conn.execute(
            select(calls.c.call_id, calls.c.agent, calls.c.callback_of, calls.c.repeat_of).where(
                calls.c.server_id == server_id, calls.c.linkedid == linkedid
            )
        )
    ).all()
    if any(e.agent == agent for e in entries):
        return True
    ids = [e.call_id for e in entries]
    if ids and await _exists(
        conn,
        select(offers.c.id).where(
            offers.c.server_id == server_id, offers.c.call_id.in_(ids), offers.c.agent == agent
        ),
    ):
        return True
    # Linked calls: a repeat link one step either way; a callback chain (cut off, called back,
    # cut off again, closed: one sale) all the way, so every rep on the chain sees all of it. Repeat
    # links are not followed further: a caller who calls every day would link every call they ever
    # made, and "spoke to this caller once" is not a reason to read their calls.
    answered_by_them = select(calls.c.id).where(calls.c.server_id == server_id, calls.c.agent == agent)
    repeats = {e.repeat_of for e in entries if e.repeat_of}
    if repeats and await _exists(conn, answered_by_them.where(calls.c.call_id.in_(repeats))):
        return True
    if ids and await _exists(conn, answered_by_them.where(calls.c.repeat_of.in_(ids))):
        return True
    chain = set(ids)
    frontier = {e.callback_of for e in entries if e.callback_of} | chain
    for _ in range(CHAIN_HOPS):
        if not frontier:
            break
        rows = (
            await conn.execute(
                select(calls.c.call_id, calls.c.agent, calls.c.callback_of).where(
                    calls.c.server_id == server_id,
                    or_(calls.c.call_id.in_(frontier), calls.c.callback_of.in_(frontier)),
                )
            )
        ).all()
        if any(r.agent == agent for r in rows):
            return True
        chain |= frontier
        frontier = ({r.call_id for r in rows} | {r.callback_of for r in rows if r.callback_of}) - chain
    return False


async def _exists(conn: AsyncConnection, query: Select[Any]) -> bool:
    return (await conn.execute(query.limit(1))).first() is not None
