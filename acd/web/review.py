"""Calls worth a supervisor's look, with the reasons: notes empty or too short, a call the rep
released after a short talk, a call marked resolved whose customer called again within 24 h.

Each reason is a plain read of what the core recorded (the agent-released flag, the repeat link,
the rep's outcome); none is a verdict of the pages' own.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from acd.store.models import Call, Outcome, table_of
from acd.web.app import Pages

__all__ = ["REASONS", "Flagged", "flagged_calls"]

calls = table_of(Call)
outcomes = table_of(Outcome)
DAY = 86400.0
SCAN = 5000  # answered entries read per page view at most (newest first)

REASONS = {
    "notes": "notes empty or too short",
    "short": "released early by the rep",
    "repeat_after_resolved": "marked resolved, customer called again within 24 h",
}


@dataclass
class Flagged:
    call_id: str
    at: float
    agent: str | None
    agent_name: str | None
    number: str | None
    queue: str
    talk_seconds: float
    reasons: list[str] = field(default_factory=list)
    notes: str | None = None
    disposition: str | None = None
    again_at: float | None = None  # the repeat call's time, for repeat_after_resolved


async def _latest_outcomes(conn: Any, server_id: str, linkedids: list[str]) -> dict[str, Any]:
    latest: dict[str, Any] = {}
    for start in range(0, len(linkedids), 500):
        chunk = linkedids[start : start + 500]
        rows = await conn.execute(
            select(outcomes)
            .where(outcomes.c.server_id == server_id, outcomes.c.linkedid.in_(chunk))
            .order_by(outcomes.c.written_at, outcomes.c.id)
        )
        for row in rows:
            latest[row.linkedid] = row
    return latest


async def flagged_calls(
    pages: Pages, since: float, *, agent: str | None = None, reason: str | None = None, limit: int = 200
) -> list[Flagged]:
    """Flagged answered calls that began since ``since``, newest first."""
    server_id = pages.settings.server_id
    minimum = pages.settings.pages.review_notes_min_chars
    query = (
        select(calls)
        .where(calls.c.server_id == server_id, calls.c.joined_at >= since, calls.c.answered_at.is_not(None))
        .order_by(calls.c.joined_at.desc())
        .limit(SCAN)
    )
    if agent:
        query = query.where(calls.c.agent == agent)
    async with pages.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
        by_call: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            by_call[row.linkedid].append(row)
        repeats = (
            await conn.execute(
                select(calls.c.repeat_of, calls.c.joined_at).where(
                    calls.c.server_id == server_id, calls.c.joined_at >= since, calls.c.repeat_of.is_not(None)
                )
            )
        ).all()
        again: dict[str, float] = {}
        for repeat_of, joined_at in repeats:
            again.setdefault(repeat_of, joined_at)
        latest = await _latest_outcomes(conn, server_id, list(by_call))
    flagged: list[Flagged] = []
    for linkedid, entries in by_call.items():
        answered = max(entries, key=lambda e: e.answered_at)
        outcome = latest.get(linkedid)
        notes = outcome.notes if outcome is not None else None
        item = Flagged(
            call_id=linkedid,
            at=min(e.joined_at for e in entries),
            agent=answered.agent,
            agent_name=answered.agent_name,
            number=answered.caller_num,
            queue=answered.queue,
            talk_seconds=sum(e.talk_seconds for e in entries),
            notes=notes,
            disposition=outcome.disposition if outcome is not None else None,
        )
        if notes is None or len(notes.strip()) < minimum:
            item.reasons.append("notes")
        if any(e.agent_released_short for e in entries):
            item.reasons.append("short")
        repeated = [again[e.call_id] for e in entries if e.call_id in again]
        if (
            repeated
            and outcome is not None
            and outcome.resolved
            and min(repeated) - max(e.ended_at for e in entries) <= DAY
        ):
            item.reasons.append("repeat_after_resolved")
            item.again_at = min(repeated)
        if item.reasons and (reason is None or reason in item.reasons):
            flagged.append(item)
    flagged.sort(key=lambda f: f.at, reverse=True)
    return flagged[:limit]
