"""``/desk``: the rep's desk. The call they are on (pushed live: ringing, connected, ended) with
its pop and the outcome form, then their day and week, and their cut-off customers.

The live part is a Server-Sent Events stream (``/desk/events``) that wakes when the core reports
something about this rep; the page's script fetches the call's panel when the call changes. A
supervisor can open any rep's desk with ``?agent=``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp_sse import sse_response
from sqlalchemy import select

from acd.core.live import AgentLive
from acd.store.schema.outcomes import outcomes
from acd.store.schema.records import calls
from acd.web.app import PAGES, Pages, error_page, render, visitor
from acd.web.calls import Forbidden, NotFound, call_view, credited_calls, cut_off_customers
from acd.web.signin import roles
from acd.web.views.calls import _form_for

KEEPALIVE_SECONDS = 15.0
RECENT_SECONDS = 15 * 60.0  # a call that ended this recently without an outcome stays on the desk


def _agent_of(request: web.Request) -> str | None:
    who = visitor(request)
    if who.is_supervisor:
        return request.query.get("agent") or None
    return who.agent


def live_state(live: AgentLive | None) -> dict[str, Any]:
    """What the desk's stream says: the rep's state and the call they are on."""
    if live is None:
        return {"state": "logged_out", "words": "not logged in to any queue", "call": None, "phase": "idle"}
    phase = "idle"
    if live.current_call is not None:
        phase = "connected" if live.state == "in_call" else "ringing"
    words = {
        "available": "free",
        "ringing": "a call is ringing",
        "in_call": "on a call",
        "wrapup": "wrap-up",
        "paused": f"paused ({live.paused_reason})" if live.paused_reason else "paused",
        "unavailable": "phone unavailable",
        "logged_out": "logged out",
    }.get(live.state, live.state)
    return {"state": live.state, "words": words, "call": live.current_call, "phase": phase}


async def _recent_call(pages: Pages, agent: str) -> str | None:
    """The rep's last call if it ended recently and has no outcome yet (so its form stays up)."""
    server_id = pages.settings.server_id
    since = pages.clock() - RECENT_SECONDS
    async with pages.engine.connect() as conn:
        row = (
            await conn.execute(
                select(calls.c.linkedid)
                .where(calls.c.server_id == server_id, calls.c.agent == agent, calls.c.ended_at >= since)
                .order_by(calls.c.ended_at.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        written = (
            await conn.execute(
                select(outcomes.c.id)
                .where(outcomes.c.server_id == server_id, outcomes.c.linkedid == row.linkedid)
                .limit(1)
            )
        ).first()
    return None if written is not None else str(row.linkedid)


@roles("agent", "supervisor")
async def desk(request: web.Request) -> web.StreamResponse:
    pages = request.app[PAGES]
    who = visitor(request)
    agent = _agent_of(request)
    if agent is None:
        snapshot = pages.feed.snapshot()
        agents = list(snapshot.agents) if snapshot is not None else []
        return await render(request, "desk_pick.html", {"agents": agents})
    live = pages.feed.agent(agent)
    state = live_state(live)
    shown = state["call"] or request.query.get("saved") or await _recent_call(pages, agent)
    view = None
    if shown:
        try:
            view = await call_view(pages, shown, who.principal)
        except (NotFound, Forbidden):
            view = None
    now = pages.clock()
    today = pages.face.day_start(now)
    week = pages.face.week_start(now)
    context = {
        "agent": agent,
        "agent_name": live.name if live is not None else agent,
        "live": state,
        "view": view,
        "form": _form_for(request, view) if view is not None else None,
        "saved": request.query.get("saved"),
        "today": await pages.periods.agent(agent, today),
        "week": await pages.periods.agent(agent, week),
        "credited": await credited_calls(pages, agent, week),
        "cut_offs": await cut_off_customers(pages, agent, week),
        "stream": f"/desk/events?agent={agent}" if who.is_supervisor else "/desk/events",
    }
    return await render(request, "desk.html", context)


@roles("agent", "supervisor")
async def desk_events(request: web.Request) -> web.StreamResponse:
    pages = request.app[PAGES]
    agent = _agent_of(request)
    if agent is None:
        return await error_page(request, 400, "Which rep?", "Name the rep with ?agent=.")
    async with sse_response(request) as stream:
        sent: dict[str, Any] | None = None
        try:
            while stream.is_connected():
                seen = pages.feed.version(agent)
                state = live_state(pages.feed.agent(agent))
                if state["call"] is None:
                    # the rep's latest call, even one that rang, connected and ended between two
                    # looks (a stalled machine): it wants its outcome
                    finished = pages.feed.last_finished(agent)
                    if finished is not None and pages.clock() - finished[1] < RECENT_SECONDS:
                        state = {**state, "call": finished[0], "phase": "ended"}
                if state != sent:
                    await stream.send(json.dumps(state, separators=(",", ":")))
                    sent = state
                if not await pages.feed.wait_agent(agent, seen, KEEPALIVE_SECONDS):
                    break
        except (ConnectionResetError, RuntimeError):
            pass
    return stream
