"""``/login`` and ``/logout``."""

from __future__ import annotations

import structlog
from aiohttp import web
from aiohttp_session import get_session

from acd.web.app import PAGES, render, visitor
from acd.web.signin import (
    ALL_ROLES,
    csrf_ok,
    csrf_token,
    fingerprint,
    roles,
    safe_next,
    start_session,
    visitor_of,
)

log = structlog.get_logger("acd.web")

HOME = {"agent": "/desk", "supervisor": "/", "wallboard": "/wallboard"}  # where a sign-in lands


async def login_form(request: web.Request) -> web.StreamResponse:
    pages = request.app[PAGES]
    target = safe_next(request.query.get("next"))
    if await visitor_of(request, pages.known, pages.wall(), pages.session_max_age) is not None:
        raise web.HTTPSeeOther(target)
    return await render(request, "login.html", {"next": target, "problem": None})


async def login(request: web.Request) -> web.StreamResponse:
    pages = request.app[PAGES]
    form = await request.post()
    target = safe_next(str(form.get("next", "")) or None)
    wait = pages.limiter.attempt(request.remote or "?")
    if wait > 0:
        log.info("pages_login_limited", remote=request.remote)
        response = await render(
            request,
            "login.html",
            {"next": target, "problem": f"Too many attempts. Try again in {int(wait) + 1} s."},
            status=429,
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    session = await get_session(request)
    expected = session.get("csrf")
    if not isinstance(expected, str) or not await csrf_ok(request, expected):
        return await render(
            request,
            "login.html",
            {"next": target, "problem": "The sign-in form expired. Please try again."},
            status=403,
        )
    token = str(form.get("token", "")).strip()
    fp = fingerprint(pages.key, token)
    principal = pages.known.get(fp) if token else None
    if principal is None:
        log.info("pages_login_failed", remote=request.remote)
        await csrf_token(request)
        return await render(
            request, "login.html", {"next": target, "problem": "That token is not known to acd."}, status=401
        )
    await start_session(request, fp, pages.wall())
    log.info("pages_login", role=principal.role, agent=principal.agent)
    if target == "/":
        target = HOME[principal.role]
    raise web.HTTPSeeOther(target)


@roles(*ALL_ROLES)
async def logout(request: web.Request) -> web.StreamResponse:
    who = visitor(request)
    session = await get_session(request)
    session.invalidate()
    log.info("pages_logout", role=who.role, agent=who.agent)
    raise web.HTTPSeeOther("/login")
