"""Retention: erase personal data (caller numbers, names, keys, accounts, variables, notes, and
the comments supervisors wrote reviewing them) of calls older than a date, keeping every count a
report makes (a review keeps who, when and for which reasons; its comment is emptied).

Repeat contacts are judged from each customer call's stored next contact (``next_contact_at``)
and ``keyed`` flag, which a purge keeps, so the report is the same before and after. Entry rows an
older acd wrote and ``acd db backfill`` has not filled yet have no customer call: for those the
purge first freezes the repeat flags (24 h / 7 d / 30 d) from the data still present, which the
backfill later turns into a next contact.

The summary rollups (acd/reads/rollups.py) of buckets older than both the purge's date and what the
daemon keeps them for are dropped too: nothing would keep them current, and without them a summary
reads the rows, to the same figures.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.core.definitions import WINDOWS
from acd.reads.rollup_build import HORIZON, prune
from acd.settings import Settings
from acd.store.schema.outcomes import call_reviews, outcomes
from acd.store.schema.records import calls, customer_calls

__all__ = ["PurgeResult", "purge", "run_retention"]

log = structlog.get_logger("acd.store.purge")

_CHUNK = 500


def repeat_flags(ended_at: float, later_arrivals: Sequence[float], now: float) -> dict[str, bool | None]:
    """For one answered call: repeat within each window (True/False), or None while still open.
    ``later_arrivals`` are the sorted arrival times of the same caller's other calls."""
    index = bisect.bisect_right(later_arrivals, ended_at)
    following = later_arrivals[index] if index < len(later_arrivals) else None
    flags: dict[str, bool | None] = {}
    for name, width in WINDOWS.items():
        if following is not None and following - ended_at <= width:
            flags[name] = True
        elif now >= ended_at + width:
            flags[name] = False
        else:
            flags[name] = None
    return flags


@dataclass(frozen=True, slots=True)
class PurgeResult:
    calls: int  # entries whose personal data was erased
    notes: int  # outcomes whose notes were erased
    rollups: int = 0  # summary rollup rows dropped


async def purge(engine: AsyncEngine, server_id: str, before: float, now: float) -> PurgeResult:
    erased = await _erase(engine, server_id, before, now)
    async with engine.begin() as conn:
        # Within HORIZON the daemon rebuilds what it reads: those stay, whatever ``before`` says.
        dropped = await prune(conn, server_id, min(before, now - HORIZON))
    return PurgeResult(erased.calls, erased.notes, dropped)


async def _erase(engine: AsyncEngine, server_id: str, before: float, now: float) -> PurgeResult:
    async with engine.begin() as conn:
        doomed = (
            await conn.execute(
                select(
                    calls.c.linkedid,
                    calls.c.caller_key,
                    calls.c.ended_at,
                    calls.c.answered_at,
                    calls.c.leg_counted,
                ).where(
                    calls.c.server_id == server_id, calls.c.joined_at < before, calls.c.purged_at.is_(None)
                )
            )
        ).all()
        if not doomed:
            return PurgeResult(0, 0)
        per_call: dict[str, list[tuple[str | None, float, float | None]]] = defaultdict(list)
        unfilled: set[str] = set()
        for row in doomed:
            per_call[row.linkedid].append((row.caller_key, row.ended_at, row.answered_at))
            if row.leg_counted is None:
                unfilled.add(row.linkedid)
        keys = sorted({row.caller_key for row in doomed if row.caller_key})
        arrivals: dict[str, dict[str, float]] = defaultdict(dict)
        for i in range(0, len(keys), _CHUNK):
            for hit in await conn.execute(
                select(calls.c.caller_key, calls.c.linkedid, calls.c.joined_at).where(
                    calls.c.server_id == server_id, calls.c.caller_key.in_(keys[i : i + _CHUNK])
                )
            ):
                seen = arrivals[hit.caller_key]
                seen[hit.linkedid] = min(seen.get(hit.linkedid, hit.joined_at), hit.joined_at)
        for linkedid, entries in per_call.items():
            if linkedid not in unfilled:
                continue  # its customer call keeps its next contact: nothing to freeze
            key = next((k for k, _, _ in entries if k), None)
            if key is None or not any(answered is not None for _, _, answered in entries):
                continue
            times = sorted(t for other, t in arrivals[key].items() if other != linkedid)
            flags = repeat_flags(max(ended for _, ended, _ in entries), times, now)
            await conn.execute(
                update(calls)
                .where(calls.c.server_id == server_id, calls.c.linkedid == linkedid)
                .values(
                    repeat_24h=flags["24h"],
                    repeat_7d=flags["7d"],
                    repeat_30d=flags["30d"],
                    repeat_frozen=True,
                )
            )
        erased = await conn.execute(
            update(calls)
            .where(calls.c.server_id == server_id, calls.c.joined_at < before, calls.c.purged_at.is_(None))
            .values(
                caller_num=None,
                caller_name=None,
                caller_key=None,
                account=None,
                variables=None,
                purged_at=now,
            )
        )
        await conn.execute(
            update(customer_calls)
            .where(
                customer_calls.c.server_id == server_id,
                customer_calls.c.joined_at < before,
                customer_calls.c.purged_at.is_(None),
            )
            .values(caller_num=None, caller_name=None, caller_key=None, account=None, purged_at=now)
        )
        linkedids = sorted(per_call)
        notes = 0
        for i in range(0, len(linkedids), _CHUNK):
            result = await conn.execute(
                update(outcomes)
                .where(
                    outcomes.c.server_id == server_id,
                    outcomes.c.linkedid.in_(linkedids[i : i + _CHUNK]),
                    outcomes.c.notes.is_not(None),
                )
                # Whitespace-only notes were no notes: the flag keeps "had notes" exactly as before.
                .values(notes=None, notes_purged=func.trim(outcomes.c.notes) != "")
            )
            notes += result.rowcount
            await conn.execute(
                update(call_reviews)
                .where(
                    call_reviews.c.server_id == server_id,
                    call_reviews.c.linkedid.in_(linkedids[i : i + _CHUNK]),
                    call_reviews.c.comment != "",
                )
                .values(comment="")
            )
        return PurgeResult(erased.rowcount, notes)


async def run_retention(
    engine: AsyncEngine,
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    interval: float = 3600.0,
) -> None:
    """The daemon's retention task: every ``interval`` seconds, erase personal data older than
    ``database.retention_days`` (does nothing when it is 0). A failed purge is logged and retried
    at the next interval; it never takes the daemon down."""
    days = settings.database.retention_days
    if not days:
        return
    while True:
        now = clock()
        try:
            result = await purge(engine, settings.server_id, now - days * 86400.0, now)
            if result.calls or result.notes or result.rollups:
                log.info(
                    "retention_purged",
                    calls=result.calls,
                    notes=result.notes,
                    rollups=result.rollups,
                    days=days,
                )
        except Exception as exc:  # the database may be down: the next round tries again
            log.warning("retention_failed", error=type(exc).__name__)
        await asyncio.sleep(interval)
