"""Reads what the report needs from the database, then hands it to the pure computation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.reporting.compute import WINDOWS, CallRow, CreditRow, QueueRules, Report, compute_report
from acd.settings import Settings
from acd.store.models import Call, Outcome, RoutingDecision, SaleCredit, is_personal_queue, table_of

__all__ = ["load_report"]

calls = table_of(Call)
outcomes = table_of(Outcome)
credits = table_of(SaleCredit)
decisions = table_of(RoutingDecision)
_CHUNK = 500


def _row(r: Row[Any]) -> CallRow:
    return CallRow(
        call_id=r.call_id,
        linkedid=r.linkedid,
        queue=r.queue,
        joined_at=r.joined_at,
        ended_at=r.ended_at,
        answered_at=r.answered_at,
        outcome=r.outcome,
        agent=r.agent,
        agent_name=r.agent_name,
        wait_seconds=r.wait_seconds,
        talk_seconds=r.talk_seconds,
        cut_off=bool(r.cut_off),
        agent_released_short=bool(r.agent_released_short),
        callback_of=r.callback_of,
        routing=r.routing,
        caller_key=r.caller_key,
        purged=r.purged_at is not None,
        repeat_frozen=bool(r.repeat_frozen),
        frozen=(r.repeat_24h, r.repeat_7d, r.repeat_30d),
    )


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


async def load_report(
    engine: AsyncEngine, settings: Settings, since: float, until: float, now: float
) -> Report:
    horizon = min(until + max(WINDOWS.values()), now)
    server = settings.server_id
    async with engine.connect() as conn:
        rows = [
            _row(r)
            for r in await conn.execute(
                select(calls).where(
                    calls.c.server_id == server,
                    calls.c.joined_at >= since,
                    calls.c.joined_at <= max(horizon, until),
                )
            )
        ]
        have = {r.call_id for r in rows}
        wanted = sorted({r.callback_of for r in rows if r.callback_of and r.callback_of not in have})
        for chunk in _chunks(wanted):
            rows.extend(
                _row(r)
                for r in await conn.execute(
                    select(calls).where(calls.c.server_id == server, calls.c.call_id.in_(chunk))
                )
            )
        personal = sorted({r.call_id.partition("#")[0] for r in rows if is_personal_queue(r.queue)})
        asked: dict[str, str] = {}
        for chunk in _chunks(personal):
            for d in await conn.execute(
                select(decisions.c.uniqueid, decisions.c.queue).where(
                    decisions.c.server_id == server, decisions.c.uniqueid.in_(chunk)
                )
            ):
                asked[d.uniqueid] = d.queue
        if asked:
            rows = [
                replace(r, asked_queue=asked.get(r.call_id.partition("#")[0]))
                if is_personal_queue(r.queue)
                else r
                for r in rows
            ]
        in_period = sorted({r.linkedid for r in rows if since <= r.joined_at < until})
        notes: dict[str, bool] = {}
        credit_rows: list[CreditRow] = []
        for chunk in _chunks(in_period):
            for o in await conn.execute(
                select(outcomes.c.linkedid, outcomes.c.notes, outcomes.c.notes_purged)
                .where(outcomes.c.server_id == server, outcomes.c.linkedid.in_(chunk))
                .order_by(outcomes.c.written_at, outcomes.c.id)
            ):
                notes[o.linkedid] = bool(o.notes and o.notes.strip()) or bool(o.notes_purged)


        credit_rows = [
            CreditRow(c.linkedid, c.agent, c.agent_name, c.points, c.attribution)
            for c in await conn.execute(
                select(credits).where(
                    credits.c.server_id == server, credits.c.at >= since, credits.c.at < until
                )
            )
        ]

    def rules(queue: str) -> QueueRules:
        q = settings.queue(queue)
        return QueueRules(q.service_level_seconds, q.short_abandon_seconds, q.wrapup_seconds)

    return compute_report(
        rows, since=since, until=until, now=now, rules=rules, notes=notes, credits=credit_rows
    )
