"""``/agents`` (and ``/agents.csv``): every rep's volume beside quality over a period, sortable,
with the reps outside 1.5 IQR of the team on cut-off rate, early releases and notes marked."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from aiohttp import web

from acd.web.app import PAGES, Pages, render
from acd.web.format import duration, pct, points
from acd.web.outliers import outside
from acd.web.reads import TeamRow, team
from acd.web.signin import roles

DAY = 86400.0
PERIODS = {"today": ("today", 0), "7d": ("the last 7 days", 6), "30d": ("the last 30 days", 29)}

# key -> (heading, meaning, value for sorting, text shown)
Column = tuple[str, str, Callable[[TeamRow], Any], Callable[[TeamRow], str]]
COLUMNS: dict[str, Column] = {
    "name": ("rep", "", lambda r: r.name.lower(), lambda r: r.name),
    "rung": ("rung", "times a call rang them", lambda r: r.rung, lambda r: str(r.rung)),
    "missed": ("missed", "rings not answered", lambda r: r.missed, lambda r: str(r.missed)),
    "answered": ("answered", "calls", lambda r: r.period.answered, lambda r: str(r.period.answered)),
    "aht": ("talk per call", "mean", lambda r: r.aht_seconds or 0, lambda r: duration(r.aht_seconds)),
    "cut_off_rate": (
        "cut off",
        "share of answered calls",
        lambda r: r.cut_off_rate or 0,
        lambda r: f"{pct(r.cut_off_rate)} ({r.period.cut_offs})",
    ),
    "short_rate": (
        "released early",
        "short calls the rep ended",
        lambda r: r.short_rate or 0,
        lambda r: f"{pct(r.short_rate)} ({r.period.agent_released_short})",
    ),
    "notes": (
        "notes written",
        "share of answered calls",
        lambda r: -1 if r.period.notes_complete is None else r.period.notes_complete,
        lambda r: pct(r.period.notes_complete),
    ),
    "fcr": (
        "FCR 24 h",
        "no call again within 24 h",
        lambda r: -1 if r.period.fcr_24h is None else r.period.fcr_24h,
        lambda r: f"{pct(r.period.fcr_24h)} of {r.period.decided_24h} ({r.period.pending_24h} pending)",
    ),
    "callbacks": (
        "callbacks taken",
        "",
        lambda r: r.period.callbacks_taken,
        lambda r: str(r.period.callbacks_taken),
    ),
    "credit": (
        "credit",
        "points",
        lambda r: r.period.credit_points,
        lambda r: points(r.period.credit_points),
    ),
}
WATCHED = {"cut_off_rate": "cut_off_rate", "short_rate": "short_rate", "notes": "notes_complete"}


def _period(pages: Pages, request: web.Request) -> tuple[str, str, float]:
    key = request.query.get("period", "7d")
    if key not in PERIODS:
        key = "7d"
    label, days = PERIODS[key]
    since = pages.face.day_start(pages.clock()) - days * DAY
    return key, label, since


async def _rows(
    request: web.Request,
) -> tuple[str, str, float, list[TeamRow], str, bool, dict[str, dict[str, str]]]:
    pages = request.app[PAGES]
    key, label, since = _period(pages, request)
    rows = await team(pages.periods, since)
    sort = request.query.get("sort", "answered")
    if sort not in COLUMNS:
        sort = "answered"
    descending = request.query.get("dir", "desc" if sort != "name" else "asc") == "desc"
    rows.sort(key=COLUMNS[sort][2], reverse=descending)
    marks: dict[str, dict[str, str]] = {}
    answering = [r for r in rows if r.period.answered]
    for column, attribute in WATCHED.items():
        values = {
            r.agent: (getattr(r, attribute) if hasattr(r, attribute) else getattr(r.period, attribute))
            for r in answering
        }
        for agent, side in outside(values).items():
            marks.setdefault(agent, {})[column] = side
    return key, label, since, rows, sort, descending, marks


@roles("supervisor")
async def agents(request: web.Request) -> web.StreamResponse:
    key, label, since, rows, sort, descending, marks = await _rows(request)
    return await render(
        request,
        "agents.html",
        {
            "period": key,
            "period_label": label,
            "periods": PERIODS,
            "since": since,
            "rows": rows,
            "columns": COLUMNS,
            "sort": sort,
            "descending": descending,
            "marks": marks,
        },
    )


@roles("supervisor")
async def agents_csv(request: web.Request) -> web.StreamResponse:
    key, _label, _since, rows, _sort, _descending, marks = await _rows(request)
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(
        ["agent", "name", "rung", "missed", "answered", "talk_seconds", "cut_offs", "cut_off_rate",
         "agent_released_short", "agent_released_short_rate", "notes_complete", "without_notes",
         "fcr_24h", "repeats_24h", "decided_24h", "pending_24h", "callbacks_taken", "credit_points",
         "outlier"]
    )  # fmt: skip
    for r in rows:
        p = r.period
        out.writerow(
            [r.agent, r.name, r.rung, r.missed, p.answered, round(p.talk_seconds, 1), p.cut_offs,
             _num(r.cut_off_rate), p.agent_released_short, _num(r.short_rate), _num(p.notes_complete),
             p.without_notes, _num(p.fcr_24h), p.repeats_24h, p.decided_24h, p.pending_24h,
             p.callbacks_taken, p.credit_points,
             ";".join(f"{k}:{v}" for k, v in sorted(marks.get(r.agent, {}).items()))]
        )  # fmt: skip
    return web.Response(
        text=buffer.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="acd-agents-{key}.csv"'},
    )


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
