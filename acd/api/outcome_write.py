"""The one outcome write, shared by ``POST /api/v1/calls/{id}/outcome`` and the desk's form.

Both paths check the same permissions, store through :func:`acd.store.outcomes.save_outcome` and
tell the metrics, so a rep's outcome means the same whichever way it was posted. Refusals carry the
HTTP status and the offending field; each caller renders them its own way (JSON or a page).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from acd.api.auth import Principal
from acd.api.call_write import CallWrite, Refused
from acd.api.payloads import OutcomeBody
from acd.core.effects import OutcomeReported
from acd.reads.calls import answered_by, customer_call, unanswered_reason
from acd.store.outcomes import OutcomeInput, save_outcome
from acd.store.sales import CreditRules

__all__ = ["STORED_WAIT_SECONDS", "OutcomeWriter"]

log = structlog.get_logger("acd.api")

STORED_WAIT_SECONDS = 5.0  # how long a write or a page waits for acd's records to reach the database
NOT_STORED_YET = "acd has not stored this call yet (its database is behind); retry in a moment"


@dataclass
class OutcomeWriter(CallWrite):
    on_outcome: Callable[[OutcomeReported], None] | None = None
    accepting: Callable[[], bool] | None = None  # False while the journal cannot write: 503
    # Waits (up to the seconds given) until the database holds every record acd accepted; False
    # when it does not by then. None: records are written before anyone asks (tests, tools).
    stored: Callable[[float], Awaitable[bool]] | None = None

    async def write(
        self, who: Principal, call_id: str, body: OutcomeBody, *, source: str = "api"
    ) -> dict[str, Any]:
        """Store ``body`` as the outcome of the customer call ``call_id`` names; returns the call's
        id, the stored outcome and its credit rows."""
        if who.role not in ("agent", "supervisor"):
            raise Refused(403, "this sign-in cannot record outcomes")
        if body.agent is not None and not who.is_supervisor and body.agent != who.agent:
            raise Refused(403, "an agent token may only write its own outcomes", field="agent")
        if self.accepting is not None and not self.accepting():
            log.warning("api_outcome_refused", reason="journal cannot write")
            raise Refused(503, "acd cannot make records durable now (its journal cannot write); retry later")
        server_id = self.settings.server_id
        written_at = self.clock()
        behind = self.stored is not None and not await self.stored(STORED_WAIT_SECONDS)

        async def record(
            conn: AsyncConnection, linkedid: str
        ) -> tuple[str, str | None, int | None, dict[str, Any] | None]:
            agents = await answered_by(conn, server_id, linkedid)
            if not who.is_supervisor and who.agent not in agents:
                raise Refused(403, "agents may post outcomes for their own calls only")
            unanswered = await unanswered_reason(conn, server_id, linkedid)
            if unanswered is not None:
                raise Refused(409, unanswered)
            agent = body.agent or who.agent or (sorted(agents)[0] if len(agents) == 1 else None)
            outcome_id = await save_outcome(
                conn,
                server_id,
                CreditRules(self.settings.credit_policy, self.settings.credit_original_share),
                OutcomeInput(
                    linkedid=linkedid,
                    call_id=call_id,
                    agent=agent,
                    disposition=body.disposition,
                    resolved=body.resolved,
                    notes=body.notes,
                    points=body.points,
                    written_by=who.written_by,
                    written_at=written_at,
                    source="api",
                    order_ref=body.order.ref if body.order is not None else None,
                    order_status=body.order.status if body.order is not None else None,
                    order_left=body.order.left if body.order is not None else None,
                ),
            )
            call = await customer_call(conn, server_id, linkedid, reader_agent=who.agent, supervisor=True)
            return linkedid, agent, outcome_id, call

        try:
            linkedid, agent, outcome_id, call = await self.on_call(call_id, record)
        except Refused as refused:
            if behind and refused.status in (403, 404):
                # a call that ended a moment ago may not be stored whole yet: say so, not "not yours"
                raise Refused(503, NOT_STORED_YET) from None
            raise
        assert call is not None
        log.info(
            "api_outcome",
            call_id=linkedid,
            disposition=body.disposition,
            role=who.role,
            stored=outcome_id,
            via=source,
        )
        if self.on_outcome is not None:
            self.on_outcome(
                OutcomeReported(
                    call_uniqueid=call_id,
                    linkedid=linkedid,
                    agent=agent,
                    disposition=body.disposition,
                    resolved=body.resolved,
                    notes=body.notes,
                    points=body.points,
                    at=self.clock(),
                )
            )
        return {"call_id": linkedid, "outcome": call["outcome_record"], "credits": call["credits"]}
