"""The screen pop ``/pop/{call}`` and the desk's pieces for one call (its panel, the outcome form).

The pop is the page a softphone's embedded browser opens from the link the dialplan gives it: one
self-contained page (its stylesheet is the only other file), no script, a few KB. The desk shows
the same panel and adds the form; posting the form is the API's own outcome write.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiohttp import web

from acd.api.auth import Principal
from acd.api.call_write import Refused
from acd.api.payloads import BadInput, parse_outcome
from acd.web.app import PAGES, Pages, error_page, render, visitor
from acd.web.calls import CallView, Forbidden, NotFound, call_view
from acd.web.signin import roles

log = structlog.get_logger("acd.web")

RECORD_WAIT_SECONDS = 5.0  # an outcome posted as the call ends waits this long for its record


async def _view_or_page(request: web.Request, ident: str) -> CallView | web.Response:
    pages = request.app[PAGES]
    try:
        return await call_view(pages, ident, visitor(request).principal)
    except NotFound:
        return await error_page(request, 404, "No such call", "acd knows no call by this id.")
    except Forbidden:
        return await error_page(
            request,
            403,
            "Not your call",
            "This call was not offered to you, and is not linked to one of yours.",
        )


async def _call_page(request: web.Request, template: str) -> web.StreamResponse:
    found = await _view_or_page(request, request.match_info["call"])
    if isinstance(found, web.Response):
        return found
    return await render(request, template, {"view": found, "form": _form_for(request, found)})


@roles("agent", "supervisor")
async def pop(request: web.Request) -> web.StreamResponse:
    return await _call_page(request, "pop.html")


@roles("agent", "supervisor")
async def call_panel(request: web.Request) -> web.StreamResponse:
    """The desk's panel for one call (an HTML fragment the desk's script swaps in)."""
    return await _call_page(request, "call_panel.html")


def _form_for(
    request: web.Request, view: CallView, values: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The outcome form's contents, when this sign-in may record this call's outcome."""
    who = visitor(request)
    if who.role == "agent" and view.agent not in (None, who.agent):
        return None
    if who.role not in ("agent", "supervisor"):
        return None
    pages = request.app[PAGES]
    record = view.outcome or {}
    order = view.open_order or {}
    start = {
        "disposition": record.get("disposition") or "",
        "notes": record.get("notes") or "",
        "points": "" if record.get("points") is None else f"{record['points']:g}",
        "resolved": bool(record.get("resolved")),
        "order_status": "",
        "order_ref": order.get("ref") or "",
        "order_left": order.get("left") or "",
    }
    return {
        "dispositions": list(pages.settings.dispositions),
        "values": values or start,
        "problem": None,
        "saved": record.get("written_at"),
    }


def _body(form: Any) -> dict[str, Any]:
    points_text = str(form.get("points", "")).strip()
    data: dict[str, Any] = {
        "disposition": str(form.get("disposition", "")),
        "notes": str(form.get("notes", "")).strip() or None,
        "resolved": form.get("resolved") == "yes",
    }
    if points_text:
        try:
            data["points"] = float(points_text.replace(",", "."))
        except ValueError:
            raise BadInput("points", "a number, such as 40 or 12.5") from None
    status = str(form.get("order_status", ""))
    if status in ("open", "closed"):
        ref = str(form.get("order_ref", "")).strip()
        if not ref:
            raise BadInput("order reference", "name the order (its reference) to leave it open or close it")
        data["order"] = {
            "ref": ref,
            "status": status,
            "left": str(form.get("order_left", "")).strip() or None,
        }
    return data


async def _write_when_stored(pages: Pages, who: Principal, ident: str, body: Any) -> dict[str, Any]:
    """The outcome write; while the call's record is on its way to the database (the call just
    ended), wait for it a few seconds rather than refuse."""
    deadline = asyncio.get_running_loop().time() + RECORD_WAIT_SECONDS
    while True:
        try:
            return await pages.writer.write(who, ident, body, source="desk")
        except Refused as refused:
            live = pages.live_calls.find(ident) if pages.live_calls is not None else []
            if refused.status != 404 or live or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


@roles("agent", "supervisor")
async def post_outcome(request: web.Request) -> web.StreamResponse:
    pages = request.app[PAGES]
    who = visitor(request)
    ident = request.match_info["call"]
    form = await request.post()
    values = {
        "disposition": str(form.get("disposition", "")),
        "notes": str(form.get("notes", "")),
        "points": str(form.get("points", "")),
        "resolved": form.get("resolved") == "yes",
        "order_status": str(form.get("order_status", "")),
        "order_ref": str(form.get("order_ref", "")),
        "order_left": str(form.get("order_left", "")),
    }
    back = str(form.get("back", "desk"))
    problem: str | None = None
    try:
        body = parse_outcome(_body(form), list(pages.settings.dispositions))
        await _write_when_stored(pages, who.principal, ident, body)
    except BadInput as bad:
        problem = f"{bad.field}: {bad.detail}"
    except Refused as refused:
        live = pages.live_calls.find(ident) if pages.live_calls is not None else []
        if refused.status == 404 and live:
            problem = "The call is still going on: save the outcome when it has ended."
        elif refused.status == 404:
            problem = "acd has no record of this call yet. Try again in a moment."
        else:
            problem = refused.message
    if problem is None:
        pages.periods.forget()
        log.info("pages_outcome", call=ident, role=who.role, agent=who.agent)
        target = f"/pop/{ident}?saved=1" if back == "pop" else f"/desk?saved={ident}"
        raise web.HTTPSeeOther(target)
    found = await _view_or_page(request, ident)
    if isinstance(found, web.Response):
        return found
    form_state = _form_for(request, found, values)
    if form_state is not None:
        form_state["problem"] = problem
    return await render(request, "pop.html", {"view": found, "form": form_state}, status=422)
