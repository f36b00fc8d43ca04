"""The review queue's page data: the calls :func:`acd.reads.review.review_flags` flags, and the
words each reason is shown in."""

from __future__ import annotations

from acd.reads.review import Flagged, review_flags
from acd.web.app import Pages

__all__ = ["REASONS", "flagged_calls"]

REASONS = {
    "notes": "notes empty or too short",
    "short": "released early by the rep",
    "repeat_after_resolved": "marked resolved, customer called again within 24 h",
    "open_order": "order still open after a day",
    "credit_disputed": "different points posted for one sale",
}


async def flagged_calls(
    pages: Pages, since: float, *, agent: str | None = None, reason: str | None = None, limit: int = 200
) -> list[Flagged]:
    """Flagged customer calls that began since ``since``, newest first (the page is a supervisor's:
    notes shown)."""
    now = pages.clock()
    async with pages.engine.connect() as conn:
        return await review_flags(
            conn, pages.settings.server_id, since, now + 1.0, now=now, agent=agent, reason=reason, limit=limit
        )
