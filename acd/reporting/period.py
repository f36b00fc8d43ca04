"""Command-line times: durations (``24h``, ``7d``, ``90m``, ``30s``) and instants (ISO 8601 date or
date-time, UTC unless a zone is given, or epoch seconds); and how far stored records run ahead of
this machine's clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["parse_duration", "parse_instant", "records_ahead"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def parse_duration(text: str) -> float:
    match = _DURATION.match(text.lower())
    if not match:
        raise ValueError(f"{text!r} is not a duration (examples: 24h, 7d, 90m)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_instant(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a date or time (examples: 2026-11-01, 2026-11-01T08:00)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


async def records_ahead(engine: AsyncEngine, now: float) -> float:
    """Seconds by which the newest stored call ends after ``now`` (0 when none does). Records dated
    after this machine's clock (a simulator run faster than real time, as in ``acd demo``) would
    fall outside "the last hour": the report then ends at the newest record instead."""
    from sqlalchemy import func, select

    from acd.store.schema.base import table_of
    from acd.store.schema.records import Call

    calls = table_of(Call)
    async with engine.connect() as conn:
        newest = (await conn.execute(select(func.max(calls.c.ended_at)))).scalar_one_or_none()
    if newest is None or newest <= now:
        return 0.0
    return float(newest) - now
