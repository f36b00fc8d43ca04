"""The pages, mounted on the daemon's aiohttp application beside the JSON API.

``setup_pages`` adds the session cookie machinery, the pages' middleware (sign-in, roles, CSRF,
HTML error pages), the security headers every response carries, the templates and the static
files. Pages read through :mod:`acd.web.reads` and the API's own reads, and write through the
API's :class:`~acd.api.outcome_write.OutcomeWriter` and :class:`~acd.api.supervisor_write.CreditWriter`:
the web layer computes no domain number.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import aiohttp_session
import jinja2
import structlog
from aiohttp import web
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from acd import __version__
from acd.api.auth import Principal
from acd.api.livecalls import LiveCalls
from acd.api.outcome_write import OutcomeWriter
from acd.api.supervisor_write import CreditWriter, ReviewWriter
from acd.core.live import LiveSnapshot
from acd.settings import Settings
from acd.web import format as fmt
from acd.web.feed import LiveFeed
from acd.web.ratelimit import AttemptLimiter
from acd.web.reads import DayFigures, PeriodReports
from acd.web.signin import (
    Visitor,
    cookie_storage,
    csrf_ok,
    csrf_token,
    fingerprints,
    login_url,
    session_key,
    visitor_of,
)

__all__ = ["PAGES", "Pages", "render", "setup_pages", "visitor"]

log = structlog.get_logger("acd.web")

# aiohttp-session and aiohttp-jinja2 keep their request keys as strings; aiohttp's advice to use
# typed keys is for them to take, and would otherwise print on a user's terminal.
warnings.filterwarnings("ignore", category=web.NotAppKeyWarning, module=r"aiohttp_(session|jinja2)")

HERE = Path(__file__).parent
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_NOT_PAGES = ("/api/", "/metrics", "/healthz", "/static/")


@dataclass
class Pages:
    """What every page handler shares (one per application)."""

    settings: Settings
    engine: AsyncEngine
    live_calls: LiveCalls | None
    clock: Callable[[], float]
    writer: OutcomeWriter
    credit: CreditWriter
    review: ReviewWriter
    feed: LiveFeed
    face: fmt.Clockface
    day: DayFigures
    periods: PeriodReports
    known: dict[str, Principal]
    limiter: AttemptLimiter
    session_max_age: float
    key: bytes  # seals session cookies and keys token fingerprints
    wall: Callable[[], float] = time.time  # sign-in times are real time, whatever the event clock


PAGES: web.AppKey[Pages] = web.AppKey("pages", Pages)
_VISITOR: web.RequestKey[Visitor] = web.RequestKey("visitor", Visitor)


def visitor(request: web.Request) -> Visitor:
    return request[_VISITOR]


def setup_pages(
    app: web.Application,
    settings: Settings,
    engine: AsyncEngine,
    live_provider: Callable[[], LiveSnapshot | None],
    *,
    live_calls: LiveCalls | None,
    clock: Callable[[], float],
    writer: OutcomeWriter,
) -> Pages:
    key, configured = session_key(settings)
    if not configured:
        log.info(
            "pages_session_key_random", hint="set ACD_PAGES__SESSION_SECRET to keep sign-ins across restarts"
        )
    tokens = [(t.token.get_secret_value(), Principal(t.role, t.agent, t.name)) for t in settings.api_tokens]
    face = fmt.Clockface(fmt.center_zone(settings.time_zone))
    feed = LiveFeed(live_provider)
    if live_calls is not None:
        live_calls.subscribe(feed.observe)
    pages = Pages(
        settings=settings,
        engine=engine,
        live_calls=live_calls,
        clock=clock,
        writer=writer,
        credit=CreditWriter(settings, engine, clock),
        review=ReviewWriter(settings, engine, clock),
        feed=feed,
        face=face,
        day=DayFigures(settings, engine, face, clock),
        periods=PeriodReports(settings, engine, clock),
        known=fingerprints(key, tokens),
        limiter=AttemptLimiter(settings.pages.login_attempts_per_minute, time.monotonic),
        session_max_age=settings.pages.session_hours * 3600,
        key=key,
    )
    app[PAGES] = pages
    aiohttp_session.setup(app, cookie_storage(settings, key))
    app.middlewares.append(_pages_middleware)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(("html",), default=True),
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(duration=fmt.duration, pct=fmt.pct, points=fmt.points)
    app.on_response_prepare.append(_security_headers)
    app.on_shutdown.append(_close_feed)

    from acd.web import routes

    app.add_routes(routes.table())
    app.router.add_static("/static/", HERE / "static", name="static", append_version=True)
    return pages


async def _close_feed(app: web.Application) -> None:
    app[PAGES].feed.close()


async def _base_context(request: web.Request) -> dict[str, Any]:
    pages = request.app[PAGES]
    found = request.get(_VISITOR)
    return {
        "visitor": found,
        "csrf": await csrf_token(request),
        "face": pages.face,
        "now": pages.clock(),
        "version": __version__,
        "asset": lambda name: request.app.router["static"].url_for(filename=name),
        "display": lambda agent: _display(pages, agent),
    }


def _display(pages: Pages, agent: str | None) -> str:
    """An agent as people know them: their name when the live picture has it."""
    if not agent:
        return "-"
    live = pages.feed.agent(agent)
    return live.name if live is not None and live.name else agent


async def render(
    request: web.Request, template: str, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    """A page: the template with what every page shows (who is signed in, the form token...)."""
    return aiohttp_jinja2.render_template(
        template, request, {**await _base_context(request), **context}, status=status
    )


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")


async def error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    return await render(
        request, "error.html", {"status": status, "title": title, "message": message}, status=status
    )


def _is_page_space(path: str) -> bool:
    return not path.startswith(_NOT_PAGES)


@web.middleware
async def _pages_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    route = request.match_info.route
    allowed: frozenset[str] | None = getattr(getattr(route, "handler", None), "acd_roles", None)
    if allowed is None:
        if not _is_page_space(request.path):
            return await handler(request)
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return await error_page(request, 404, "Not found", "There is no page at this address.")
        except web.HTTPMethodNotAllowed:
            return await error_page(request, 405, "Not allowed", "This page cannot be used that way.")
    pages = request.app[PAGES]
    found = await visitor_of(request, pages.known, pages.wall(), pages.session_max_age)
    if found is None:
        raise web.HTTPSeeOther(login_url(request))
    request[_VISITOR] = found
    if found.role not in allowed:
        return await error_page(
            request, 403, "Not for this sign-in", f"Signed in as {found.role}, you cannot open this page."
        )
    if request.method == "POST" and not await csrf_ok(request, found.csrf):
        log.info("pages_csrf_refused", path=request.path, role=found.role)
        return await error_page(
            request,
            403,
            "Form refused",
            "This form was not sent from acd's own page, or it expired. Reload and try again.",
        )
    try:
        return await handler(request)
    except (OperationalError, DBAPIError, OSError, TimeoutError) as err:
        log.warning("pages_database_unavailable", path=request.path, error=type(err).__name__)
        return await error_page(
            request,
            503,
            "Database unavailable",
            "acd cannot read its database just now. Try again in a moment.",
        )
