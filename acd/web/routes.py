"""Every page's address, in one table."""

from __future__ import annotations

from aiohttp import web

from acd.web.views import agents, calls, desk, index, review, signin, wallboard


def table() -> list[web.RouteDef]:
    return [
        web.get("/", index.index),
        web.get("/login", signin.login_form),
        web.post("/login", signin.login),
        web.post("/logout", signin.logout),
        web.get("/wallboard", wallboard.wallboard),
        web.get("/wallboard/events", wallboard.wallboard_events),
        web.get("/desk", desk.desk),
        web.get("/desk/events", desk.desk_events),
        web.get("/desk/call/{call}", calls.call_panel),
        web.post("/desk/outcome/{call}", calls.post_outcome),
        web.get("/pop/{call}", calls.pop),
        web.get("/review", review.review),
        web.get("/review/call/{call}", review.review_call),
        web.post("/review/credit/{call}", review.post_credit),
        web.post("/review/mark/{call}", review.post_review),
        web.get("/agents", agents.agents),
        web.get("/agents.csv", agents.agents_csv),
    ]
