"""The API's reads of the records and the supervisor's writes on them: a rep's summary over a
period (exactly their row of ``acd report`` for it), a call's chain, the review queue,
``POST /api/v1/calls/{id}/credit`` and ``POST /api/v1/calls/{id}/review``.

Each handler checks who asks first (403), then the input (422 naming the field), then the call
(404); nothing is written unless every check passed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.api.auth import Principal, json_error, principal_of
from acd.api.call_write import Refused
from acd.api.payloads import BadInput, parse_credit, parse_time
from acd.api.supervisor_write import CreditWriter, ReviewWriter
from acd.reads.call_lists import chain_view
from acd.reads.calls import may_read_notes
from acd.reads.review import REASONS, STATUSES, review_flags
from acd.reads.summary import ALL_SERVERS, agent_summary, load_report
from acd.settings import Settings
from acd.store.outcomes import resolve_linkedid

__all__ = ["records_routes"]

DAY = 86400.0


def _period(request: web.Request, clock: Callable[[], float]) -> tuple[float, float]:
    """``from``/``to`` (ISO 8601 or epoch seconds; default the last 24 h), ``from`` before ``to``."""
    until = parse_time("to", request.query.get("to"))
    since = parse_time("from", request.query.get("from"))
    until = clock() if until is None else until
    since = until - DAY if since is None else since
    if until <= since:
        raise BadInput("to", "must be after from")
    return since, until


SupervisorWrite = Callable[[Principal, str, Any], Awaitable[dict[str, Any]]]


async def _supervisor_write(request: web.Request, refusal: str, write: SupervisorWrite) -> web.Response:
    """A supervisor's write on a call: 403 for anyone else (before the body is read), 422 for a
    body that is not JSON, the write's refusal as the API's JSON error, else 201 with its answer."""
    who = principal_of(request)
    if not who.is_supervisor:
        return json_error(403, refusal)
    try:
        data = await request.json()
    except (ValueError, RecursionError):
        raise BadInput("body", "not valid JSON") from None
    try:
        done = await write(who, request.match_info["call_id"], data)
    except Refused as refused:
        if refused.field:
            return json_error(refused.status, refused.message, field=refused.field)
        return json_error(refused.status, refused.message)
    return web.json_response(done, status=201)


def records_routes(settings: Settings, engine: AsyncEngine, clock: Callable[[], float]) -> list[web.RouteDef]:
    server_id = settings.server_id

    async def summary(request: web.Request) -> web.Response:
        who = principal_of(request)
        agent = request.match_info["agent"]
        if not who.is_supervisor and agent != who.agent:
            return json_error(403, "agents may read their own summary only", field="agent")
        since, until = _period(request, clock)
        async with engine.connect() as conn:
            stats = await agent_summary(conn, settings, agent, since, until, now=clock())
        return web.json_response({"agent": agent, "period": {"from": since, "to": until}, "summary": stats})

    async def report(request: web.Request) -> web.Response:
        """``acd report`` as JSON: the center (every server sharing the database) with each
        server's beside it, or one server's (``server=NAME``)."""
        if not principal_of(request).is_supervisor:
            return json_error(403, "only a supervisor may read the report")
        since, until = _period(request, clock)
        server = request.query.get("server") or "all"
        found = await load_report(
            engine, settings, since, until, clock(), server_id=ALL_SERVERS if server == "all" else server
        )
        return web.json_response(found.as_dict())

    async def chain(request: web.Request) -> web.Response:
        who = principal_of(request)
        async with engine.connect() as conn:
            linkedid = await resolve_linkedid(conn, server_id, request.match_info["call_id"])
            if linkedid is None:
                return json_error(404, "unknown call")
            show = who.is_supervisor or await may_read_notes(conn, server_id, who.agent, None, linkedid)
            view = await chain_view(conn, server_id, linkedid, show_notes=show, now=clock())
        if view is None:
            return json_error(404, "no customer call recorded for this call yet")
        return web.json_response(view)

    async def review(request: web.Request) -> web.Response:
        who = principal_of(request)
        agent = request.query.get("agent") or None
        if not who.is_supervisor:
            if agent is not None and agent != who.agent:
                return json_error(403, "agents may read their own review flags only", field="agent")
            agent = who.agent
        reason = request.query.get("reason") or None
        if reason is not None and reason not in REASONS:
            raise BadInput("reason", f"must be one of {list(REASONS)}")
        status = request.query.get("status") or None
        if status is not None and status not in STATUSES:
            raise BadInput("status", f"must be one of {list(STATUSES)}")
        since, until = _period(request, clock)
        async with engine.connect() as conn:
            found = await review_flags(
                conn, server_id, since, until, now=clock(), agent=agent, reason=reason, status=status
            )
        items: list[dict[str, Any]] = []
        for f in found:
            item = dict(vars(f))
            if not who.is_supervisor:
                item["notes"] = None  # the rep's own calls: they know their notes; the API shows flags
            items.append(item)
        return web.json_response({"period": {"from": since, "to": until}, "calls": items})

    credit_writer = CreditWriter(settings, engine, clock)
    review_writer = ReviewWriter(settings, engine, clock)

    async def credit(request: web.Request) -> web.Response:
        async def write(who: Principal, call_id: str, data: Any) -> dict[str, Any]:
            return await credit_writer.write(who, call_id, parse_credit(data))

        return await _supervisor_write(request, "only a supervisor may adjust credit", write)

    async def mark(request: web.Request) -> web.Response:
        async def write(who: Principal, call_id: str, data: Any) -> dict[str, Any]:
            if (
                not isinstance(data, dict)
                or set(data) - {"comment"}
                or not isinstance(data.get("comment"), str)
            ):
                raise BadInput("comment", 'expected {"comment": "..."}')
            return await review_writer.write(who, call_id, data["comment"])

        return await _supervisor_write(request, "only a supervisor may mark calls reviewed", write)

    return [
        web.get(r"/api/v1/agents/{agent:.+}/summary", summary),
        web.post("/api/v1/calls/{call_id}/review", mark),
        web.get("/api/v1/report", report),
        web.get("/api/v1/calls/{call_id}/chain", chain),
        web.post("/api/v1/calls/{call_id}/credit", credit),
        web.get("/api/v1/review", review),
    ]
