"""``/``: where a signed-in person can go, by role."""

from __future__ import annotations

from aiohttp import web

from acd.web.app import render, visitor
from acd.web.signin import ALL_ROLES, roles

LINKS = {
    "agent": [
        ("/desk", "My desk", "the call you are on, its history, the outcome form; your day and week"),
        ("/wallboard", "Wallboard", "queues live: who waits, service level, quality today"),
    ],
    "supervisor": [
        ("/wallboard", "Wallboard", "queues live: who waits, service level, quality today"),
        ("/review", "Review queue", "calls worth a look: thin notes, short releases, open orders, disputes"),
        ("/agents", "Agents", "every rep's volume beside quality, outliers marked, CSV"),
    ],
    "wallboard": [
        ("/wallboard", "Wallboard", "queues live: who waits, service level, quality today"),
    ],
}


@roles(*ALL_ROLES)
async def index(request: web.Request) -> web.StreamResponse:
    who = visitor(request)
    return await render(request, "index.html", {"links": LINKS[who.role]})
