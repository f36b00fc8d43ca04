"""The supervisor's credit adjustment, shared by ``POST /api/v1/calls/{id}/credit`` and the
review page's form: the same checks, the same audited write (:func:`acd.store.outcomes.adjust_credit`),
refusals with their HTTP status and field (see :class:`~acd.api.outcome_write.Refused`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from acd.api.auth import Principal
from acd.api.outcome_write import Refused
from acd.api.payloads import CreditBody
from acd.settings import Settings
from acd.store.engine import retry_contention
from acd.store.outcomes import AdjustmentInput, NotInChain, UnknownSale, adjust_credit, resolve_linkedid
from acd.store.sales import CreditRules

__all__ = ["CreditWriter"]


@dataclass
class CreditWriter:
    settings: Settings
    engine: AsyncEngine
    clock: Callable[[], float]

    async def write(self, who: Principal, call_id: str, body: CreditBody) -> dict[str, Any]:
        """New shares for a sale of the call's chain; returns what the API answers (before, after)."""
        if not who.is_supervisor:
            raise Refused(403, "only a supervisor may adjust credit")
        server_id = self.settings.server_id
        rules = CreditRules(self.settings.credit_policy, self.settings.credit_original_share)
        shares = tuple((s.agent, s.points) for s in body.shares)

        async def transaction() -> dict[str, Any]:
            async with self.engine.begin() as conn:
                linkedid = await resolve_linkedid(conn, server_id, call_id)
                if linkedid is None:
                    raise Refused(404, "unknown call")
                try:
                    sale, before = await adjust_credit(
                        conn,
                        server_id,
                        rules,
                        AdjustmentInput(
                            linkedid, body.sale, shares, body.reason, who.written_by, self.clock()
                        ),
                    )
                except UnknownSale:  # raised before anything was written
                    if body.sale is not None:
                        raise Refused(404, "no such sale on this call's chain", field="sale") from None
                    raise Refused(404, "this call's chain has no sale to adjust") from None
                except NotInChain as missing:  # raised before anything was written
                    index = next(i for i, (agent, _) in enumerate(shares) if agent == missing.agent)
                    raise Refused(
                        422,
                        f"{missing.agent} had no call in this sale's chain",
                        field=f"shares.{index}.agent",
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

        return await retry_contention(transaction)
