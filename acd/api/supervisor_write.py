"""A supervisor's writes on a stored call, shared by the API and the review page's forms: the credit
adjustment (``POST /api/v1/calls/{id}/credit``, an audited write through
:func:`acd.store.outcomes.adjust_credit`) and the review mark (``POST /api/v1/calls/{id}/review``).

A review records the reasons the call is flagged for at that moment
(:func:`acd.reads.review.review_flags`), so a reason that appears later puts it back on the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from acd.api.auth import Principal
from acd.api.call_write import CallWrite, Refused, supervisor_only
from acd.api.payloads import CreditBody
from acd.reads.review import review_flags
from acd.store.outcomes import AdjustmentInput, NotInChain, UnknownSale, adjust_credit
from acd.store.reviews import COMMENT_MAX, mark_reviewed
from acd.store.sales import CreditRules

__all__ = ["CreditWriter", "ReviewWriter"]


@dataclass
class CreditWriter(CallWrite):
    async def write(self, who: Principal, call_id: str, body: CreditBody) -> dict[str, Any]:
        """New shares for a sale of the call's chain; returns what the API answers (before, after)."""
        supervisor_only(who, "adjust credit")
        server_id = self.settings.server_id
        rules = CreditRules(self.settings.credit_policy, self.settings.credit_original_share)
        shares = tuple((s.agent, s.points) for s in body.shares)

        async def adjust(conn: AsyncConnection, linkedid: str) -> dict[str, Any]:
            try:
                sale, before = await adjust_credit(
                    conn,
                    server_id,
                    rules,
                    AdjustmentInput(linkedid, body.sale, shares, body.reason, who.written_by, self.clock()),
                )
            except UnknownSale:  # raised before anything was written
                if body.sale is not None:
                    raise Refused(404, "no such sale on this call's chain", field="sale") from None
                raise Refused(404, "this call's chain has no sale to adjust") from None
            except NotInChain as missing:  # raised before anything was written
                index = next(i for i, (agent, _) in enumerate(shares) if agent == missing.agent)
                raise Refused(
                    422, f"{missing.agent} had no call in this sale's chain", field=f"shares.{index}.agent"
                ) from None
            return {
                "call_id": linkedid,
                "sale_id": sale.sale_id,
                "before": before,
                "after": [
                    {"agent": s.agent, "points": s.points, "attribution": s.attribution} for s in sale.shares
                ],
                "reason": body.reason,
                "by": who.written_by,
            }

        return await self.on_call(call_id, adjust)


@dataclass
class ReviewWriter(CallWrite):
    async def write(self, who: Principal, call_id: str, comment: str) -> dict[str, Any]:
        """Record the review; returns what the API answers (call, reasons, by, at, comment)."""
        supervisor_only(who, "mark calls reviewed")
        text = comment.strip()
        if not text:
            raise Refused(422, "say what you found or did (it is kept with the review)", field="comment")
        if len(text) > COMMENT_MAX:
            raise Refused(422, f"at most {COMMENT_MAX} characters", field="comment")
        server_id = self.settings.server_id
        at = self.clock()

        async def review(conn: AsyncConnection, linkedid: str) -> dict[str, Any]:
            flagged = await review_flags(conn, server_id, 0.0, at + 1.0, now=at, linkedid=linkedid, limit=1)
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

        return await self.on_call(call_id, review)
