"""A supervisor marks a call reviewed with a comment: shared by ``POST /api/v1/calls/{id}/review``
and the review page's form. The review records the reasons the call is flagged for at that moment
(:func:`acd.reads.review.review_flags`), so a reason that appears later puts it back on the list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from acd.api.auth import Principal
from acd.api.outcome_write import Refused
from acd.reads.review import review_flags
from acd.settings import Settings
from acd.store.engine import retry_contention
from acd.store.outcomes import resolve_linkedid
from acd.store.reviews import COMMENT_MAX, mark_reviewed

__all__ = ["ReviewWriter"]


@dataclass
class ReviewWriter:
    settings: Settings
    engine: AsyncEngine
    clock: Callable[[], float]

    async def write(self, who: Principal, call_id: str, comment: str) -> dict[str, Any]:
        """Record the review; returns what the API answers (call, reasons, by, at, comment)."""
        if not who.is_supervisor:
            raise Refused(403, "only a supervisor may mark calls reviewed")
        text = comment.strip()
        if not text:
            raise Refused(422, "say what you found or did (it is kept with the review)", field="comment")
        if len(text) > COMMENT_MAX:
            raise Refused(422, f"at most {COMMENT_MAX} characters", field="comment")
        server_id = self.settings.server_id
        at = self.clock()

        async def transaction() -> dict[str, Any]:
            async with self.engine.begin() as conn:
                linkedid = await resolve_linkedid(conn, server_id, call_id)
                if linkedid is None:
                    raise Refused(404, "unknown call")
                flagged = await review_flags(
                    conn, server_id, 0.0, at + 1.0, now=at, linkedid=linkedid, limit=1
                )
                reasons = flagged[0].reasons if flagged else []
                await mark_reviewed(
                    conn, server_id, linkedid, by=who.written_by, at=at, comment=text, reasons=reasons
                )
            return {
                "call_id": linkedid,
                "reasons": sorted(reasons),
                "by": who.written_by,
                "at": at,
                "comment": text,
            }

        return await retry_contention(transaction)
