"""``/wallboard``: per queue, live numbers beside today's quality, for a screen across the room.

The page and its stream (``/wallboard/events``, Server-Sent Events, one message a second) are built
from the same :func:`board`, so what the page shows first and every later update read alike. When
acd has lost Asterisk the live numbers are blanked and a banner says since when (a frozen number
would look true); the browser itself blanks everything when the stream falls silent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web
from aiohttp_sse import sse_response
from sqlalchemy.exc import SQLAlchemyError

from acd.core.effects import MemberState
from acd.core.live import QueueLive
from acd.web.app import PAGES, Pages, render
from acd.web.format import duration, pct
from acd.web.reads import Day, QueueDay
from acd.web.signin import ALL_ROLES, roles

log = structlog.get_logger("acd.web")

PUSH_SECONDS = 1.0
LIVE_STATES: tuple[MemberState, ...] = ("available", "in_call", "ringing", "wrapup", "paused")


@dataclass
class QueueCard:
    name: str
    fields: dict[str, str] = field(default_factory=dict)
    flags: dict[str, str] = field(default_factory=dict)  # field -> css class ("bad")


@dataclass
class Board:
    at: float
    clock: str
    lost: bool
    lost_since: str | None
    day_error: bool
    fcr_base: str
    queues: list[QueueCard]

    @property
    def layout(self) -> str:
        return "|".join(q.name for q in self.queues)

    def message(self) -> dict[str, Any]:
        fields: dict[str, list[str]] = {}
        for q in self.queues:
            for key, text in q.fields.items():
                fields[f"{q.name}.{key}"] = [text, q.flags.get(key, "")]
        return {
            "at": self.at,
            "clock": self.clock,
            "lost": self.lost,
            "lost_since": self.lost_since,
            "day_error": self.day_error,
            "fcr_base": self.fcr_base,
            "layout": self.layout,
            "fields": fields,
        }


def _live_fields(card: QueueCard, live: QueueLive | None, sl_seconds: float) -> None:
    if live is None:
        card.fields.update(waiting="0", longest="0:00", **{s: "0" for s in LIVE_STATES})
        return
    card.fields["waiting"] = str(live.waiting)
    card.fields["longest"] = duration(live.longest_wait_seconds if live.waiting else 0.0)
    if live.waiting and live.longest_wait_seconds > sl_seconds:
        card.flags["longest"] = "bad"
    for state in LIVE_STATES:
        card.fields[state] = str(live.agents_by_state.get(state, 0))


def _day_fields(card: QueueCard, day: QueueDay | None, target: float) -> None:
    if day is None:
        day = QueueDay()
    card.fields["sl"] = pct(day.service_level)
    if day.service_level is not None and day.service_level < target:
        card.flags["sl"] = "bad"
    card.fields["answered"] = str(day.answered)
    card.fields["abandoned"] = str(day.abandoned)
    card.fields["abandoned_short"] = str(day.abandoned_short)
    card.fields["cut_offs"] = str(day.cut_offs)
    card.fields["callbacks_original"] = str(day.callbacks_to_original)
    card.fields["callbacks"] = str(day.callbacks)
    card.fields["notes"] = pct(day.notes_complete)
    card.fields["fcr"] = pct(day.fcr_24h)
    card.fields["fcr_decided"] = str(day.fcr_decided)
    card.fields["fcr_pending"] = str(day.fcr_pending)


async def board(pages: Pages) -> Board:
    snapshot = pages.feed.snapshot()
    lost = snapshot is None or not pages.feed.connected()
    day: Day | None
    day_error = False
    try:
        day = await pages.day.get()
    except (SQLAlchemyError, OSError, TimeoutError) as err:
        log.warning("pages_wallboard_day_unavailable", error=type(err).__name__)
        day, day_error = pages.day.cached(), True
    live_by_name = {q.name: q for q in snapshot.queues} if snapshot is not None else {}
    names = sorted(set(live_by_name) | set(day.queues if day else ()) | set(pages.settings.queues))
    now = pages.clock()
    cards = []
    for name in names:
        rules = pages.settings.queue(name)
        card = QueueCard(name)
        card.fields["sl_seconds"] = f"{rules.service_level_seconds:g}"
        card.fields["sl_target"] = pct(rules.service_level_target)
        if lost:
            card.fields.update(waiting="-", longest="-", **{s: "-" for s in LIVE_STATES})
        else:
            _live_fields(card, live_by_name.get(name), rules.service_level_seconds)
        _day_fields(card, day.queues.get(name) if day else None, rules.service_level_target)
        cards.append(card)
    face = pages.face
    fcr_base = ""
    if day is not None:
        fcr_base = f"{face.when(day.fcr_base[0], now)} to {face.when(day.fcr_base[1], now)}"
    lost_since = pages.feed.lost_since
    return Board(
        at=now,
        clock=face.clock(now),
        lost=lost,
        lost_since=face.clock(lost_since) if lost and lost_since is not None else None,
        day_error=day_error,
        fcr_base=fcr_base,
        queues=cards,
    )


@roles(*ALL_ROLES)
async def wallboard(request: web.Request) -> web.StreamResponse:
    pages = request.app[PAGES]
    state = await board(pages)
    return await render(
        request,
        "wallboard.html",
        {
            "board": state,
            "live_states": LIVE_STATES,
            "zone": pages.face.zone_name(),
            "nodata": lambda text: "nodata" if text == "no data" else "",
        },
    )


@roles(*ALL_ROLES)
async def wallboard_events(request: web.Request) -> web.StreamResponse:
    pages = request.app[PAGES]
    async with sse_response(request) as stream:
        try:
            while stream.is_connected():
                state = await board(pages)
                await stream.send(json.dumps(state.message(), separators=(",", ":")))
                if not await pages.feed.pause(PUSH_SECONDS):
                    break
        except (ConnectionResetError, RuntimeError):
            pass  # the screen went away
    return stream
