"""A supervisor's review of a flagged call: who marked it reviewed, when, their comment, and the
reasons it was flagged for at that moment. A call is off the review queue while its latest review
covers every reason it is flagged for; a reason that appears later (the customer called again, an
order stayed open) puts it back. Reviews are never edited: a second one is a new row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from acd.store.schema.outcomes import call_reviews

__all__ = ["COMMENT_MAX", "latest_reviews", "mark_reviewed", "reviews_of"]

COMMENT_MAX = 2000
_CHUNK = 500


async def mark_reviewed(
    conn: AsyncConnection,
    server_id: str,
    linkedid: str,
    *,
    by: str,
    at: float,
    comment: str,
    reasons: Sequence[str],
) -> int:
    """Record the review; returns its id."""
    row = (
        await conn.execute(
            insert(call_reviews)
            .values(
                server_id=server_id,
                linkedid=linkedid,
                reviewed_by=by,
                reviewed_at=at,
                comment=comment,
                reasons=json.dumps(sorted(set(reasons))),
            )
            .returning(call_reviews.c.id)
        )
    ).first()
    assert row is not None
    return int(row[0])


def _review(row: Any) -> dict[str, Any]:
    return {
        "by": row.reviewed_by,
        "at": row.reviewed_at,
        "comment": row.comment,
        "reasons": list(json.loads(row.reasons)),
    }


async def reviews_of(conn: AsyncConnection, server_id: str, linkedid: str) -> list[dict[str, Any]]:
    """Every review of the call, oldest first."""
    rows = await conn.execute(
        select(call_reviews)
        .where(call_reviews.c.server_id == server_id, call_reviews.c.linkedid == linkedid)
        .order_by(call_reviews.c.reviewed_at, call_reviews.c.id)
    )
    return [_review(r) for r in rows]


async def latest_reviews(
    conn: AsyncConnection, server_id: str, linkedids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """linkedid -> its latest review, for the calls that have one."""
    wanted = sorted(set(linkedids))
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(wanted), _CHUNK):
        rows = await conn.execute(
            select(call_reviews)
            .where(call_reviews.c.server_id == server_id, call_reviews.c.linkedid.in_(wanted[i : i + _CHUNK]))
            .order_by(call_reviews.c.reviewed_at, call_reviews.c.id)
        )
        for r in rows:
            found[r.linkedid] = _review(r)
    return found
