"""Caller history from the database, for the core and the routing index at daemon start.

The core keeps a short in-memory history of finished calls per caller key to recognise callbacks
and repeats; after a restart it is seeded from here (``Core.load_history`` and
``RoutingHandle.seed``), so a restart between a cut-off and its callback changes nothing. Rows
are returned oldest first, only those with a caller key (anonymous callers never match), only
within ``horizon`` seconds of ``now``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.core.linking import PastCall
from acd.store.models import Call, table_of

__all__ = ["load_past_calls"]

calls = table_of(Call)


async def load_past_calls(engine: AsyncEngine, server_id: str, now: float, horizon: float) -> list[PastCall]:
    query = (
        select(
            calls.c.call_id,
            calls.c.linkedid,
            calls.c.caller_key,
            calls.c.queue,
            calls.c.agent,
            calls.c.agent_name,
            calls.c.answered_at,
            calls.c.cut_off,
            calls.c.ended_at,
        )
        .where(
            calls.c.server_id == server_id,
            calls.c.caller_key.is_not(None),
            calls.c.ended_at >= now - horizon,
        )
        .order_by(calls.c.ended_at, calls.c.id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        PastCall(
            id=r.call_id,
            linkedid=r.linkedid,
            key=r.caller_key,
            queue=r.queue,
            agent=r.agent,
            agent_name=r.agent_name,
            answered=r.answered_at is not None,
            cut_off=bool(r.cut_off),
            ended_at=r.ended_at,
        )
        for r in rows
    ]
