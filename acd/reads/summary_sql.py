"""What each of the summary's figures sums, as SQL: which entry rows count as legs, the queue each
is reported under and its wait, the per-queue settings as CASE expressions, and the GROUP BYs
(:func:`summary_parts`) that :mod:`acd.reads.summary_periods` folds into periods. The figures
themselves are defined in :mod:`acd.reads.summary`'s docstring."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, true

from acd.core.definitions import WINDOWS
from acd.reads.rollups import Part
from acd.settings import Settings
from acd.store.schema.outcomes import sale_credits, sales
from acd.store.schema.records import calls, customer_calls

__all__ = [
    "CALL_SUMS",
    "LEG_SUMS",
    "count_of",
    "flag",
    "leg_rules",
    "not_continued",
    "per_queue",
    "settings_in_sql",
    "summary_parts",
]


LEG_SUMS = (
    "offered",
    "answered",
    "abandoned",
    "abandoned_short",
    "exited",
    "wait_known",
    "wait_unknown",
    "answered_in_sl",
    "wait_sum",
    "wait_n",
    "talk_seconds",
    "cut_offs",
    "agent_released_short",
)
CALL_SUMS = (
    "customer_calls",
    "answered_calls",
    "without_notes",
    "trivial_notes",
    "resolved",
    "callbacks",
    "callbacks_taken",
    "callbacks_of_own_cut_offs",
)


def per_queue(settings: Settings, queue: ColumnElement[Any], name: str) -> ColumnElement[Any]:
    """A queue setting as SQL (the operator's per-queue overrides as a CASE over the queue)."""
    default = getattr(settings.queue_defaults, name)
    overrides = {q: getattr(settings.queue(q), name) for q in settings.queues}
    if not overrides:
        return literal(default)
    return case(overrides, value=queue, else_=literal(default))


def flag(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return case((condition, 1), else_=0)


def count_of(condition: ColumnElement[bool], label: str) -> Any:
    return func.sum(flag(condition)).label(label)


def settings_in_sql(settings: Settings) -> dict[str, Any]:
    """The queue settings the sums depend on (a rollup built under other values is stale), and
    the parts' layout (2: customer calls count their rows; 3: a call continued on another server
    counts as its continuation, and customer calls are a figure; rollups built before lack it)."""
    names = ("short_abandon_seconds", "service_level_seconds")
    return {
        "layout": 3,
        "defaults": [getattr(settings.queue_defaults, n) for n in names],
        "queues": {q: [getattr(settings.queue(q), n) for n in names] for q in sorted(settings.queues)},
    }


def leg_rules() -> tuple[ColumnElement[bool], ColumnElement[Any], ColumnElement[Any]]:
    """Which entry rows count as legs, the queue each is reported under and its wait: a filled row
    by the core's leg columns, an older one on its own (see the module docstring)."""
    c = calls
    filled = c.c.leg_counted.is_not(None)
    queue = func.coalesce(c.c.leg_queue, c.c.queue)
    wait = case((filled, c.c.leg_wait), else_=c.c.wait_seconds)
    counted = or_(c.c.leg_counted == true(), and_(~filled, or_(~c.c.personal, c.c.outcome == "answered")))
    return counted, queue, wait


def not_continued() -> ColumnElement[bool]:
    """A customer call no continuation on another server names (acd/core/origin.py): a call passed
    on over a trunk with ACD_ORIGIN is counted once, as its continuation."""
    later = customer_calls.alias("continuation")
    return ~exists().where(
        later.c.origin_server == customer_calls.c.server_id,
        later.c.origin_linkedid == customer_calls.c.linkedid,
    )


def summary_parts(settings: Settings) -> dict[str, Part]:
    """The summary's GROUP BYs (the module docstring says what each counts)."""
    c = calls
    counted, leg_queue, wait = leg_rules()
    answered = c.c.outcome == "answered"
    known = wait.is_not(None)
    short = and_(
        c.c.outcome == "abandoned", known, wait < per_queue(settings, leg_queue, "short_abandon_seconds")
    )
    in_sl = and_(answered, known, wait <= per_queue(settings, leg_queue, "service_level_seconds"))
    legs = Part(
        "legs",
        time=c.c.joined_at,
        server=c.c.server_id,
        queue=leg_queue,
        agent=c.c.agent,
        agent_name=c.c.agent_name,
        measures=(
            ("offered", literal(1)),
            ("answered", flag(answered)),
            ("abandoned", flag(and_(c.c.outcome == "abandoned", ~short))),
            ("abandoned_short", flag(short)),
            ("exited", flag(c.c.outcome == "exited")),
            ("wait_known", flag(known)),
            ("wait_unknown", flag(~known)),
            ("answered_in_sl", flag(in_sl)),
            ("wait_sum", case((and_(answered, known), wait), else_=0.0)),
            ("wait_n", flag(and_(answered, known))),
            ("talk_seconds", case((answered, c.c.talk_seconds), else_=0.0)),
            ("cut_offs", flag(and_(answered, c.c.cut_off == true()))),
            (
                "agent_released_short",
                flag(and_(answered, c.c.agent_released_short == true(), c.c.cut_off != true())),
            ),
        ),
        where=(counted,),
        count="offered",
    )
    cc = customer_calls
    answered_call = cc.c.outcome == "answered"
    callback = cc.c.callback_of.is_not(None)
    customer = Part(
        "calls",
        time=cc.c.joined_at,
        server=cc.c.server_id,
        queue=cc.c.queue,
        agent=cc.c.agent,
        agent_name=cc.c.agent_name,
        measures=(
            ("customer_calls", literal(1)),
            ("answered_calls", flag(answered_call)),
            (
                "without_notes",
                flag(and_(answered_call, or_(cc.c.notes_state.is_(None), cc.c.notes_state == "empty"))),
            ),
            ("trivial_notes", flag(and_(answered_call, cc.c.notes_state == "trivial"))),
            ("resolved", flag(and_(answered_call, cc.c.resolved == true()))),
            ("callbacks", flag(callback)),
            ("callbacks_taken", flag(and_(callback, answered_call))),
            ("callbacks_of_own_cut_offs", flag(cc.c.callback_result == "original_agent")),
            ("rows", literal(1)),
        ),
        # The breakdowns ride along as extra group columns (NULL where they do not apply).
        extras=(
            ("disposition", case((answered_call, func.coalesce(cc.c.disposition, "none")), else_=None)),
            ("result", case((callback, func.coalesce(cc.c.callback_result, "unknown")), else_=None)),
            ("routing", case((callback, func.coalesce(cc.c.routing, "not_routed")), else_=None)),
        ),
        where=(cc.c.ended_at.is_not(None), not_continued()),
        count="rows",
    )
    again = [
        (
            f"again_{window}",
            flag(and_(cc.c.next_contact_at.is_not(None), cc.c.next_contact_at <= cc.c.ended_at + width)),
        )
        for window, width in WINDOWS.items()
    ]
    repeats = Part(
        "repeats",
        time=cc.c.ended_at,
        server=cc.c.server_id,
        queue=cc.c.queue,
        agent=cc.c.agent,
        agent_name=cc.c.agent_name,
        measures=(("calls", literal(1)), *again),
        where=(
            answered_call,
            not_continued(),
            cc.c.keyed == true(),
            or_(cc.c.repeat_exempt.is_(None), cc.c.repeat_exempt != true()),
        ),
        count="calls",
    )
    sc, s = sale_credits, sales
    credit = Part(
        "credit",
        time=sc.c.at,
        server=sc.c.server_id,
        queue=sc.c.queue,
        agent=sc.c.agent,
        agent_name=sc.c.agent_name,
        measures=(
            ("points", sc.c.points),
            ("shares", literal(1)),
            ("adjusted", flag(sc.c.adjusted == true())),
        ),
        extras=(("attribution", sc.c.attribution),),
        count="shares",
    )
    # Disputed sales: per queue once; per agent for every rep with a share in one.
    disputed_queue = Part(
        "disputed_q",
        time=s.c.at,
        server=s.c.server_id,
        queue=s.c.queue,
        agent=None,
        agent_name=None,
        measures=(("disputed", literal(1)),),
        where=(s.c.disputed == true(),),
        count="disputed",
    )
    disputed_agent = Part(
        "disputed_a",
        time=sc.c.at,
        server=sc.c.server_id,
        queue=None,
        agent=sc.c.agent,
        agent_name=sc.c.agent_name,
        measures=(("disputed", literal(1)),),
        where=(s.c.disputed == true(),),
        source=sc.join(s, and_(s.c.server_id == sc.c.server_id, s.c.sale_id == sc.c.sale_id)),
        count="disputed",
    )
    return {p.name: p for p in (legs, customer, repeats, credit, disputed_queue, disputed_agent)}
