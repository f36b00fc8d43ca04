"""``/review``: the supervisor's short list of calls worth a look, newest first, by rep and reason;
``/review/call/{call}``: one of them in full (the pop's content, the chain's sales and their credit
shares, the audit trail of adjustments) with the audited credit adjustment, the same write as
``POST /api/v1/calls/{id}/credit``."""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from acd.api.call_write import Refused
from acd.api.payloads import BadInput, parse_credit
from acd.web.app import PAGES, error_page, render, visitor
from acd.web.review import (
    REASONS,
    STATUSES,
    call_flags,
    call_reviews,
    credit_forms,
    flagged_calls,
    read_chain,
    rep_names,
)
from acd.web.signin import roles
from acd.web.views.calls import _view_or_page
from acd.web.words import credit_rule

log = structlog.get_logger("acd.web")

DAY = 86400.0
DAYS = 7


@roles("supervisor")
async def review(request: web.Request) -> web.StreamResponse:
    pages = request.app[PAGES]
    agent = request.query.get("agent") or None
    reason = request.query.get("reason") or None
    if reason not in REASONS:
        reason = None
    status = request.query.get("status") or "open"
    if status not in STATUSES:
        status = "open"
    since = pages.face.day_start(pages.clock()) - (DAYS - 1) * DAY
    chosen = None if status == "all" else status
    items = await flagged_calls(pages, since, agent=agent, reason=reason, status=chosen)
    everyone = await flagged_calls(pages, since) if agent or reason or chosen else items
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
            "status": status,
            "statuses": STATUSES,
            "reviewed_call": request.query.get("reviewed"),
        },
    )


async def _call_page(
    request: web.Request,
    *,
    problem: str | None = None,
    values: dict[str, Any] | None = None,
    review_problem: str | None = None,
    comment: str = "",
    status: int = 200,
) -> web.StreamResponse:
    """The review page of one call; ``values``: a refused adjustment's form, shown again as typed."""
    pages = request.app[PAGES]
    found = await _view_or_page(request, request.match_info["call"])
    if isinstance(found, web.Response):
        return found
    chain = await read_chain(pages, found.call_id)
    forms = credit_forms(chain, values) if chain is not None else []
    return await render(
        request,
        "review_call.html",
        {
            "view": found,
            "form": None,
            "chain": chain,
            "credit_forms": forms,
            "names": rep_names(chain) if chain is not None else {},
            "problem": problem,
            "problem_sale": (values or {}).get("sale"),
            "adjusted": request.query.get("adjusted"),
            "flags": await call_flags(pages, found.call_id),
            "reviews": await call_reviews(pages, found.call_id),
            "reasons": REASONS,
            "review_problem": review_problem,
            "comment": comment,
            "policy_words": credit_rule(pages.settings.credit_policy, pages.settings.credit_original_share),
        },
        status=status,
    )


@roles("supervisor")
async def review_call(request: web.Request) -> web.StreamResponse:
    return await _call_page(request)


def _credit_body(form: Any) -> dict[str, Any]:
    """The form's fields as the API's credit payload: one share per rep whose points were given."""
    agents = [str(a) for a in form.getall("agent", [])]
    amounts = [str(p).strip() for p in form.getall("points", [])]
    names = [str(n) for n in form.getall("name", [])]
    if len(agents) != len(amounts):
        raise BadInput("shares", "the form came back incomplete; reload the page")
    shares = []
    for i, (agent, text) in enumerate(zip(agents, amounts, strict=True)):
        if not text:
            continue
        try:
            points = float(text.replace(",", "."))
        except ValueError:
            who = names[i] if i < len(names) else agent
            raise BadInput(f"points for {who}", "a number, such as 20 or 12.5") from None
        shares.append({"agent": agent, "points": points})
    if not shares:
        raise BadInput("shares", "give at least one rep's points")
    if not str(form.get("reason", "")).strip():
        raise BadInput("reason", "say why the credit changes (it is kept in the audit trail)")
    return {
        "sale": str(form.get("sale", "")) or None,
        "shares": shares,
        "reason": str(form.get("reason", "")),
    }


@roles("supervisor")
async def post_credit(request: web.Request) -> web.StreamResponse:
    pages = request.app[PAGES]
    who = visitor(request)
    ident = request.match_info["call"]
    form = await request.post()
    values = {
        "sale": str(form.get("sale", "")),
        "reason": str(form.get("reason", "")),
        "points": dict(
            zip(
                [str(a) for a in form.getall("agent", [])],
                [str(p) for p in form.getall("points", [])],
                strict=False,
            )
        ),
    }
    try:
        body = parse_credit(_credit_body(form))
        done = await pages.credit.write(who.principal, ident, body)
    except BadInput as bad:
        return await _call_page(request, problem=f"{bad.field}: {bad.detail}", values=values, status=422)
    except Refused as refused:
        if refused.status == 404 and refused.field is None:
            return await error_page(request, 404, "No such call", refused.message)
        return await _call_page(request, problem=refused.message, values=values, status=refused.status)
    pages.periods.forget()
    log.info("pages_credit_adjusted", call=done["call_id"], sale=done["sale_id"], by=done["by"])
    raise web.HTTPSeeOther(f"/review/call/{done['call_id']}?adjusted={done['sale_id']}#audit")


@roles("supervisor")
async def post_review(request: web.Request) -> web.StreamResponse:
    """Mark the call reviewed with a comment (the API's own write)."""
    pages = request.app[PAGES]
    who = visitor(request)
    form = await request.post()
    comment = str(form.get("comment", ""))
    try:
        done = await pages.review.write(who.principal, request.match_info["call"], comment)
    except Refused as refused:
        if refused.status == 404:
            return await error_page(request, 404, "No such call", refused.message)
        problem = f"{refused.field}: {refused.message}" if refused.field else refused.message
        return await _call_page(
            request, review_problem=problem, comment=comment.strip(), status=refused.status
        )
    log.info("pages_call_reviewed", call=done["call_id"], reasons=done["reasons"], by=done["by"])
    raise web.HTTPSeeOther(f"/review?reviewed={done['call_id']}")
