"""``/review``: the supervisor's short list of calls worth a look, newest first, by rep and reason."""

from __future__ import annotations

from aiohttp import web

from acd.web.app import PAGES, render
from acd.web.review import REASONS, flagged_calls
from acd.web.signin import roles

DAY = 86400.0
DAYS = 7


@roles("supervisor")
async def review(request: web.Request) -> web.StreamResponse:
    pages = request.app[PAGES]
    agent = request.query.get("agent") or None
    reason = request.query.get("reason") or None
    if reason not in REASONS:
        reason = None
    since = pages.face.day_start(pages.clock()) - (DAYS - 1) * DAY
    items = await flagged_calls(pages, since, agent=agent, reason=reason)
    everyone = await flagged_calls(pages, since) if agent or reason else items
    reps = sorted({(i.agent, i.agent_name or i.agent) for i in everyone if i.agent}, key=lambda a: str(a[1]))
    return await render(
        request,
        "review.html",
        {
            "items": items,
            "reasons": REASONS,
            "reason": reason,
            "agent": agent,
            "reps": reps,
            "since": since,
        },
    )
