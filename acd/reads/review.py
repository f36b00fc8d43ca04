"""Calls worth a supervisor's look, each with its reasons: plain reads of what the core and the
outcomes recorded, never a verdict made here.

Reasons (words defined in acd/core/definitions.py):

* ``notes``: an answered call whose notes are empty or trivial (or that has no outcome at all);
* ``short``: the rep released a normally cleared call after a short talk;
* ``repeat_after_resolved``: the rep marked it resolved, and the caller called again within 24 h
  of its end (its stored next contact);
* ``open_order``: an order opened on it is still open more than a day later (judged on the
  caller's clock ``now``, never stored);
* ``credit_disputed``: different points were posted for one sale of its chain (flagged on the call
  whose outcome settles the sale, else the latest one posted).

A call is listed once, with all of its reasons; newest first. Each carries its latest review
(:mod:`acd.store.reviews`); it counts as ``reviewed`` while that review covers every reason it has
now, and ``status`` ("open" or "reviewed") keeps one side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from acd.core.definitions import OPEN_ORDER_REVIEW_SECONDS, RESOLVED_REPEAT_REVIEW_SECONDS
from acd.reads.call_lists import latest_outcomes
from acd.store.reviews import latest_reviews
from acd.store.schema.outcomes import outcomes, sales
from acd.store.schema.records import customer_calls

__all__ = ["REASONS", "STATUSES", "Flagged", "review_flags"]


REASONS = ("notes", "short", "repeat_after_resolved", "open_order", "credit_disputed")
STATUSES = ("open", "reviewed")


@dataclass
class Flagged:
    call_id: str
    at: float
    ended_at: float | None
    agent: str | None
    agent_name: str | None
    number: str | None
    queue: str | None
    talk_seconds: float
    reasons: list[str] = field(default_factory=list)
    notes_state: str | None = None
    notes: str | None = None  # the latest outcome's (a reader who may not see notes drops them)
    disposition: str | None = None
    resolved: bool | None = None
    again_at: float | None = None  # the next contact, for repeat_after_resolved
    again_call: str | None = None
    order: dict[str, Any] | None = None  # ref, left, opened_at, sale_id for open_order
    sale_id: str | None = None  # the disputed sale
    review: dict[str, Any] | None = None  # the latest review: by, at, comment, reasons
    reviewed: bool = False  # that review covers every reason the call has now


async def review_flags(
    conn: AsyncConnection,
    server_id: str,
    since: float,
    until: float,
    *,
    now: float,
    agent: str | None = None,
    reason: str | None = None,
    status: str | None = None,
    linkedid: str | None = None,
    limit: int = 200,
) -> list[Flagged]:
    """Flagged customer calls that began in [since, until) (an open order or a disputed sale: whose
    call began then), optionally of one agent, for one reason, still to review (``status`` "open")
    or reviewed, or the one call ``linkedid``."""
    cc = customer_calls
    flagged: dict[str, Flagged] = {}

    def item(row: Any) -> Flagged:
        found = flagged.get(row.linkedid)
        if found is None:
            found = flagged[row.linkedid] = Flagged(
                call_id=row.linkedid,
                at=row.joined_at,
                ended_at=row.ended_at,
                agent=row.agent,
                agent_name=row.agent_name,
                number=row.caller_num,
                queue=row.queue,
                talk_seconds=row.talk_seconds,
                notes_state=row.notes_state,
                disposition=row.disposition,
                resolved=row.resolved,
            )
        return found

    period = [cc.c.server_id == server_id, cc.c.joined_at >= since, cc.c.joined_at < until]
    if agent is not None:
        period.append(cc.c.agent == agent)
    if linkedid is not None:
        period.append(cc.c.linkedid == linkedid)
    answered = and_(cc.c.outcome == "answered", cc.c.ended_at.is_not(None))
    notes = and_(answered, or_(cc.c.notes_state.is_(None), cc.c.notes_state.in_(("empty", "trivial"))))
    short = and_(answered, cc.c.agent_released_short == true(), cc.c.cut_off != true())
    again = and_(
        answered,
        cc.c.resolved == true(),
        cc.c.next_contact_at.is_not(None),
        cc.c.next_contact_at <= cc.c.ended_at + RESOLVED_REPEAT_REVIEW_SECONDS,
    )
    wanted = {"notes": notes, "short": short, "repeat_after_resolved": again}
    chosen = [cond for name, cond in wanted.items() if reason in (None, name)]
    if chosen:
        rows = await conn.execute(select(cc).where(*period, or_(*chosen)).order_by(cc.c.joined_at.desc()))
        for row in rows:
            target = item(row)
            if (
                reason in (None, "notes")
                and row.outcome == "answered"
                and row.notes_state in (None, "empty", "trivial")
            ):
                target.reasons.append("notes")
            if reason in (None, "short") and row.agent_released_short and not row.cut_off:
                target.reasons.append("short")
            if (
                reason in (None, "repeat_after_resolved")
                and row.resolved
                and row.next_contact_at is not None
                and row.ended_at is not None
                and row.next_contact_at - row.ended_at <= RESOLVED_REPEAT_REVIEW_SECONDS
            ):
                target.reasons.append("repeat_after_resolved")
                target.again_at, target.again_call = row.next_contact_at, row.next_contact_call
    if reason in (None, "open_order", "credit_disputed"):
        await _sales(conn, server_id, period, now, reason, item)
    found = [f for f in flagged.values() if f.reasons]
    reviews = await latest_reviews(conn, server_id, [f.call_id for f in found])
    for f in found:
        f.review = reviews.get(f.call_id)
        f.reviewed = f.review is not None and set(f.reasons) <= set(f.review["reasons"])
    if status is not None:
        found = [f for f in found if f.reviewed == (status == "reviewed")]
    found.sort(key=lambda f: f.at, reverse=True)
    found = found[:limit]
    latest = await latest_outcomes(conn, server_id, [f.call_id for f in found])
    for f in found:
        if f.call_id in latest:
            f.notes = latest[f.call_id].notes
    return found


async def _sales(
    conn: AsyncConnection, server_id: str, period: list[Any], now: float, reason: str | None, item: Any
) -> None:
    """Open orders past a day and disputed sales, flagged on a call of their chain."""
    cc = customer_calls
    conditions = []
    if reason in (None, "open_order"):
        conditions.append(
            and_(sales.c.order_open == true(), sales.c.order_opened_at < now - OPEN_ORDER_REVIEW_SECONDS)
        )
    if reason in (None, "credit_disputed"):
        conditions.append(sales.c.disputed == true())
    found = (await conn.execute(select(sales).where(sales.c.server_id == server_id, or_(*conditions)))).all()
    for sale in found:
        anchor = sale.closer_call or await _latest_outcome_call(conn, server_id, sale)
        if anchor is None:
            continue
        row = (await conn.execute(select(cc).where(cc.c.linkedid == anchor, *period))).first()
        if row is None:
            continue
        target = item(row)
        stale = sale.order_open and sale.order_opened_at is not None
        stale = stale and now - sale.order_opened_at > OPEN_ORDER_REVIEW_SECONDS
        if stale and reason in (None, "open_order") and "open_order" not in target.reasons:
            target.reasons.append("open_order")
            target.order = {
                "ref": sale.order_ref,
                "left": sale.order_left,
                "opened_at": sale.order_opened_at,
                "sale_id": sale.sale_id,
            }
        if sale.disputed and reason in (None, "credit_disputed") and "credit_disputed" not in target.reasons:
            target.reasons.append("credit_disputed")
            target.sale_id = sale.sale_id


async def _latest_outcome_call(conn: AsyncConnection, server_id: str, sale: Any) -> str | None:
    """The call of the sale's latest outcome (an unsettled sale has no closer yet)."""
    chain = select(customer_calls.c.linkedid).where(
        customer_calls.c.server_id == server_id, customer_calls.c.chain_id == sale.chain_id
    )
    found = (
        await conn.execute(
            select(outcomes.c.linkedid)
            .where(outcomes.c.server_id == server_id, outcomes.c.linkedid.in_(chain))
            .order_by(outcomes.c.written_at.desc(), outcomes.c.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return None if found is None else str(found)
