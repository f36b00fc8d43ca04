"""The aiohttp application the daemon serves: outcomes, call lookups, the screen pop, OpenAPI, and
the pages for people (:mod:`acd.web`).

Handlers only read and write the database through the async engine (no blocking I/O in the event
loop) and read the core's live snapshot through ``live_provider``. Other routes (``/metrics``) are
mounted through ``extra_routes`` and need no token.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from aiohttp import web
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.api.access import may_read_call
from acd.api.auth import Principal, auth_middleware, json_error, principal_of
from acd.api.call_write import Refused
from acd.api.livecalls import LiveCalls
from acd.api.openapi import openapi_document
from acd.api.outcome_write import OutcomeWriter
from acd.api.payloads import BadInput, parse_outcome, parse_time
from acd.api.records import records_routes
from acd.core.effects import OutcomeReported
from acd.core.live import AgentLive, LiveSnapshot
from acd.reads.call_lists import caller_history, list_calls
from acd.reads.calls import customer_call
from acd.settings import HttpSettings, Settings
from acd.store.database import is_contention
from acd.store.outcomes import resolve_linkedid

__all__ = ["app_runner", "build_app"]

log = structlog.get_logger("acd.api")

HISTORY_SECONDS = 30 * 86400.0
SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
ENGINE: web.AppKey[AsyncEngine] = web.AppKey("engine", AsyncEngine)


class _Ctx:
    """What the handlers share (one per app)."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        live_provider: Callable[[], LiveSnapshot | None],
        live_calls: LiveCalls | None,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.writer = OutcomeWriter(settings, engine, clock)
        self.live_provider = live_provider
        self.live_calls = live_calls
        self.clock = clock
        self.server_id = settings.server_id


def build_app(
    settings: Settings,
    engine: AsyncEngine,
    live_provider: Callable[[], LiveSnapshot | None],
    *,
    live_calls: LiveCalls | None = None,
    extra_routes: Sequence[web.AbstractRouteDef] = (),
    clock: Callable[[], float] = time.time,
    on_outcome: Callable[[OutcomeReported], None] | None = None,
    accepting: Callable[[], bool] | None = None,
    stored: Callable[[float], Awaitable[bool]] | None = None,
) -> web.Application:
    """The API app. ``live_provider`` returns the core's current snapshot (None before the first);
    ``live_calls`` is fed every effect by the daemon for the screen pop; ``clock`` dates outcomes
    (give it the core's clock so simulated time stays consistent); ``accepting`` says whether
    acd can make records durable now (its journal writes): outcomes are refused with 503 while not;
    ``stored(seconds)`` waits until the database holds every record acd accepted (an outcome saved
    the moment its call ends is checked against the call's finished record)."""
    ctx = _Ctx(settings, engine, live_provider, live_calls, clock)
    ctx.writer.on_outcome = on_outcome  # the daemon's metrics see API outcomes as they see AMI ones
    ctx.writer.accepting = accepting
    ctx.writer.stored = stored
    app = web.Application(middlewares=[_errors_middleware, auth_middleware(settings.api_tokens)])
    app[SETTINGS] = settings
    app[ENGINE] = engine
    document = openapi_document(list(settings.dispositions))

    async def openapi(_request: web.Request) -> web.Response:
        return web.json_response(document)

    async def post_outcome(request: web.Request) -> web.Response:
        return await _post_outcome(ctx, request)

    async def get_call(request: web.Request) -> web.Response:
        return await _get_call(ctx, request)

    async def get_calls(request: web.Request) -> web.Response:
        return await _get_calls(ctx, request)

    async def agent_now(request: web.Request) -> web.Response:
        return await _agent_now(ctx, request)

    app.add_routes(
        [
            web.get("/api/openapi.json", openapi),
            web.post("/api/v1/calls/{call_id}/outcome", post_outcome),
            web.get("/api/v1/calls/{call_id}", get_call),
            web.get("/api/v1/calls", get_calls),
            web.get(r"/api/v1/agents/{agent:.+}/now", agent_now),
            *records_routes(settings, engine, clock),
            *extra_routes,
        ]
    )
    from acd.web.app import setup_pages  # the pages import the API's parts: import them last

    setup_pages(
        app,
        settings,
        engine,
        live_provider,
        live_calls=live_calls,
        clock=clock,
        writer=ctx.writer,
    )
    return app


def app_runner(app: web.Application, http: HttpSettings) -> web.AppRunner:
    """The runner the daemon serves ``app`` with. aiohttp's keep-alive timer also runs while a
    request's headers are being read, so it is the header-read timeout: a client that trickles
    its headers (slowloris) or idles is cut off after ``http.header_timeout`` seconds instead of
    aiohttp's default hour."""
    return web.AppRunner(app, access_log=None, keepalive_timeout=http.header_timeout)


@web.middleware
async def _errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except BadInput as err:
        return json_error(422, err.detail, field=err.field)
    except (OperationalError, DBAPIError, OSError, TimeoutError) as err:
        if is_contention(err):
            log.warning("api_database_busy", path=request.path, error=type(err).__name__)
            return json_error(503, "database busy; retry", headers={"Retry-After": "1"})
        log.warning("api_database_unavailable", path=request.path, error=type(err).__name__)
        return json_error(503, "database unavailable")
    except web.HTTPException:
        raise
    except Exception:
        if not request.path.startswith("/api/"):
            raise  # the pages render their own error page
        # A bug: logged with its traceback here, never sent to the client.
        log.exception("api_internal_error", path=request.path, method=request.method)
        return json_error(500, "internal error")


async def _post_outcome(ctx: _Ctx, request: web.Request) -> web.Response:
    try:
        data = await request.json()
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        raise BadInput("body", "not valid JSON") from None
    body = parse_outcome(data, list(ctx.settings.dispositions))
    try:
        stored = await ctx.writer.write(principal_of(request), request.match_info["call_id"], body)
    except Refused as refused:
        if refused.field:
            return json_error(refused.status, refused.message, field=refused.field)
        return json_error(refused.status, refused.message)
    return web.json_response(stored, status=201)


async def _get_call(ctx: _Ctx, request: web.Request) -> web.Response:
    who = principal_of(request)
    async with ctx.engine.connect() as conn:
        linkedid = await resolve_linkedid(conn, ctx.server_id, request.match_info["call_id"])
        if linkedid is None:
            return json_error(404, "unknown call")
        if not await may_read_call(
            conn, ctx.server_id, who, linkedid, live_entries=_on_me(ctx, who, linkedid)
        ):
            return json_error(403, "agents may read calls that rang them, they answered, or linked to those")
        call = await customer_call(
            conn, ctx.server_id, linkedid, reader_agent=who.agent, supervisor=who.is_supervisor
        )
    if call is None:
        return json_error(404, "unknown call")
    return web.json_response(call)


def _on_me(ctx: _Ctx, who: Principal, linkedid: str) -> list[str]:
    """Entries of the customer call ``linkedid`` ringing ``who`` or connected to them now."""
    if who.agent is None or ctx.live_calls is None:
        return []
    me = _find_agent(ctx.live_provider(), who.agent)
    if me is None or me.current_call is None:
        return []
    return [c.id for c in ctx.live_calls.find(linkedid) if c.id == me.current_call]


async def _get_calls(ctx: _Ctx, request: web.Request) -> web.Response:
    who = principal_of(request)
    query = request.query
    agent = query.get("agent") or None
    if not who.is_supervisor:
        if agent is not None and agent != who.agent:
            return json_error(403, "agents may list their own calls only", field="agent")
        agent = who.agent
    since = parse_time("since", query.get("since"))
    until = parse_time("until", query.get("until"))
    if since is not None and until is not None and until <= since:
        raise BadInput("until", "must be after since")
    try:
        limit = int(query.get("limit", "100"))
    except ValueError:
        raise BadInput("limit", "expected an integer") from None
    if not 1 <= limit <= 1000:
        raise BadInput("limit", "must be between 1 and 1000")
    async with ctx.engine.connect() as conn:
        calls = await list_calls(
            conn,
            ctx.server_id,
            agent=agent,
            queue=query.get("queue") or None,
            since=since,
            until=until,
            limit=limit,
        )
    return web.json_response({"calls": calls})


def _find_agent(snapshot: LiveSnapshot | None, name: str) -> AgentLive | None:
    if snapshot is None:
        return None
    for agent in snapshot.agents:
        if agent.agent == name:
            return agent
    for agent in snapshot.agents:
        if agent.name == name:
            return agent
    return None


async def _agent_now(ctx: _Ctx, request: web.Request) -> web.Response:
    who = principal_of(request)
    wanted = request.match_info["agent"]
    live = _find_agent(ctx.live_provider(), wanted)
    identity = live.agent if live is not None else wanted
    if not who.is_supervisor and identity != who.agent:
        return json_error(403, "agents may ask about themselves only")
    if live is None:
        return json_error(404, "agent not known to the live picture (not logged in to any queue)")
    started = ctx.live_calls.get(live.current_call) if ctx.live_calls and live.current_call else None
    body: dict[str, Any] = {
        "agent": live.agent,
        "name": live.name,
        "state": live.state,
        "paused_reason": live.paused_reason,
        "queues": list(live.queues),
        "call": None,
        "previous": None,
        "history": [],
    }
    if live.current_call is not None:
        body["call"] = {"id": live.current_call}
    if started is not None:
        body["call"] = {
            "id": started.id,
            "linkedid": started.linkedid,
            "queue": started.queue,
            "joined_at": started.at,
            "caller_key": started.caller_key,
            "callback_of": started.callback_of,
            "repeat_of": started.repeat_of,
        }
        if started.caller_key is not None:
            # Only a supervisor or the agent themselves gets here, and the agent on the caller's
            # call now is one of "the agents of that caller's calls": notes are shown.
            async with ctx.engine.connect() as conn:
                body["history"] = await caller_history(
                    conn,
                    ctx.server_id,
                    started.caller_key,
                    exclude_linkedid=started.linkedid,
                    since=ctx.clock() - HISTORY_SECONDS,
                    show_notes=True,
                )
        if started.callback_of is not None:
            body["previous"] = next(
                (h for h in body["history"] if started.callback_of in (h["call_id"],)), None
            ) or await _previous_by_entry(ctx, started.callback_of, body["history"])
    return web.json_response(body)


async def _previous_by_entry(
    ctx: _Ctx, entry_id: str, history: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The history item holding the cut-off entry ``entry_id`` (callback_of names an entry)."""
    async with ctx.engine.connect() as conn:
        linkedid = await resolve_linkedid(conn, ctx.server_id, entry_id)
    return next((h for h in history if h["call_id"] == linkedid), None)
