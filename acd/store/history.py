"""Caller history from the database, for the core and the routing index at daemon start.

The core keeps a short in-memory history of finished calls per caller key to recognise callbacks
and repeats; after a restart it is seeded from here (``Core.load_history`` and
``RoutingHandle.seed``), so a restart between a cut-off and its callback changes nothing. Rows
are returned oldest first, only those with a caller key (anonymous callers never match), only
within ``horizon`` seconds of ``now``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from acd.core.caller_history import PastCall
from acd.store.schema.records import calls, customer_calls

__all__ = ["known_call_ids", "load_past_calls", "named_past_calls"]

_CHUNK = 500


def _past_calls() -> Select[Any]:
    """Entries with their customer call's callback chain (a callback after a restart joins it)."""
    return select(
        calls.c.call_id,
        calls.c.linkedid,
        calls.c.caller_key,
        func.coalesce(calls.c.leg_queue, calls.c.queue).label("queue"),
        calls.c.agent,
        calls.c.agent_name,
        calls.c.answered_at,
        calls.c.cut_off,
        calls.c.ended_at,
        calls.c.unknown_fields,
        customer_calls.c.chain_id,
        customer_calls.c.chain_seq,
        calls.c.server_id,
        calls.c.joined_at,
    ).select_from(
        calls.outerjoin(
            customer_calls,
            and_(
                customer_calls.c.server_id == calls.c.server_id, customer_calls.c.linkedid == calls.c.linkedid
            ),
        )
    )


def _past(r: Row[Any], here: str) -> PastCall:
    return PastCall(
        id=r.call_id,
        linkedid=r.linkedid,
        key=r.caller_key or "",
        queue=r.queue,
        agent=r.agent,
        agent_name=r.agent_name,
        answered=r.answered_at is not None,
        cut_off=bool(r.cut_off),
        ended_at=r.ended_at,
        chain_id=r.chain_id,
        chain_seq=r.chain_seq or 0,
        cut_off_known="cut_off" not in json.loads(r.unknown_fields or "[]"),
        server="" if r.server_id == here else r.server_id,
        joined_at=r.joined_at,
    )


async def load_past_calls(engine: AsyncEngine, server_id: str, now: float, horizon: float) -> list[PastCall]:
    """Every server's calls: a caller cut off on one server may call back through another."""
    query = (
        _past_calls()
        .where(
            calls.c.caller_key.is_not(None),
            calls.c.ended_at >= now - horizon,
        )
        .order_by(calls.c.ended_at, calls.c.id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [_past(r, server_id) for r in rows]


async def named_past_calls(conn: AsyncConnection, server_id: str, entry_ids: Sequence[str]) -> list[PastCall]:
    """The entries ``entry_ids`` names (callbacks and repeats name earlier entries), any age."""
    found: list[PastCall] = []
    for i in range(0, len(entry_ids), _CHUNK):
        chunk = entry_ids[i : i + _CHUNK]
        query = _past_calls().where(calls.c.server_id == server_id, calls.c.call_id.in_(chunk))
        found.extend(_past(r, server_id) for r in await conn.execute(query))
    return found


async def known_call_ids(engine: AsyncEngine, server_id: str, since: float) -> list[str]:
    """Ids of this server's calls already recorded that ended at or after ``since``: a new leader's
    queue_log reading does not record them again (nor count them twice)."""
    query = select(calls.c.call_id).where(calls.c.server_id == server_id, calls.c.ended_at >= since)
    async with engine.connect() as conn:
        return [str(r[0]) for r in (await conn.execute(query)).all()]
